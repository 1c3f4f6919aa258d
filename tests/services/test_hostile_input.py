"""Hostile input gets a 4xx that botocore parses, never a 5xx; a valid call afterwards still works (issue 16).

Each body is sent by a boto3 client: signing, the wire and the error parsing are botocore's; where botocore's
serializer could not even encode the value, the body is swapped just before signing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.model
import pytest
from botocore.exceptions import ClientError

from tests.conftest import boto_client, unique


@contextmanager
def body_swapped(client: Any, operation: str, body: bytes) -> Iterator[None]:
    service = client.meta.service_model.service_id.hyphenize()
    event = f"before-sign.{service}.{operation}"

    def swap(request: Any, **_: Any) -> None:
        request.data = body

    client.meta.events.register_first(event, swap, unique_id="hostile-swap")
    try:
        yield
    finally:
        client.meta.events.unregister(event, unique_id="hostile-swap")


def refusal(call: Any, **params: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as raised:
        call(**params)
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


@pytest.fixture
def json_cloudwatch(server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(botocore.model, "PRIORITY_ORDERED_SUPPORTED_PROTOCOLS", ("json",))
    return boto_client("cloudwatch", server.url, parameter_validation=False)


@pytest.fixture
def query_cloudwatch(server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(botocore.model, "PRIORITY_ORDERED_SUPPORTED_PROTOCOLS", ("query",))
    return boto_client("cloudwatch", server.url, parameter_validation=False)


DEEP = 3000


@pytest.mark.parametrize(
    "body",
    [b"[" * DEEP + b"]" * DEEP, b'{"NameContains": ' + b"[" * DEEP + b"]" * DEEP + b"}"],
    ids=["whole body", "inside a member"],
)
def test_json_nested_thousands_deep_is_a_serialization_error(server: Any, body: bytes) -> None:
    sm = boto_client("sagemaker", server.url)
    with body_swapped(sm, "ListModels", body):
        status, code, message = refusal(sm.list_models)
    assert (status, code) == (400, "SerializationException")
    assert "nested too deeply" in message
    sm.list_models()


def test_lone_surrogates_and_control_characters_are_refused_on_every_protocol(
    server: Any, json_cloudwatch: Any
) -> None:
    name = unique("hostile")
    bodies = {
        "dimension value": {"MetricName": name, "Value": 1, "Dimensions": [{"Name": "d", "Value": "\udfff"}]},
        "metric name": {"MetricName": "\ud800", "Value": 1},
        "NUL in a name": {"MetricName": "nul\x00byte", "Value": 1},
    }
    for datum in bodies.values():
        body = json.dumps({"Namespace": "Hostile", "MetricData": [datum]}).encode()
        with body_swapped(json_cloudwatch, "PutMetricData", body):
            status, code, _ = refusal(json_cloudwatch.put_metric_data, Namespace="x", MetricData=[])
        assert (status, code) == (400, "ValidationError")
    with body_swapped(json_cloudwatch, "DescribeAlarmHistory", json.dumps({"AlarmName": "\ud800"}).encode()):
        assert refusal(json_cloudwatch.describe_alarm_history)[:2] == (400, "ValidationError")
    # Nothing was stored, and every protocol still lists what is there.
    cbor = boto_client("cloudwatch", server.url)
    assert all(m["Namespace"] != "Hostile" for m in cbor.list_metrics()["Metrics"])
    assert "Metrics" in json_cloudwatch.list_metrics()


def test_a_query_error_quoting_a_nul_still_parses(query_cloudwatch: Any) -> None:
    status, code, message = refusal(
        query_cloudwatch.put_metric_data, Namespace="Hostile", MetricData=[{"MetricName": "nul\x00byte", "Value": 1}]
    )
    assert (status, code) == (400, "ValidationError")
    assert "nul\ufffdbyte" in message


@pytest.mark.parametrize(
    ("operation", "body", "code"),
    [
        (
            "PutMetricData",
            '{"Namespace":"N","MetricData":[{"MetricName":"m","Timestamp":NaN,"Value":1}]}',
            "ValidationError",
        ),
        ("PutMetricData", '{"Namespace":"N","MetricData":[{"MetricName":"m","Value":Infinity}]}', "ValidationError"),
        (
            "GetMetricStatistics",
            '{"Namespace":"N","MetricName":"m","StartTime":NaN,"EndTime":1,"Period":60,"Statistics":["Sum"]}',
            "ValidationError",
        ),
        (
            "PutMetricAlarm",
            '{"AlarmName":"a","EvaluationPeriods":1,"ComparisonOperator":"GreaterThanThreshold","Threshold":Infinity}',
            "ValidationError",
        ),
        (
            "PutMetricData",
            '{"Namespace":"N","MetricData":[{"MetricName":"m","Values":[1e308,1e308]}]}',
            "InvalidParameterValue",
        ),
    ],
    ids=["NaN timestamp", "infinite value", "NaN start time", "infinite threshold", "values past 2^360"],
)
def test_non_finite_and_overflowing_numbers_are_refused(
    json_cloudwatch: Any, operation: str, body: str, code: str
) -> None:
    call = getattr(json_cloudwatch, botocore.xform_name(operation))
    with body_swapped(json_cloudwatch, operation, body.encode()):
        assert refusal(call)[:2] == (400, code)


def test_a_nan_variant_weight_is_refused(server: Any) -> None:
    sm = boto_client("sagemaker", server.url, parameter_validation=False)
    variant = {"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
    body = json.dumps(
        {"EndpointConfigName": unique("nan"), "ProductionVariants": [{**variant, "InitialVariantWeight": float("nan")}]}
    )
    with body_swapped(sm, "CreateEndpointConfig", body.encode()):
        status, code, message = refusal(sm.create_endpoint_config, EndpointConfigName="x", ProductionVariants=[])
    assert (status, code) == (400, "ValidationException")
    assert "initialVariantWeight" in message and "finite number" in message


def test_a_rate_too_long_for_any_date_is_refused(server: Any) -> None:
    scaling = boto_client("application-autoscaling", server.url)
    status, code, message = refusal(
        scaling.put_scheduled_action,
        ServiceNamespace="sagemaker",
        ScheduledActionName=unique("rate"),
        ResourceId="endpoint/none/variant/v",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        Schedule="rate(99999999999999999999 days)",
    )
    assert status == 400
    assert "longer than any schedule can run" in message or code == "ObjectNotFoundException"


def test_an_s3_listing_from_a_nul_parses_and_round_trips(server: Any) -> None:
    s3 = boto_client("s3", server.url)
    bucket = unique("hostile")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a", Body=b"")
    listed = s3.list_objects_v2(Bucket=bucket, StartAfter="\x00")  # botocore asks for encoding-type=url
    assert listed["StartAfter"] == "\x00"
    assert [o["Key"] for o in listed["Contents"]] == ["a"]


def captured(client: Any, operation: str, **params: Any) -> Any:
    """The request botocore would send (signed), not sent."""
    service = client.meta.service_model.service_id.hyphenize()

    class Captured(Exception):
        pass

    sent: dict[str, Any] = {}

    def grab(request: Any, **_: Any) -> None:
        sent["request"] = request
        raise Captured

    client.meta.events.register(f"before-send.{service}.{operation}", grab, unique_id="hostile-grab")
    try:
        with pytest.raises(Captured):
            method = next(m for m, api in client.meta.method_to_api_mapping.items() if api == operation)
            getattr(client, method)(**params)
    finally:
        client.meta.events.unregister(f"before-send.{service}.{operation}", unique_id="hostile-grab")
    return sent["request"]


def cut_short(server: Any, request: Any) -> list[Any]:
    """What the app sends for `request` when its connection closes after the body's first 10 bytes."""
    _, _, host, rest = request.url.split("/", 3)
    path, _, query = rest.partition("?")
    body = request.body.read() if hasattr(request.body, "read") else request.body
    headers = {"host": host, **{k.lower(): v for k, v in request.headers.items()}}
    scope = {
        "type": "http",
        "method": request.method,
        "path": "/" + path,
        "raw_path": ("/" + path).encode(),
        "query_string": query.encode(),
        "headers": [(k.encode(), v if isinstance(v, bytes) else v.encode()) for k, v in headers.items()],
    }
    messages = iter([{"type": "http.request", "body": body[:10], "more_body": True}, {"type": "http.disconnect"}])
    sent: list[Any] = []

    async def receive() -> Any:
        return next(messages)

    async def send(message: Any) -> None:
        sent.append(message)

    server.http.portal.call(server.server.app, scope, receive, send)
    return sent


