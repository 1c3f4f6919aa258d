"""Generated S3 requests, valid and broken (issue 16): keys, listings, ranges and conditions, multipart sequences and
checksums. No reply is a 5xx, every error is an S3 <Error> that botocore parses, with a code real S3 uses and the
status S3 gives it; what is accepted reads back byte for byte, what is refused changes nothing, and a valid call
afterwards still works.

Each reply is judged against a model of S3's documented behaviour (RFC 9110 for ranges and conditions), not against
homeport's code. Requests are built, signed and parsed by botocore and go out as a real client sends them
(`WireSession`). Bounded for CI: a fixed seed and HOMEPORT_FUZZ_EXAMPLES examples per test (25 by default); set it
higher for a longer run, with `pytest -s` to see the tally of outcomes.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import random
import re
import sys
import xml.etree.ElementTree as ET
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import awscrt.checksums
import google_crc32c
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ClientError, FlexibleChecksumError, MissingDependencyException, ParamValidationError
from botocore.handlers import set_list_objects_encoding_type_url
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from homeport.api.text import carriable
from tests.conftest import boto_client, unique
from tests.inprocess import ASGISession, _Body, request_body

EXAMPLES = int(os.environ.get("HOMEPORT_FUZZ_EXAMPLES", "25"))
TALLY: Counter[str] = Counter()
# What botocore (or http.client, for a header value) raises before sending: nothing reached the server.
CLIENT_SIDE = (
    ParamValidationError,
    FlexibleChecksumError,
    MissingDependencyException,
    UnicodeError,
    ValueError,
    TypeError,
)
MB = 1024 * 1024
MIN_PART = 5 * MB

# The error codes S3 answers with, and the status of each.
S3_ERRORS = {
    "AccessDenied": 403,
    "BadDigest": 400,
    "BucketAlreadyOwnedByYou": 409,
    "BucketNotEmpty": 409,
    "EntityTooLarge": 400,
    "EntityTooSmall": 400,
    "IncompleteBody": 400,
    "InvalidArgument": 400,
    "InvalidBucketName": 400,
    "InvalidChunkSizeError": 400,
    "InvalidDigest": 400,
    "InvalidPart": 400,
    "InvalidPartOrder": 400,
    "InvalidRange": 416,
    "InvalidRequest": 400,
    "KeyTooLongError": 400,
    "MalformedTrailerError": 400,
    "MalformedXML": 400,
    "MethodNotAllowed": 405,
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "NoSuchUpload": 404,
    "PreconditionFailed": 412,
    "SignatureDoesNotMatch": 403,
    "XAmzContentSHA256Mismatch": 400,
}

_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # what h11 refuses in a header value (http.client: CR, LF)


def fuzz(**strategies: st.SearchStrategy[Any]) -> Callable[[Callable[..., None]], Callable[[], None]]:
    """Run the decorated function on generated arguments, a bounded and repeatable number of times."""

    def wrap(function: Callable[..., None]) -> Callable[[], None]:
        return settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(given(**strategies)(function))

    return wrap


# --- the wire, and the judge of every reply ---------------------------------------------------------------------


Judge = Callable[[str, Mapping[str, str], int, Mapping[str, str], bytes], None]


class WireSession(ASGISession):
    """botocore's HTTP session, sending what a real client sends: the path exactly as botocore built and signed it
    (httpx would drop `.` and `..` segments). Not sent: a header value beyond ASCII (http.client sends it as latin-1,
    but the TestClient would hand the app its UTF-8) or with a control character (http.client refuses CR and LF;
    the server's HTTP parser answers the others before the app sees them, and the TestClient has no parser).
    Every reply goes to `judge` before botocore parses it; `sent` holds the last request's headers."""

    def __init__(self, http: Any, judge: Judge, tally: Counter[str]) -> None:
        super().__init__(http)
        self.judge = judge
        self.tally = tally
        self.sent: dict[str, str] = {}
        self.replies = 0

    def send(self, request: AWSPreparedRequest) -> AWSResponse:
        body = request_body(request)
        headers = []
        for name, value in request.headers.items():
            raw = value if isinstance(value, bytes) else str(value).encode("latin-1")
            if not raw.isascii():  # Starlette's TestClient re-encodes header values as UTF-8: not what went out
                raise UnicodeEncodeError("ascii", raw.decode("latin-1"), 0, len(raw), "not sent in-process")
            if _CONTROL.search(raw):  # the server's HTTP parser refuses it before the app sees it (not so in-process)
                raise ValueError(f"a control character in header {name}: {raw!r}")
            headers.append((name.encode("latin-1"), raw))
        self.sent = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in headers}
        built = self.http.build_request(request.method, request.url, headers=headers, content=body)
        built.url._uri_reference = built.url._uri_reference._replace(path=urlsplit(request.url).path)
        try:
            reply = self.http.send(built)
        except Exception as exc:  # the TestClient re-raises what escaped the app: a crash
            raise AssertionError(f"the server raised {exc!r} for {request.method} {request.url!r:.300}") from exc
        self.tally["requests"] += 1
        self.tally[f"status {reply.status_code}"] += 1
        self.judge(request.method, self.sent, reply.status_code, reply.headers, reply.content)
        self.replies += 1
        return AWSResponse(request.url, reply.status_code, dict(reply.headers), _Body(reply.content))

    def attempt(self, call: Callable[..., Any], **params: Any) -> Outcome:
        """`call(**params)`: its reply, its refusal, or None when botocore could not send it."""
        replies = self.replies
        try:
            reply: dict[str, Any] = call(**params)
            return reply
        except ClientError as exc:
            response = exc.response
            return Refused(response["ResponseMetadata"]["HTTPStatusCode"], response["Error"].get("Code", ""), response)
        except CLIENT_SIDE as exc:
            if self.replies != replies:
                raise AssertionError(f"botocore could not read the reply: {exc!r}") from exc
            self.tally[f"not sendable ({type(exc).__name__})"] += 1
            return None


