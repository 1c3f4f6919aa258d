"""Generated requests for every operation homeport implements, valid and broken, from botocore's service models
(issue 16): no reply is a 5xx, botocore parses every reply, and a valid call afterwards still works.

The strategies follow each operation's input shape, with the values that break servers mixed in: missing and
mistyped members, huge and unicode strings, lone surrogates and NUL, NaN, ±Inf and huge numbers. An operation
added to the API is covered by the same generator without new test code. Bounded for CI (a fixed seed, a few
examples per operation); HOMEPORT_FUZZ_EXAMPLES raises the count for a longer run.
"""

from __future__ import annotations

import datetime
import os
import sys
from collections import Counter
from typing import Any

import botocore.model
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from botocore.model import Shape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeport.api import shapes
from homeport.api.app import autoscaling_handlers, cloudwatch_handlers, logs_handlers, sagemaker_handlers
from tests.conftest import boto_client

EXAMPLES = int(os.environ.get("HOMEPORT_FUZZ_EXAMPLES", "25"))
MAX_DEPTH = 4
# What botocore raises before sending when it cannot serialize a value: nothing reached the server.
CLIENT_SIDE = (ParamValidationError, TypeError, ValueError, AttributeError, UnicodeError, OverflowError, RuntimeError)

NASTY_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "nul\x00byte",
        "\udfff",
        "a\ud800b",
        "\u202e",
        "漢字",
        "\U0001f600",
        "x" * 5000,
        "../../etc",
        "%00",
    ]
)
NASTY_NUMBERS = st.sampled_from([0, -1, 2**31, 2**63, 10**30, float("nan"), float("inf"), -float("inf"), 1e308, -0.0])


def text_for(shape: Shape) -> st.SearchStrategy[str]:
    """Strings the member's pattern and length take (so that a request gets as far as the service), or not."""
    if shape.enum:
        return st.sampled_from(shape.enum)
    low, high = shape.metadata.get("min", 0), min(shape.metadata.get("max", 40), 40)
    pattern = shape.metadata.get("pattern")
    compiled = shapes._compiled(pattern) if pattern else None
    if compiled is None:
        return st.text(min_size=low, max_size=max(low, high))
    return st.from_regex(compiled, fullmatch=True).filter(lambda text: low <= len(text) <= max(low, high))


