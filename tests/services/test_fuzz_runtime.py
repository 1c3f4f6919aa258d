"""Generated InvokeEndpoint and InvokeEndpointAsync requests, valid and broken (issue 16), against a real XGBoost
endpoint: no reply is a 5xx, every error is a runtime JSON error botocore parses, with the code and status
SageMaker gives it, and a valid call afterwards still works (for the async API: its result lands).

What SageMaker answers, and so what is asserted:
- A request that breaks the API's constraints (the lengths and patterns of botocore's model, which botocore
  itself does not check, the 6 MB body limit, an endpoint or variant that does not exist) is refused by the
  front door: 400 ValidationError, before any model sees it.
- Anything else goes to the model container, and whatever non-2xx it answers comes back as 424 ModelError
  carrying its OriginalStatusCode: that is SageMaker's mapping of the container's failure, not a failure of the
  service. The container here is homeport's own built-in XGBoost one, so its answers are asserted too: bad
  input is the caller's fault (400, 406, 415), never a 5xx of the container, and a clean CSV of the model's
  width gets the model's scores.
- The 5xx codes of the runtime API (InternalFailure 500, ServiceUnavailable 503, InternalDependencyException
  530) mean the service failed; none is acceptable for a healthy endpoint, whatever the request held.

Bounded for CI: a fixed seed and HOMEPORT_FUZZ_EXAMPLES examples per test (25 by default); `pytest -s` prints the
tally of outcomes.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError
from hypothesis import example
from hypothesis import strategies as st

from tests.conftest import ROLE, XGBOOST_IMAGE, assert_scores, boto_client, csv_rows, deploy, unique, wait_in_service
from tests.services.test_fuzz_s3 import Outcome, Refused, TracebackLog, WireSession, fuzz

TALLY: Counter[str] = Counter()
MAX_BODY = 6 * 1024 * 1024  # InvokeEndpoint's Body: at most 6291456 bytes
FEATURES = 4  # the width of tests.conftest.xgb_model's rows

# The runtime API's error codes and their statuses (botocore's sagemaker-runtime model).
RUNTIME_ERRORS = {
    "ValidationError": 400,
    "ModelError": 424,
    "ModelNotReadyException": 429,
    "InternalFailure": 500,
    "ServiceUnavailable": 503,
    "InternalDependencyException": 530,
}


def judge_runtime(method: str, sent: Mapping[str, str], status: int, headers: Mapping[str, str], body: bytes) -> None:
    if status < 300:
        return
    code = headers.get("x-amzn-errortype", "").split(":")[0]
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not code or not isinstance(doc.get("message"), str):
        TALLY["unparseable"] += 1
        raise AssertionError(f"{status}: not a runtime error botocore reads: {dict(headers)} {body[:300]!r}")
    TALLY[f"code {code}"] += 1
    if status >= 500:
        TALLY["5xx"] += 1
    assert status < 500, f"{status} {code}: {doc}"
    assert RUNTIME_ERRORS.get(code) == status, (
        f"{code} with status {status}; SageMaker answers {RUNTIME_ERRORS.get(code)}"
    )
    if code == "ModelError":
        original = doc.get("OriginalStatusCode")
        TALLY[f"model answered {original}"] += 1
        # homeport's XGBoost container refuses bad input as the caller's fault; a 5xx would be it failing.
        assert isinstance(original, int) and 400 <= original < 500, doc
        assert isinstance(doc.get("OriginalMessage"), str) and doc.get("LogStreamArn"), doc


# --- SageMaker's constraints on the requests (botocore's sagemaker-runtime model) ----------------------------

NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")  # EndpointName, TargetVariant: at most 63
INFERENCE_ID = re.compile(r"[^ \t\n\x0b\f\r][\x20-\x7e]*")  # \A\S[\p{Print}]*\z, 1 to 64 (Java's classes: ASCII)
INPUT_LOCATION = re.compile(r"(https|s3)://([^/]+)/?(.*)", re.DOTALL)  # 1 to 1024
EXTENSION = re.compile(r"(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+")  # 1 to 512
FILENAME = re.compile(r"(?!.*\..*\.)[a-zA-Z0-9][a-zA-Z0-9-_.]*")  # 1 to 32


def ascii_text(value: str | None, limit: int = 1024) -> bool:
    return value is None or (len(value) <= limit and value.isascii())


def name_ok(value: str, limit: int = 63) -> bool:
    return len(value) <= limit and NAME.fullmatch(value) is not None


def inference_id_ok(value: str | None) -> bool:
    return value is None or (1 <= len(value) <= 64 and INFERENCE_ID.fullmatch(value) is not None)


def as_received(params: dict[str, Any], outcome: Outcome, keep: str = "") -> bool:
    """The parameters as SageMaker reads them: a header's value without the blanks around it (HTTP's OWS, which
    servers and the signer strip). An empty header goes out as one, and whether SageMaker reads it as absent or as
    "" (too short, for most) is not documented: a ValidationError for it is right, and otherwise the request is
    judged without it. True: it was that ValidationError."""
    for name, value in params.items():
        if name != "EndpointName" and isinstance(value, str):
            params[name] = value.strip(" \t")
    blank = [name for name, value in params.items() if value == "" and name not in ("EndpointName", keep)]
    for name in blank:
        del params[name]
    return bool(blank) and isinstance(outcome, Refused) and outcome.code == "ValidationError"


# --- strategies ----------------------------------------------------------------------------------------------

ROWS = st.lists(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False, width=32), min_size=FEATURES, max_size=FEATURES),
    min_size=1,
    max_size=5,
)
TOKENS = st.sampled_from(["1", "-0", "nan", "NaN", "inf", "-inf", "1e308", "1e400", "", " 1", "0x10", "1_0", "1e"])
JUNK_ROWS = st.lists(st.lists(TOKENS, min_size=0, max_size=6).map(",".join), min_size=1, max_size=4).map(
    lambda lines: "\n".join(lines).encode()
)
BODIES = st.one_of(
    ROWS.map(lambda rows: ("clean", rows)),
    ROWS.map(lambda rows: ("clean", rows)),
    JUNK_ROWS.map(lambda body: ("raw", body)),
    st.binary(max_size=200).map(lambda body: ("raw", body)),
    st.sampled_from(
        [
            b"",
            b"   \n",
            b"\xff\xfe\xfd",
            b"1,2,\xff,4",
            b"\x00" * 64,
            b"[" * 10_000 + b"]" * 10_000,
            b'{"a":' * 5000 + b"1" + b"}" * 5000,
            b'{"instances": [[1, 2, 3, 4]]}',
            b"0 1:1 2:2 3:3 4:4",
            b"1:nan 2:inf",
            b"9:1",
            b"-1:3",
            b"a:b c",
            b"1," * 100_000,
        ]
    ).map(lambda body: ("raw", body)),
)
MEDIA = st.sampled_from(
    [
        *("text/csv", "text/csv; charset=utf-8", "TEXT/CSV", " text/csv ", "text/libsvm", "text/x-libsvm"),
        *("application/json", "application/jsonlines", "application/x-npy", "image/png", "*/*", "", ";"),
        *("text/csv, application/json", "application/json;q=0.5", "text/csv;;;", "\x00", "x" * 1025),
    ]
)
PRINTABLE = st.one_of(
    *[st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)] * 3,
    st.text(st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=8),
)
HEADER = st.one_of(st.none(), st.none(), MEDIA, PRINTABLE, st.text(max_size=8))
INVOKE = st.fixed_dictionaries(
    {"body": BODIES},
    optional={
        "ContentType": HEADER,
        "Accept": HEADER,
        "CustomAttributes": st.one_of(PRINTABLE, st.just("c" * 1025), st.text(max_size=8)),
        "TargetVariant": st.one_of(
            *[st.none()] * 3, st.just("v1"), st.sampled_from(["v2", "", "-v1", "v1-", "a" * 64, "v\x001"])
        ),
        "InferenceId": st.one_of(
            st.none(), st.just("id-1"), st.sampled_from(["", " lead", "a" * 65, "tab\tid", "\x7f"]), PRINTABLE
        ),
        "EndpointName": st.one_of(
            *[st.none()] * 4, st.sampled_from(["", "no-such-endpoint", "..", "a" * 64, "-lead", "a/b", "a%2Fb", "é"])
        ),
    },
)


@dataclass
class RuntimeFuzz:
    runtime: Any
    session: WireSession
    endpoint: str
    async_endpoint: str
    bucket: str
    model: dict[str, Any]
    log: TracebackLog
    s3: Any

    def still_works(self) -> None:
        x = self.model["x"][:3]
        reply = self.runtime.invoke_endpoint(EndpointName=self.endpoint, ContentType="text/csv", Body=csv_rows(x))
        assert_scores(reply["Body"].read(), self.model, x)
        self.log.assert_quiet()


def deploy_async(sm: Any, model_url: str, bucket: str) -> str:
    model = unique("fuzz-model")
    sm.create_model(
        ModelName=model, PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": model_url}, ExecutionRoleArn=ROLE
    )
    config = unique("fuzz-async-config")
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {"VariantName": "v1", "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
        AsyncInferenceConfig={
            "OutputConfig": {"S3OutputPath": f"s3://{bucket}/results/", "S3FailurePath": f"s3://{bucket}/failures/"}
        },
    )
    endpoint = unique("fuzz-async")
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    wait_in_service(sm, endpoint)
    return endpoint


@pytest.fixture(scope="module")
def r(server: Any, sm: Any, s3: Any, xgb_model: dict[str, Any]) -> Iterator[RuntimeFuzz]:
    log = TracebackLog(TALLY)
    logging.getLogger("homeport").addHandler(log)
    bucket = unique("fuzz-async")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="in.csv", Body=csv_rows(xgb_model["x"][:2]))
    runtime = boto_client("sagemaker-runtime", server.url, parameter_validation=False)
    session = runtime._endpoint.http_session = WireSession(server.http, judge_runtime, TALLY)
    endpoint = deploy(sm, xgb_model["url"])["endpoint"]
    async_endpoint = deploy_async(sm, xgb_model["url"], bucket)
    fuzz = RuntimeFuzz(runtime, session, endpoint, async_endpoint, bucket, xgb_model, log, s3)
    yield fuzz
    for name in (fuzz.endpoint, fuzz.async_endpoint):
        sm.delete_endpoint(EndpointName=name)
    logging.getLogger("homeport").removeHandler(log)
    print(f"\nruntime fuzz: {dict(sorted(TALLY.items()))}", file=sys.stderr)  # the figures of a long run (pytest -s)


# --- InvokeEndpoint ------------------------------------------------------------------------------------------


def container_verdict(content_type: str | None, accept: str | None, kind: str) -> str | None:
    """What homeport's XGBoost container must answer, where the request alone decides it: "415" for a content type
    it does not read, "406" for an Accept it cannot give, "200" for a clean CSV; None: the body decides (a
    prediction, or 400)."""
    media = (content_type or "").split(";", 1)[0].strip().lower() or "text/libsvm"
    if media not in ("text/csv", "text/libsvm", "text/x-libsvm"):
        return "415"
    wanted = [(item.split(";", 1)[0].strip().lower() or None) for item in (accept or "").split(",")]
    if (
        accept
        and accept.strip()
        and not any(w in ("text/csv", "application/json", "application/jsonlines", "*/*") for w in wanted)
    ):
        return "406"
    return "200" if kind == "clean" and media == "text/csv" else None


def test_generated_invocations(r: RuntimeFuzz) -> None:
    @fuzz(spec=INVOKE)
    @example(spec={"body": ("raw", b"1" * MAX_BODY), "ContentType": "text/csv"})  # the most SageMaker takes
    @example(spec={"body": ("raw", b"1" * (MAX_BODY + 1)), "ContentType": "text/csv"})  # one byte more
    @example(spec={"body": ("clean", [[1, 2, 3, 4]]), "ContentType": "c" * 1025})
    @example(spec={"body": ("clean", [[1, 2, 3, 4]]), "ContentType": "text/csv", "InferenceId": "i" * 65})
    @example(spec={"body": ("clean", [[1, 2, 3, 4]]), "ContentType": "text/csv", "TargetVariant": ""})
    def one(spec: dict[str, Any]) -> None:
        kind, content = spec["body"]
        rows = np.array(content, dtype=np.float32) if kind == "clean" else None
        body = csv_rows(rows) if rows is not None else content
        params = {k: v for k, v in spec.items() if k != "body" and v is not None}
        params.setdefault("EndpointName", r.endpoint)
        outcome = r.session.attempt(r.runtime.invoke_endpoint, **params, Body=body)
        if outcome is None or as_received(params, outcome):
            return r.still_works()
        invalid = (
            not name_ok(params["EndpointName"])
            or params["EndpointName"] != r.endpoint  # no such endpoint
            or len(body) > MAX_BODY
            or not all(ascii_text(params.get(h)) for h in ("ContentType", "Accept", "CustomAttributes"))
            or ("TargetVariant" in params and params["TargetVariant"] != "v1")  # no such variant, or not a name
            or not inference_id_ok(params.get("InferenceId"))
        )
        if invalid:
            assert isinstance(outcome, Refused) and (outcome.status, outcome.code) == (400, "ValidationError"), (
                f"SageMaker refuses {params!r:.300} ({len(body)} bytes) with ValidationError; got {outcome!r:.300}"
            )
            return r.still_works()
        sent = r.session.sent  # what botocore made of the parameters
        verdict = container_verdict(sent.get("content-type"), sent.get("accept"), kind)
        if isinstance(outcome, Refused):
            assert outcome.code == "ModelError", outcome  # judge_runtime: with a 4xx of the container's
            original = outcome.error["OriginalStatusCode"]
            assert verdict in (None, str(original)), (params, len(body), outcome)
        else:
            TALLY["invoked"] += 1
            assert verdict not in ("415", "406"), (params, "served; the container refuses it with", verdict)
            assert outcome["InvokedProductionVariant"] == "v1"
            reply = outcome["Body"].read()
            if verdict == "200" and rows is not None and params.get("Accept") in (None, "text/csv", "*/*"):
                assert_scores(reply, r.model, rows)
        r.still_works()

    one()


# --- InvokeEndpointAsync -------------------------------------------------------------------------------------

ASYNC = st.fixed_dictionaries(
    {
        "InputLocation": st.one_of(
            st.just("s3://{bucket}/in.csv"),
            st.just("s3://{bucket}/in.csv"),
            st.sampled_from(
                [
                    *("s3://{bucket}/in.csv", "s3://{bucket}/in.csv", "s3://{bucket}/in.csv", "s3://{bucket}/in.csv"),
                    *(
                        "https://{bucket}.s3.us-east-1.amazonaws.com/in.csv",
                        "https://s3.us-east-1.amazonaws.com/{bucket}/in.csv",
                    ),
                    *(
                        "s3://{bucket}/missing",
                        "s3://no-such-bucket-fuzz/x",
                        "s3://",
                        "s3://{bucket}",
                        "s3://{bucket}/",
                    ),
                    *("s3://{bucket}//in.csv", "s3://{bucket}/../in.csv", "s3://UPPER/x", "s3://a/b", "http://x/y"),
                    *("file:///etc/passwd", "../../etc/passwd", "", "s3://{bucket}/" + "k" * 1100, "https://"),
                    *("https://example.com/x", "s3://{bucket}/in.csv?versionId=1", "s3://{bucket}/%00"),
                ]
            ),
            PRINTABLE,
        ),
    },
    optional={
        "ContentType": HEADER,
        "Accept": HEADER,
        "CustomAttributes": st.one_of(PRINTABLE, PRINTABLE, st.just("c" * 1025)),
        "InferenceId": st.one_of(st.just("id-1"), st.sampled_from(["", " lead", "a" * 65, "\x7f"]), PRINTABLE),
        "RequestTTLSeconds": st.one_of(st.sampled_from([60, 3600, 21600]), st.sampled_from([0, 59, 21601, -1, 2**31])),
        "InvocationTimeoutSeconds": st.one_of(st.sampled_from([1, 60, 3600]), st.sampled_from([0, 3601, -5])),
        "S3OutputPathExtension": st.one_of(
            *[st.sampled_from(["daily/2026", "a/b/c", "x!_.*'()-"])] * 3,
            st.sampled_from(["s3:x", "https:x", "../up", "", "/", "a" * 513, "sp ace"]),
            PRINTABLE,
        ),
        "Filename": st.one_of(
            *[st.sampled_from(["out.csv", "result", "a-b_c.json"])] * 3,
            st.sampled_from(["a.b.c", "", ".hidden", "a" * 33, "-x"]),
            PRINTABLE,
        ),
    },
)


def test_generated_async_invocations(r: RuntimeFuzz) -> None:
    @fuzz(spec=ASYNC)
    @example(spec={"InputLocation": "s3://"})
    @example(spec={"InputLocation": "s3://{bucket}"})
    @example(spec={"InputLocation": "s3://{bucket}/in.csv", "CustomAttributes": "c" * 1025})
    def one(spec: dict[str, Any]) -> None:
        params: dict[str, Any] = {
            k: v.replace("{bucket}", r.bucket) if isinstance(v, str) else v for k, v in spec.items()
        }
        outcome = r.session.attempt(r.runtime.invoke_endpoint_async, EndpointName=r.async_endpoint, **params)
        if outcome is None or as_received(params, outcome, keep="InputLocation"):
            return r.still_works()
        location, extension, name = params["InputLocation"], params.get("S3OutputPathExtension"), params.get("Filename")
        invalid = (
            not 1 <= len(location) <= 1024
            or not INPUT_LOCATION.fullmatch(location)
            or not all(ascii_text(params.get(h)) for h in ("ContentType", "Accept", "CustomAttributes"))
            or not inference_id_ok(params.get("InferenceId"))
            or not 60 <= params.get("RequestTTLSeconds", 60) <= 21600
            or not 1 <= params.get("InvocationTimeoutSeconds", 1) <= 3600
            or not (extension is None or (1 <= len(extension) <= 512 and EXTENSION.fullmatch(extension)))
            or not (name is None or (1 <= len(name) <= 32 and FILENAME.fullmatch(name)))
        )
        if invalid:
            assert isinstance(outcome, Refused) and (outcome.status, outcome.code) == (400, "ValidationError"), (
                f"SageMaker refuses {params!r:.300} with ValidationError; got {outcome!r:.300}"
            )
            return r.still_works()
        readable = location in (
            f"s3://{r.bucket}/in.csv",
            f"https://{r.bucket}.s3.us-east-1.amazonaws.com/in.csv",
            f"https://s3.us-east-1.amazonaws.com/{r.bucket}/in.csv",
        )
        if isinstance(outcome, Refused):
            # An InputLocation of the right form naming nothing: homeport looks now, SageMaker when it runs it.
            assert not readable and (outcome.status, outcome.code) == (400, "ValidationError"), (params, outcome)
            return r.still_works()
        TALLY["queued"] += 1
        assert outcome["ResponseMetadata"]["HTTPStatusCode"] == 202
        assert outcome["OutputLocation"].startswith(f"s3://{r.bucket}/results/" + (extension or "").strip("/"))
        assert outcome["FailureLocation"].startswith(f"s3://{r.bucket}/failures/")
        if name is not None:
            assert outcome["OutputLocation"].endswith("/" + name)
        if "InferenceId" in params:
            assert outcome["InferenceId"] == params["InferenceId"]
        r.still_works()

    one()
    # The queue took all that; a valid request after it is still answered.
    reply = r.runtime.invoke_endpoint_async(
        EndpointName=r.async_endpoint, InputLocation=f"s3://{r.bucket}/in.csv", ContentType="text/csv"
    )
    bucket, _, key = reply["OutputLocation"].removeprefix("s3://").partition("/")
    deadline = time.monotonic() + 60
    while True:
        try:
            result = r.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            break
        except ClientError:
            assert time.monotonic() < deadline, "the valid request's result never landed"
            time.sleep(0.2)
    assert_scores(result, r.model, r.model["x"][:2])