def judge_s3(method: str, sent: Mapping[str, str], status: int, headers: Mapping[str, str], body: bytes) -> None:
    if status < 300 or status == 304:
        return  # a success: botocore parses it (and raises if it cannot)
    code = str(status)  # what botocore reports for a reply without a body (HEAD)
    if method != "HEAD":
        try:
            root: ET.Element | None = ET.fromstring(body)
        except ET.ParseError:
            root = None
        if root is None or root.tag != "Error" or not root.findtext("Code"):
            TALLY["unparseable"] += 1
            raise AssertionError(f"{method} {status}: not an S3 <Error> botocore can read: {body[:300]!r}")
        code = root.findtext("Code") or ""
        TALLY[f"code {code}"] += 1
    else:
        assert body == b"", f"HEAD {status} with a body: {body[:300]!r}"
    if status >= 500:
        TALLY["5xx"] += 1
        raise AssertionError(f"{method} {status} {code}: {body[:300]!r}")
    if method != "HEAD":
        assert S3_ERRORS.get(code) == status, f"{code} with status {status}; S3 answers {S3_ERRORS.get(code)}"


@dataclass(frozen=True)
class Refused:
    status: int
    code: str
    error: dict[str, Any] = field(compare=False)


Outcome = dict[str, Any] | Refused | None  # the reply, the refusal, or None: botocore could not send it


def accepted(outcome: Outcome, what: str = "") -> dict[str, Any]:
    assert isinstance(outcome, dict), f"{what} refused: {outcome}"
    return outcome


def refused(outcome: Outcome, *codes: str, what: str = "") -> Refused:
    assert isinstance(outcome, Refused) and outcome.code in codes, f"{what}: wanted {codes}, got {outcome!r:.500}"
    return outcome


class TracebackLog(logging.Handler):
    """Errors the server logs (an exception it caught and logged is a fault as much as a 500)."""

    def __init__(self, tally: Counter[str]) -> None:
        super().__init__(logging.ERROR)
        self.tally = tally
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def assert_quiet(self) -> None:
        logged = [f"{r.name}: {r.getMessage()}" for r in self.records]
        self.records.clear()
        self.tally["logged errors"] += len(logged)
        assert logged == [], logged


@dataclass
class S3Fuzz:
    s3: Any  # botocore's defaults: listings with EncodingType=url, decoded
    raw: Any  # listings without EncodingType: keys as the XML carries them
    session: WireSession
    bucket: str
    canary: str
    log: TracebackLog
    extra: dict[str, str] = field(default_factory=dict)  # headers added to the next requests, after botocore's

    def still_works(self) -> None:
        """A valid put, get and listing after the example: nothing it sent broke the server."""
        body = b"canary,1\n"
        self.extra.clear()
        accepted(self.session.attempt(self.s3.put_object, Bucket=self.canary, Key="canary", Body=body))
        assert self.s3.get_object(Bucket=self.canary, Key="canary")["Body"].read() == body
        assert [o["Key"] for o in self.s3.list_objects_v2(Bucket=self.canary)["Contents"]] == ["canary"]
        self.log.assert_quiet()


@pytest.fixture(scope="module")
def f(server: Any) -> Iterator[S3Fuzz]:
    log = TracebackLog(TALLY)
    logging.getLogger("homeport").addHandler(log)
    session = WireSession(server.http, judge_s3, TALLY)
    s3, raw = (boto_client("s3", server.url, parameter_validation=False) for _ in range(2))
    raw.meta.events.unregister("before-parameter-build.s3.ListObjectsV2", set_list_objects_encoding_type_url)
    fuzz = S3Fuzz(s3, raw, session, unique("fuzz"), unique("canary"), log)

    def add_headers(request: Any, **_: Any) -> None:
        for name, value in fuzz.extra.items():
            del request.headers[name]
            request.headers[name] = value

    for client in (s3, raw):
        client._endpoint.http_session = session
        client.meta.events.register("before-sign.s3", add_headers)
    s3.create_bucket(Bucket=fuzz.bucket)
    s3.create_bucket(Bucket=fuzz.canary)
    yield fuzz
    logging.getLogger("homeport").removeHandler(log)
    print(f"\nS3 fuzz: {dict(sorted(TALLY.items()))}", file=sys.stderr)  # the figures of a long run (pytest -s)