def value_for(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """A value shaped as `shape`, now and then one of the values that break servers, or a value of a wrong type."""
    kind = shape.type_name
    numeric = kind in ("integer", "long", "float", "double", "timestamp")
    nasty: st.SearchStrategy[Any] = NASTY_NUMBERS if numeric else NASTY_TEXT
    wrong = st.one_of(st.none(), NASTY_TEXT, NASTY_NUMBERS, st.booleans(), st.just([]), st.just({}))
    if depth >= MAX_DEPTH:
        return wrong
    if kind == "structure":
        members = shape.members
        required = {name: value_for(members[name], depth + 1) for name in shape.required_members}
        optional = {name: value_for(m, depth + 1) for name, m in members.items() if name not in required}
        right: st.SearchStrategy[Any] = st.fixed_dictionaries(required, optional=optional)
    elif kind == "list":
        right = st.lists(value_for(shape.member, depth + 1), max_size=3)
    elif kind == "map":
        right = st.dictionaries(text_for(shape.key), value_for(shape.value, depth + 1), max_size=3)
    elif kind == "string":
        right = text_for(shape)
    elif kind in ("integer", "long"):
        low, high = shape.metadata.get("min", -5), shape.metadata.get("max", 100)
        right = st.integers(min_value=int(low), max_value=int(max(low, min(high, 10**6))))
    elif kind in ("float", "double"):
        right = st.floats(min_value=-100, max_value=100)
    elif kind == "boolean":
        right = st.booleans()
    elif kind == "timestamp":
        right = st.datetimes(
            min_value=datetime.datetime(2000, 1, 1),
            max_value=datetime.datetime(2100, 1, 1),
            timezones=st.just(datetime.UTC),
        )
    elif kind == "blob":
        right = st.binary(max_size=32)
    else:
        right = wrong
    if depth == 0:
        return right  # the request itself: botocore sends nothing that is not a structure
    # Mostly well-formed, so that a request gets past its first member and the odd value meets the service.
    return st.one_of(*[right] * 12, nasty, wrong)


def operations(server: Any) -> list[tuple[str, str]]:
    services = server.server.services
    found = []
    for service, handlers in (
        ("sagemaker", sagemaker_handlers(services)),
        ("cloudwatch", cloudwatch_handlers(services)),
        ("application-autoscaling", autoscaling_handlers(services)),
        ("logs", logs_handlers(services)),
    ):
        found += [(service, operation) for operation in sorted(handlers)]
    return found


@pytest.fixture(scope="module")
def json_protocol() -> Any:
    # CloudWatch over JSON: botocore's CBOR serializer cannot encode a lone surrogate on the client's side.
    saved = botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS
    botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = ("json", *saved)
    yield
    botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = saved


def fuzz(
    name: str,
    call: Any,
    strategy: st.SearchStrategy[Any],
    failures: list[str],
    tally: Counter[str],
    examples: int = EXAMPLES,
) -> None:
    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(params=strategy)
    def one(params: Any) -> None:
        if not isinstance(params, dict):
            return
        try:
            call(**params)  # a reply botocore cannot parse raises here, and fails the test
            tally["accepted"] += 1
        except ClientError as exc:
            status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
            tally[f"{status // 100}xx"] += 1
            if status >= 500:
                failures.append(f"{name} {status} {exc.response['Error']}: {params!r:.300}")
        except CLIENT_SIDE:
            tally["not sendable"] += 1  # botocore could not serialize it: nothing reached the server

    one()


@pytest.mark.timeout(480)  # every operation of four services: 70 s alone, twice that beside another worker
def test_every_operation_survives_generated_requests(
    server: Any, json_protocol: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients = {
        s: boto_client(s, server.url, parameter_validation=False)
        for s in ("sagemaker", "cloudwatch", "application-autoscaling", "logs")
    }
    failures: list[str] = []
    tally: Counter[str] = Counter()
    for service, operation in operations(server):
        client = clients[service]
        shape = client.meta.service_model.operation_model(operation).input_shape
        strategy = value_for(shape) if shape is not None else st.just({})
        fuzz(f"{service}.{operation}", getattr(client, botocore.xform_name(operation)), strategy, failures, tally)
    print(f"generated requests: {dict(tally)}", file=sys.stderr)  # the figures of a long run (pytest -s)
    assert failures == []
    # What was stored on the way can still be read back, over every protocol.
    assert "Models" in clients["sagemaker"].list_models()
    assert "ScalableTargets" in clients["application-autoscaling"].describe_scalable_targets(
        ServiceNamespace="sagemaker"
    )
    for protocol in ("json", "smithy-rpc-v2-cbor", "query"):
        monkeypatch.setattr(botocore.model, "PRIORITY_ORDERED_SUPPORTED_PROTOCOLS", (protocol,))
        cloudwatch = boto_client("cloudwatch", server.url)
        assert "Metrics" in cloudwatch.list_metrics()
        assert "MetricAlarms" in cloudwatch.describe_alarms()
        assert "AlarmHistoryItems" in cloudwatch.describe_alarm_history()


@pytest.mark.parametrize("protocol", ["smithy-rpc-v2-cbor", "query"])
def test_cloudwatch_survives_generated_requests_over_cbor_and_query(
    server: Any, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same generated requests, with botocore's CBOR and query serializers on the sending side."""
    monkeypatch.setattr(botocore.model, "PRIORITY_ORDERED_SUPPORTED_PROTOCOLS", (protocol,))
    client = boto_client("cloudwatch", server.url, parameter_validation=False)
    failures: list[str] = []
    tally: Counter[str] = Counter()
    for service, operation in operations(server):
        if service != "cloudwatch":
            continue
        shape = client.meta.service_model.operation_model(operation).input_shape
        fuzz(
            f"{protocol} {operation}",
            getattr(client, botocore.xform_name(operation)),
            value_for(shape),
            failures,
            tally,
        )
    print(f"generated {protocol} requests: {dict(tally)}", file=sys.stderr)
    assert failures == []
    assert tally["accepted"] + tally["4xx"] > 0  # requests reached the server
    assert "Metrics" in client.list_metrics()


HEADER_VALUES = st.sampled_from(
    [
        "",
        "application/json",
        "application/x-amz-json-1.0",
        "application/cbor",
        "application/x-www-form-urlencoded",
        "text/xml; charset=ebcdic",
        "rpc-v2-cbor",
        "SageMaker.NoSuchOperation",
        "AnyScaleFrontendService.",
        "GraniteServiceVersion20100801.ListMetrics",
        ".",
        "gzip",
        "x" * 3000,
        "é",
    ]
)
HEADERS = st.dictionaries(
    st.sampled_from(["Content-Type", "X-Amz-Target", "Content-Encoding", "smithy-protocol", "Accept"]),
    st.one_of(st.none(), HEADER_VALUES),
    max_size=3,
)


def test_wrong_protocol_headers_get_a_parseable_4xx(server: Any) -> None:
    """Requests whose protocol headers (Content-Type, X-Amz-Target, smithy-protocol, Content-Encoding, Accept)
    are missing, of another protocol or garbage, signed as sent: no 5xx, and botocore parses every reply."""
    clients = {
        s: boto_client(s, server.url, parameter_validation=False)
        for s in ("sagemaker", "cloudwatch", "application-autoscaling", "logs")
    }
    chosen: dict[str, str | None] = {}

    def mutate(request: Any, **_: Any) -> None:
        for name, value in chosen.items():
            del request.headers[name]
            if value is not None:
                request.headers[name] = value

    def headed(pair: tuple[dict[str, str | None], Any]) -> Any:
        chosen.clear()
        chosen.update(pair[0])
        return pair[1]

    for client in clients.values():
        client.meta.events.register_last("before-sign", mutate)
    failures: list[str] = []
    tally: Counter[str] = Counter()
    for service, operation in operations(server):
        client = clients[service]
        shape = client.meta.service_model.operation_model(operation).input_shape
        params = value_for(shape) if shape is not None else st.just({})
        with_headers = st.tuples(HEADERS, params).map(headed)  # each example's headers, set as it is drawn
        # Fewer per operation than above: here the headers vary (few kinds); the parameters had their share above.
        call = getattr(client, botocore.xform_name(operation))
        fuzz(f"{service}.{operation}", call, with_headers, failures, tally, examples=max(1, EXAMPLES * 2 // 5))
    chosen.clear()
    print(f"requests with wrong protocol headers: {dict(tally)}", file=sys.stderr)
    assert failures == []
    assert tally["4xx"] > 0
    assert "Models" in clients["sagemaker"].list_models()