def test_a_client_gone_mid_body_leaves_nothing_and_is_no_error(server: Any, caplog: pytest.LogCaptureFixture) -> None:
    """An upload (and a control-plane call) whose connection closes before its body ended: nothing is written,
    no reply is attempted, and nothing is logged as an error."""
    s3 = boto_client("s3", server.url)
    bucket = unique("gone")
    s3.create_bucket(Bucket=bucket)
    sm = boto_client("sagemaker", server.url)
    requests = [
        captured(s3, "PutObject", Bucket=bucket, Key="half", Body=b"x" * 100_000),
        captured(s3, "DeleteObjects", Bucket=bucket, Delete={"Objects": [{"Key": "k"}] * 40}),  # a body read whole
        captured(sm, "ListModels"),
    ]
    for request in requests:
        with caplog.at_level("INFO"):
            assert cut_short(server, request) == []  # nothing sent
        assert "closed the connection mid-body" in caplog.text
        assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert list((server.data_dir / "objects" / "tmp").iterdir()) == []
    s3.put_object(Bucket=bucket, Key="whole", Body=b"ok")
    assert s3.get_object(Bucket=bucket, Key="whole")["Body"].read() == b"ok"


@contextmanager
def headers_set(client: Any, operation: str, **headers: str | None) -> Iterator[None]:
    """Request headers set (or, given None, removed) just before signing."""
    service = client.meta.service_model.service_id.hyphenize()
    event = f"before-sign.{service}.{operation}"

    def change(request: Any, **_: Any) -> None:
        for name, value in headers.items():
            name = name.replace("_", "-")
            del request.headers[name]
            if value is not None:
                request.headers[name] = value

    client.meta.events.register_last(event, change, unique_id="hostile-headers")
    try:
        yield
    finally:
        client.meta.events.unregister(event, unique_id="hostile-headers")


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"x_amz_sdk_checksum_algorithm": "MD4"}, "Value for x-amz-sdk-checksum-algorithm header is invalid."),
        ({"x_amz_sdk_checksum_algorithm": "SHA1"}, "Value for x-amz-sdk-checksum-algorithm header is invalid."),
        (
            {"x_amz_sdk_checksum_algorithm": "CRC32", "x_amz_checksum_crc32": None},
            "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers "
            "were found.",
        ),
    ],
    ids=["unknown algorithm", "another algorithm than the checksum sent", "no checksum sent"],
)
def test_an_sdk_checksum_algorithm_that_names_no_checksum_sent_is_refused(
    server: Any, headers: dict[str, str | None], message: str
) -> None:
    s3 = boto_client("s3", server.url)
    bucket = unique("sdk-algorithm")
    s3.create_bucket(Bucket=bucket)
    with headers_set(s3, "PutObject", **headers):
        status, code, said = refusal(s3.put_object, Bucket=bucket, Key="k", Body=b"data", ChecksumAlgorithm="CRC32")
    assert (status, code, said) == (400, "InvalidRequest", message)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    s3.put_object(Bucket=bucket, Key="k", Body=b"data", ChecksumAlgorithm="SHA1")  # the header as botocore sends it
    assert s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")["ChecksumSHA1"]