# --- keys --------------------------------------------------------------------------------------------------------

KEY_PIECES = st.sampled_from(
    [
        *("..", ".", "/", "//", "%", "%2F", "%00", "%zz", "%%", "+", "?", "#", "&", "=", ";", "~", "*", "\\"),
        *("\x00", "\x01", "\x1f", "\x7f", "\r", "\r\n", "\n", "\t", " ", "<", ">", "&amp;", "]]>", '"', "'"),
        *("é", "日本", "\U0001f600", "\ufeff", "\u202e", "\u0085", "\u2028", "\ufffd", "\ufffe", "\uffff"),
        *("\ud800", "\udfff"),  # lone surrogates: botocore cannot encode them into a URL
    ]
)
KEYS = st.one_of(
    st.lists(st.one_of(KEY_PIECES, st.text(min_size=1, max_size=6)), min_size=1, max_size=6).map("".join),
    st.text(min_size=1, max_size=20),
    st.sampled_from(["/", "//", "/lead", "..", ".", "../..", "a/./b", "a/../b", "%2e%2e", "trailing/", "%"]),
    st.sampled_from([1023, 1024, 1025, 1100]).map(lambda n: "k" * n),
    st.sampled_from([341, 342]).map(lambda n: "日" * n),  # 1023 and 1026 bytes of UTF-8
    st.sampled_from([256, 257]).map(lambda n: "\U0001f600" * n),  # 1024 and 1028
)


def xml_view(text: str) -> str:
    """`text` as a listing without EncodingType gives it back: what XML 1.0 cannot write replaced (homeport's
    choice, see homeport.api.text), and line ends normalised by the client's XML parser (S3's own behaviour)."""
    return carriable(text).replace("\r\n", "\n").replace("\r", "\n")


def test_generated_keys_round_trip_or_are_refused(f: S3Fuzz) -> None:
    @fuzz(key=KEYS)
    @example(key="a/../../b")
    @example(key="k" * 1025)
    def one(key: str) -> None:
        f.extra.clear()
        payload = key.encode("utf-8", "surrogatepass")[:64] + b"|payload"
        size = len(key.encode("utf-8", "surrogatepass"))
        put = f.session.attempt(f.s3.put_object, Bucket=f.bucket, Key=key, Body=payload)
        if put is None:
            return f.still_works()
        if size > 1024:
            refused(put, "KeyTooLongError", what="a key over 1024 bytes")
            assert isinstance(f.session.attempt(f.s3.head_object, Bucket=f.bucket, Key=key), Refused)
            return f.still_works()
        assert accepted(put, "put")["ETag"] == f'"{hashlib.md5(payload).hexdigest()}"'
        TALLY["keys stored"] += 1
        assert f.s3.get_object(Bucket=f.bucket, Key=key)["Body"].read() == payload
        assert f.s3.head_object(Bucket=f.bucket, Key=key)["ContentLength"] == len(payload)
        # Listed: decoded by botocore, encoded by hand, and as plain XML.
        assert [o["Key"] for o in f.s3.list_objects_v2(Bucket=f.bucket, Prefix=key)["Contents"]] == [key]
        page = f.s3.list_objects_v2(Bucket=f.bucket, Prefix=key, EncodingType="url")
        assert [unquote(o["Key"]) for o in page["Contents"]] == [key]
        page = f.raw.list_objects_v2(Bucket=f.bucket, Prefix=key)
        assert [o["Key"] for o in page["Contents"]] == [xml_view(key)]
        # Copied, to a key that may be one too long.
        copy = key + "~copy"
        copied = f.session.attempt(
            f.s3.copy_object, Bucket=f.bucket, Key=copy, CopySource={"Bucket": f.bucket, "Key": key}
        )
        if len(copy.encode()) > 1024:
            refused(copied, "KeyTooLongError", what="a copy to a key over 1024 bytes")
        else:
            accepted(copied, "copy")
            assert f.s3.get_object(Bucket=f.bucket, Key=copy)["Body"].read() == payload
            f.s3.delete_object(Bucket=f.bucket, Key=copy)
        f.s3.delete_object(Bucket=f.bucket, Key=key)
        refused(f.session.attempt(f.s3.get_object, Bucket=f.bucket, Key=key), "NoSuchKey", what="deleted")
        refused(f.session.attempt(f.s3.head_object, Bucket=f.bucket, Key=key), "404", what="deleted")
        f.still_works()

    one()


# --- listings ----------------------------------------------------------------------------------------------------

LISTED = [
    "a",
    "a/b",
    "a/b/c",
    "a//d",
    "a/../e",
    "b.txt",
    "%41",
    "sp ace",
    "é/1",
    "é/2",
    "日本/語",
    "\U0001f600",
    "ctl\x01x",
    "cr\rlf",
    "z" * 600,
]
FRAGMENTS = st.sampled_from(["", "a", "a/", "a/b", "/", "//", "..", "é", "日", "%", "ctl", "\x01", "z", "\U0001f600"])
TEXT = st.one_of(FRAGMENTS, st.text(max_size=3))


def s3_listing(keys: list[str], prefix: str, delimiter: str, start_after: str) -> list[tuple[str, bool]]:
    """What S3 lists, in order: (key, False) or (common prefix, True). Keys sort by UTF-8 bytes, which for
    strings without surrogates is code point order."""
    out: list[tuple[str, bool]] = []
    for key in sorted(keys):
        if not key.startswith(prefix) or (start_after and key <= start_after):
            continue
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        if cut < 0:
            out.append((key, False))
        elif not out or out[-1] != (key[: cut + len(delimiter)], True):
            out.append((key[: cut + len(delimiter)], True))
    return out


def test_generated_listings_give_what_s3_lists(f: S3Fuzz) -> None:
    bucket = unique("listed")
    f.s3.create_bucket(Bucket=bucket)
    for key in LISTED:
        f.s3.put_object(Bucket=bucket, Key=key, Body=b"x")

    @fuzz(
        prefix=TEXT,
        delimiter=TEXT,
        start_after=st.one_of(st.none(), st.sampled_from(LISTED), TEXT),
        token=st.one_of(*[st.none()] * 6, st.text(max_size=20), st.sampled_from(["", "=", "eyJ9", "W10=", "%%"])),
        max_keys=st.one_of(st.integers(0, 4), st.sampled_from([-1, 1000, 1001, 2**31 - 1, 2**31, 2**63])),
        encoding=st.sampled_from(["auto", "auto", "url", "raw", "bogus"]),
    )
    def one(
        prefix: str, delimiter: str, start_after: str | None, token: str | None, max_keys: int, encoding: str
    ) -> None:
        f.extra.clear()
        client = f.raw if encoding == "raw" else f.s3
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "Delimiter": delimiter, "MaxKeys": max_keys}
        if start_after is not None:
            params["StartAfter"] = start_after
        if encoding in ("url", "bogus"):
            params["EncodingType"] = "url" if encoding == "url" else "xml"
        # A raw listing's XML cannot carry every key as it is; one with EncodingType=url carries it encoded.
        listed = s3_listing(LISTED, prefix, delimiter, start_after or "")
        want = [(xml_view(name), p) for name, p in listed] if encoding == "raw" else listed
        seen = unquote if encoding == "url" else str
        first = f.session.attempt(
            client.list_objects_v2, **params, **({"ContinuationToken": token} if token is not None else {})
        )
        if first is None:
            return f.still_works()
        if encoding == "bogus" or not 0 <= max_keys <= 2**31 - 1 or token is not None:
            refused(first, "InvalidArgument", what="a bad encoding type, max-keys or continuation token")
            return f.still_works()
        page, position, size = accepted(first), 0, min(max_keys, 1000)
        for _ in range(len(LISTED) + 2):
            keys = [seen(o["Key"]) for o in page.get("Contents", [])]
            prefixes = [seen(p["Prefix"]) for p in page.get("CommonPrefixes", [])]
            count = len(keys) + len(prefixes)
            expected = want[position : position + count]
            assert sorted(keys) == sorted(n for n, p in expected if not p), (keys, want, position)
            assert sorted(prefixes) == sorted(n for n, p in expected if p), (prefixes, want, position)
            assert page["KeyCount"] == count <= size and page["MaxKeys"] in (max_keys, size)
            position += count
            if not page["IsTruncated"] or size == 0:
                break
            assert count == size, "a truncated page is a full page"
            page = client.list_objects_v2(**params, ContinuationToken=page["NextContinuationToken"])
        assert position == (len(want) if size else 0), (position, want)
        f.still_works()

    one()


# --- ranges and conditions ---------------------------------------------------------------------------------------

SIZES = [0, 1, 10, 1000, 70_000]  # 70,000: over homeport's 64 KiB of inline bytes, so a file
NUMBERS = st.one_of(
    st.integers(0, 12), st.integers(0, 1100), st.integers(0, 80_000), st.sampled_from([2**31, 2**63, 10**30])
)
SPANS = st.builds("bytes={}-{}".format, NUMBERS, NUMBERS)
RANGES = st.one_of(
    st.none(),
    SPANS,
    SPANS,
    st.builds("bytes={}-".format, NUMBERS),
    st.builds("bytes=-{}".format, NUMBERS),
    st.builds("bytes={}-{},{}-{}".format, NUMBERS, NUMBERS, NUMBERS, NUMBERS),
    st.sampled_from(
        [
            *("bytes=", "bytes=-", "bytes=--1", "bytes=1-2-3", "bytes=a-b", "bytes=1.5-2", "bytes=-1-2", "0-1"),
            *("bytes=+1-2", "bytes=1_0-20", "bytes=0x1-0x2", "bytes=²-5", "items=0-1", "bytes", "bytes=-+1"),
        ]
    ),
    st.text(max_size=12),
)
ETAGS = st.one_of(st.sampled_from(["right", "bare", "*", '"0123"', "list", "upper"]), st.text(max_size=8))
DATES = st.one_of(
    st.sampled_from([-(10**7), -86400, -1, 0, 1, 86400, 10**9]),
    st.sampled_from(["Mon, 01 Jan 1900 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "yesterday", "0", "-1"]),
)
CONDITIONS = st.fixed_dictionaries(
    {},
    optional={"if-match": ETAGS, "if-none-match": ETAGS, "if-modified-since": DATES, "if-unmodified-since": DATES},
)
IMF_FIXDATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                         r"\d{4} \d\d:\d\d:\d\d GMT", re.ASCII)  # fmt: skip


def s3_range(header: str | None, size: int) -> set[tuple[int, int] | str]:
    """What S3 serves for a Range header (RFC 9110): {(start, stop)} for 206, {"416"}, or {"whole"} for a header
    it ignores (a multi-range, an invalid one, or none). Where S3's choice is not documented, both."""
    if header is None:
        return {"whole"}
    single = re.fullmatch(r"bytes=([0-9]+)-([0-9]*)", header, re.ASCII)
    suffix = re.fullmatch(r"bytes=-([0-9]+)", header, re.ASCII)
    if suffix:
        count = int(suffix[1])
        if count == 0 or size == 0:  # an empty suffix, or any suffix of nothing: unsatisfiable, or ignored
            return {"416", "whole"}
        return {(max(0, size - count), size)}
    if not single:
        return {"whole"}
    start, last = int(single[1]), int(single[2]) if single[2] else None
    if last is not None and last < start:
        return {"whole"}  # an invalid range: ignored
    if start >= size:
        return {"416", "whole"} if size == 0 else {"416"}
    return {(start, size if last is None else min(last + 1, size))}


def s3_conditions(headers: Mapping[str, str], etag: str, modified: int) -> str | None:
    """What the conditions give: a 412, a 304, or None (served), as RFC 9110 §13.2.2 orders them and S3
    documents them."""

    def matches(value: str) -> bool:
        tags = [t.strip() for t in value.split(",")]
        return "*" in tags or etag in tags or etag.strip('"') in tags

    def when(name: str) -> int | None:
        value = headers.get(name)
        return int(parsedate_to_datetime(value).timestamp()) if value and IMF_FIXDATE.fullmatch(value) else None

    if "if-match" in headers:
        if not matches(headers["if-match"]):
            return "412"
    elif (since := when("if-unmodified-since")) is not None and modified > since:
        return "412"
    if "if-none-match" in headers:
        if matches(headers["if-none-match"]):
            return "304"
    elif (since := when("if-modified-since")) is not None and modified <= since:
        return "304"
    return None


def test_generated_ranges_and_conditions(f: S3Fuzz) -> None:
    bucket = unique("ranges")
    f.s3.create_bucket(Bucket=bucket)
    objects = {}
    for size in SIZES:
        data = random.Random(size).randbytes(size)
        f.s3.put_object(Bucket=bucket, Key=f"o{size}", Body=data)
        head = f.s3.head_object(Bucket=bucket, Key=f"o{size}")
        objects[size] = (data, head["ETag"], int(head["LastModified"].timestamp()))

    @fuzz(size=st.sampled_from(SIZES), header=RANGES, conditions=CONDITIONS, method=st.sampled_from(["GET", "HEAD"]))
    @example(size=1000, header="bytes=1_0-20", conditions={}, method="GET")  # not a range: S3 ignores it
    @example(size=1000, header="bytes=0", conditions={}, method="GET")  # no dash: not a range either
    @example(size=10, header="bytes=20-5", conditions={}, method="GET")  # last < first: invalid, so ignored
    @example(size=1000, header="bytes=5-9", conditions={}, method="HEAD")  # HeadObject takes a Range too
    def one(size: int, header: str | None, conditions: dict[str, Any], method: str) -> None:
        data, etag, modified = objects[size]
        values = {"right": etag, "bare": etag.strip('"'), "list": f'"x", {etag}', "upper": etag.upper()}
        f.extra.clear()
        for name, value in conditions.items():
            if isinstance(value, int):
                value = formatdate(modified + value, usegmt=True)
            f.extra[name] = values.get(value, value)
        call = f.s3.get_object if method == "GET" else f.s3.head_object
        outcome = f.session.attempt(
            call, Bucket=bucket, Key=f"o{size}", **({"Range": header} if header is not None else {})
        )
        if outcome is None:
            return f.still_works()
        sent = dict(f.extra)  # what the conditions were, as sent
        verdict = s3_conditions(sent, etag, modified)
        if verdict is not None:
            assert isinstance(outcome, Refused) and outcome.code in (verdict, "PreconditionFailed"), outcome
            assert outcome.status == int(verdict), outcome
            return f.still_works()
        wanted = s3_range(header, size)
        if isinstance(outcome, Refused):
            assert "416" in wanted and outcome.status == 416, (header, size, outcome)
            assert outcome.code == ("InvalidRange" if method == "GET" else "416"), outcome
            return f.still_works()
        body = outcome["Body"].read() if method == "GET" else None
        spans = [w for w in wanted if isinstance(w, tuple)]
        if spans:  # HeadObject: "If the Range is satisfiable, only the ContentLength is affected"
            start, stop = spans[0]
            assert outcome["ContentLength"] == stop - start, (header, size, outcome["ContentLength"])
            if method == "GET":
                assert outcome["ResponseMetadata"]["HTTPStatusCode"] == 206, (header, size)
                assert outcome["ContentRange"] == f"bytes {start}-{stop - 1}/{size}"
                assert body == data[start:stop]
        else:
            assert "whole" in wanted, (header, size, "served; S3 refuses it with 416")
            assert outcome["ResponseMetadata"]["HTTPStatusCode"] == 200 and outcome["ContentLength"] == size
            assert method == "HEAD" or body == data
        f.still_works()

    one()


# --- multipart sequences -----------------------------------------------------------------------------------------

PART_NUMBERS = st.one_of(st.integers(1, 4), st.sampled_from([0, -1, 10000, 10001, 2**31]))
PART_SIZES = st.sampled_from([0, 1, 7, 7, 100, MIN_PART])
COMPLETE_PLANS = st.one_of(
    st.just("all"),
    st.just("all"),
    st.lists(
        st.tuples(PART_NUMBERS, st.sampled_from(["right", "right", "bare", "wrong", "garbage"])),
        max_size=4,
    ),
)
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("create")),
        st.tuples(st.just("upload"), st.integers(0, 2), PART_NUMBERS, PART_SIZES),
        st.tuples(st.just("upload"), st.integers(0, 2), PART_NUMBERS, PART_SIZES),
        st.tuples(st.just("list"), st.integers(0, 2)),
        st.tuples(st.just("complete"), st.integers(0, 2), COMPLETE_PLANS),
        st.tuples(st.just("abort"), st.integers(0, 2)),
    ),
    min_size=1,
    max_size=8,
)
BAD_UPLOAD_IDS = ["nope", "../x", "%00", "A" * 300]


@dataclass
class Upload:
    upload_id: str
    parts: dict[int, bytes] = field(default_factory=dict)
    open: bool = True


def s3_complete(upload: Upload, plan: list[tuple[int, str]]) -> set[str]:
    """The codes S3 may refuse a CompleteMultipartUpload with (each documented fault the plan has); none: done."""
    if not plan:
        return {"MalformedXML"}  # no <Part> at all: not valid against S3's schema
    numbers = [number for number, _ in plan]
    faults = set()
    if numbers != sorted(set(numbers)):
        faults.add("InvalidPartOrder")  # out of order, or a number twice
    for number, etag in plan:
        if not 1 <= number <= 10_000:
            faults.add("InvalidArgument")  # as UploadPart: "Part number must be an integer between 1 and 10000"
        elif number not in upload.parts or etag not in ("right", "bare"):
            faults.add("InvalidPart")
    if not faults and any(len(upload.parts[n]) < MIN_PART for n in numbers[:-1]):
        faults.add("EntityTooSmall")
    return faults


def part_bytes(number: int, size: int) -> bytes:
    return bytes([number % 251]) * size


def etag_for(upload: Upload | None, number: int, kind: str) -> str:
    data = upload.parts.get(number) if upload else None
    if data is None or kind not in ("right", "bare"):
        return '"0123456789abcdef0123456789abcdef"' if kind == "wrong" else "<garbage & more>"
    tag = hashlib.md5(data).hexdigest()
    return f'"{tag}"' if kind == "right" else tag


def test_generated_multipart_sequences(f: S3Fuzz) -> None:
    bucket = unique("multipart")
    f.s3.create_bucket(Bucket=bucket)

    @fuzz(steps=STEPS)
    @example(steps=[("create",), ("upload", 0, 1, MIN_PART), ("upload", 0, 2, 7), ("list", 0), ("complete", 0, "all")])
    @example(steps=[("create",), ("upload", 0, 1, 1), ("complete", 0, [])])
    @example(steps=[("create",), ("upload", 0, 1, 1), ("complete", 0, [(-1, "right")])])
    def one(steps: list[tuple[Any, ...]]) -> None:
        f.extra.clear()
        key = unique("multipart/key")
        uploads: list[Upload] = []
        done: bytes | None = None  # the object the last completion made
        for step in steps:
            upload = uploads[step[1] % len(uploads)] if len(step) > 1 and uploads else None
            upload_id = upload.upload_id if upload else BAD_UPLOAD_IDS[step[1] if len(step) > 1 else 0]
            is_open = upload is not None and upload.open
            ids = {"Bucket": bucket, "Key": key, "UploadId": upload_id}
            if step[0] == "create":
                created = accepted(f.session.attempt(f.s3.create_multipart_upload, Bucket=bucket, Key=key))
                uploads.append(Upload(created["UploadId"]))
            elif step[0] == "upload":
                number, size = step[2], step[3]
                data = part_bytes(number, size)
                outcome = f.session.attempt(f.s3.upload_part, **ids, PartNumber=number, Body=data)
                if not 1 <= number <= 10000:
                    refused(outcome, "InvalidArgument", *(() if is_open else ("NoSuchUpload",)), what=f"part {number}")
                elif not is_open:
                    refused(outcome, "NoSuchUpload", what="a part of a closed upload")
                else:
                    assert accepted(outcome)["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
                    assert upload is not None
                    upload.parts[number] = data
            elif step[0] == "list":
                outcome = f.session.attempt(f.s3.list_parts, **ids)
                if not is_open:
                    refused(outcome, "NoSuchUpload", what="the parts of a closed upload")
                else:
                    assert upload is not None
                    listed = [(p["PartNumber"], p["Size"], p["ETag"]) for p in accepted(outcome).get("Parts", [])]
                    model = sorted(upload.parts.items())
                    assert listed == [(n, len(d), f'"{hashlib.md5(d).hexdigest()}"') for n, d in model]
            elif step[0] == "complete":
                plan: list[tuple[int, str]] = step[2]
                if step[2] == "all":
                    plan = sorted((n, "right") for n in upload.parts) if upload else [(1, "right")]
                parts = [{"PartNumber": n, "ETag": etag_for(upload, n, kind)} for n, kind in plan]
                outcome = f.session.attempt(f.s3.complete_multipart_upload, **ids, MultipartUpload={"Parts": parts})
                if not is_open:  # and what S3 may find wrong with the request before it looks for the upload
                    faults = {"NoSuchUpload"} | ({"MalformedXML"} if not plan else set())
                    faults |= {"InvalidArgument"} if any(not 1 <= n <= 10_000 for n, _ in plan) else set()
                else:
                    assert upload is not None
                    faults = s3_complete(upload, plan)
                if faults:
                    refused(outcome, *faults, what=f"completing with {plan}")
                else:
                    assert upload is not None
                    chosen = [upload.parts[n] for n, _ in plan]
                    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in chosen)).hexdigest()
                    assert accepted(outcome)["ETag"] == f'"{digest}-{len(chosen)}"'
                    upload.open, done = False, b"".join(chosen)
                    TALLY[f"multipart completed ({len(chosen)} parts)"] += 1
            else:
                outcome = f.session.attempt(f.s3.abort_multipart_upload, **ids)
                if is_open:
                    assert upload is not None
                    accepted(outcome, "abort")
                    upload.open = False
                else:
                    refused(outcome, "NoSuchUpload", what="aborting a closed upload")
        listed = f.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        assert sorted(u["UploadId"] for u in listed if u["Key"] == key) == sorted(
            u.upload_id for u in uploads if u.open
        )
        got = f.session.attempt(f.s3.get_object, Bucket=bucket, Key=key)
        if done is None:
            refused(got, "NoSuchKey", what="no upload completed")
        else:
            assert accepted(got)["Body"].read() == done
            f.s3.delete_object(Bucket=bucket, Key=key)
        for upload in uploads:
            if upload.open:
                f.s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload.upload_id)
        f.still_works()

    one()


# --- checksums ---------------------------------------------------------------------------------------------------

ALGORITHMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")
_DIGEST_SIZES = {"crc32": 4, "crc32c": 4, "crc64nvme": 8, "sha1": 20, "sha256": 32, "md5": 16}
NOT_CHECKSUMS = ("x-amz-checksum-type", "x-amz-checksum-algorithm", "x-amz-checksum-mode")


def digest(algorithm: str, data: bytes) -> bytes | None:
    if algorithm == "crc32":
        return zlib.crc32(data).to_bytes(4, "big")
    if algorithm == "crc32c":
        return google_crc32c.value(data).to_bytes(4, "big")
    if algorithm == "crc64nvme":
        return awscrt.checksums.crc64nvme(data).to_bytes(8, "big")
    return hashlib.new(algorithm, data).digest()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


VALUE_KINDS = st.sampled_from(["right", "right", "wrong", "short", "not base64", "AAAAAA=="])
CHECKSUM_SPECS = st.fixed_dictionaries(
    {"body": st.one_of(st.binary(max_size=40), st.just(b"x" * 70_000))},
    optional={
        "algorithm": st.sampled_from(["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME", "crc32", "MD5", "MD4"]),
        "values": st.dictionaries(st.sampled_from(ALGORITHMS), VALUE_KINDS, min_size=1, max_size=2),
        "md5": st.sampled_from(["right", "wrong", "short", "not base64"]),
        "sdk": st.sampled_from(["CRC32", "crc32", "SHA256", "MD4", "sha-1"]),
        "unknown": st.sampled_from(["x-amz-checksum-md4", "x-amz-checksum-crc32x", "x-amz-checksum-"]),
    },
)


def value_of(kind: str, algorithm: str, body: bytes) -> str:
    right = digest(algorithm, body) or bytes(_DIGEST_SIZES[algorithm])
    return {
        "right": b64(right),
        "wrong": b64(bytes(b ^ 0xFF for b in right)),
        "short": b64(right[:-1]),
        "not base64": "not base64!",
    }.get(kind, kind)


def s3_checksums(sent: Mapping[str, str], body: bytes) -> set[str]:
    """The codes S3 refuses an upload with, given the headers that went out; none: stored. Faults in the headers
    are found before the body is read, mismatches after; among several of a kind S3's order is not documented."""
    named = [n for n in sent if n.startswith("x-amz-checksum-") and n not in NOT_CHECKSUMS]
    algorithms = [n.removeprefix("x-amz-checksum-") for n in named]
    invalid = set()
    if any(a not in ALGORITHMS for a in algorithms) or len(named) > 1:
        invalid.add("InvalidRequest")  # "The algorithm type you specified…", "Expecting a single x-amz-checksum-…"
    for name, algorithm in zip(named, algorithms, strict=True):
        if algorithm in ALGORITHMS and _decoded(sent[name], algorithm) is None:
            invalid.add("InvalidRequest")  # "Value for x-amz-checksum-… header is invalid."
    sdk = sent.get("x-amz-sdk-checksum-algorithm")
    if sdk is not None and (sdk.lower() not in ALGORITHMS or sdk.lower() not in algorithms):
        invalid.add("InvalidRequest")  # "Value for x-amz-sdk-checksum-algorithm header is invalid." / "…specified,
        # but no corresponding x-amz-checksum-* or x-amz-trailer headers were found."
    if "content-md5" in sent and _decoded(sent["content-md5"], "md5") is None:
        invalid.add("InvalidDigest")
    if invalid:
        return invalid
    mismatch = set()
    if "content-md5" in sent and _decoded(sent["content-md5"], "md5") != hashlib.md5(body).digest():
        mismatch.add("BadDigest")
    for name, algorithm in zip(named, algorithms, strict=True):
        if _decoded(sent[name], algorithm) != digest(algorithm, body):
            mismatch.add("BadDigest")
    return mismatch


def _decoded(value: str, algorithm: str) -> bytes | None:
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return None
    return raw if len(raw) == _DIGEST_SIZES[algorithm] else None


def test_generated_checksums(f: S3Fuzz) -> None:
    bucket, key = unique("checksums"), "checksummed"
    f.s3.create_bucket(Bucket=bucket)
    f.s3.put_object(Bucket=bucket, Key=key, Body=b"before")
    stored = [b"before"]

    @fuzz(spec=CHECKSUM_SPECS)
    @example(spec={"body": b"hello", "algorithm": "SHA1", "values": {"crc32": "right"}})
    @example(spec={"body": b"hello", "sdk": "CRC32", "values": {"sha256": "right"}})
    def one(spec: dict[str, Any]) -> None:
        f.extra.clear()
        body: bytes = spec["body"]
        params: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": body}
        if "algorithm" in spec:
            params["ChecksumAlgorithm"] = spec["algorithm"]
        for algorithm, kind in spec.get("values", {}).items():
            params[f"Checksum{algorithm.upper()}"] = value_of(kind, algorithm, body)
        if "md5" in spec:
            params["ContentMD5"] = value_of(spec["md5"], "md5", body)
        if "sdk" in spec:
            f.extra["x-amz-sdk-checksum-algorithm"] = spec["sdk"]
        if "unknown" in spec:
            f.extra[spec["unknown"]] = b64(bytes(4))
        outcome = f.session.attempt(f.s3.put_object, **params)
        if outcome is None:
            return f.still_works()
        sent = dict(f.session.sent)
        f.extra.clear()
        faults = s3_checksums(sent, body)
        if faults:
            refused(outcome, *faults, what=f"checksum headers {sent}")
        else:
            accepted(outcome, f"checksum headers {sent}")
            stored[0] = body
        # Refused: nothing changed. Accepted: the bytes, and the checksum sent, verified, kept and given back.
        got = f.s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        assert got["Body"].read() == stored[0]
        if not faults:
            for name in sent:
                algorithm = name.removeprefix("x-amz-checksum-")
                if name.startswith("x-amz-checksum-") and algorithm in ALGORITHMS:
                    assert got.get(f"Checksum{algorithm.upper()}") == sent[name]
        f.still_works()

    one()
