"""The RPC v2 CBOR codec, proved against botocore's own serializer, parser and client rather than against itself."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.model
import cbor2
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from botocore.session import get_session

from homeport.api import rpcv2
from homeport.api.rpcv2 import (
    CONTENT_TYPE,
    RESPONSE_HEADERS,
    content_decoded,
    decode_request,
    encode_error,
    encode_reply,
    is_rpcv2,
    operation_from_path,
)

MODEL = get_session().get_service_model("cloudwatch")
SERVICE = "GraniteServiceVersion20100801"
T0 = datetime(2024, 5, 17, 12, 30, 15, tzinfo=UTC)
T1 = datetime(2024, 5, 17, 12, 31, 15, 250000, tzinfo=UTC)
T2 = datetime(2024, 5, 17, 12, 32, 15, 123456, tzinfo=UTC)


def _wire(operation: str, params: dict[str, Any]) -> tuple[str, list[tuple[bytes, bytes]], bytes]:
    """What botocore puts on the wire for `operation`, with headers as an ASGI scope carries them."""
    serializer = create_serializer(MODEL.metadata["protocol"])  # validating, as a client's is
    request = serializer.serialize_to_request(params, MODEL.operation_model(operation))
    headers = [(name.lower().encode(), value.encode()) for name, value in request["headers"].items()]
    return request["url_path"], headers, request["body"]


def _epochs(value: Any) -> Any:
    """`value` as the codec should hand it on: each datetime as its epoch seconds."""
    if isinstance(value, dict):
        return {key: _epochs(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_epochs(item) for item in value]
    return value.timestamp() if isinstance(value, datetime) else value


def _parse(operation: str, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> dict[str, Any]:
    response = {
        "status_code": status,
        "headers": {name.decode(): value.decode() for name, value in headers},
        "body": body,
        "context": {"operation_name": operation},
    }
    parsed: dict[str, Any] = create_parser(MODEL.metadata["protocol"]).parse(
        response, MODEL.operation_model(operation).output_shape
    )
    return parsed


def _reply(operation: str, output: dict[str, Any]) -> dict[str, Any]:
    parsed = _parse(
        operation, 200, RESPONSE_HEADERS, encode_reply(MODEL.operation_model(operation).output_shape, output)
    )
    parsed.pop("ResponseMetadata")
    return parsed


def _aware(value: datetime) -> datetime:
    assert value.tzinfo is not None and value.utcoffset() is not None  # aware, so comparisons are of instants
    return value


def test_cloudwatch_speaks_rpcv2_cbor() -> None:
    # The model's own protocol is what every test below serializes and parses with.
    assert MODEL.metadata["protocol"] == "smithy-rpc-v2-cbor"
    assert MODEL.metadata["targetPrefix"] == SERVICE
    assert "awsQueryCompatible" in MODEL.metadata


REQUESTS: dict[str, dict[str, Any]] = {
    "PutMetricData": {
        "Namespace": "Homeport/Test",
        "MetricData": [
            {
                "MetricName": "Latency",
                "Dimensions": [{"Name": "Endpoint", "Value": "ep-1"}, {"Name": "Variant", "Value": "AllTraffic"}],
                "Timestamp": T2,
                "Values": [1.5, 2.25, 1e-9, 12345.0],
                "Counts": [3.0, 1.0, 1.0, 7.0],
                "Unit": "Milliseconds",
                "StorageResolution": 1,
            },
            {
                "MetricName": "Requests",
                "Timestamp": T0,
                "StatisticValues": {"SampleCount": 10.0, "Sum": 55.5, "Minimum": 0.5, "Maximum": 20.0},
                "Unit": "Count",
                "StorageResolution": 60,
            },
            {"MetricName": "Plain", "Value": -3.75},
        ],
    },
    "GetMetricStatistics": {
        "Namespace": "AWS/SageMaker",
        "MetricName": "Invocations",
        "Dimensions": [{"Name": "EndpointName", "Value": "ep-1"}],
        "StartTime": T0,
        "EndTime": T1,
        "Period": 60,
        "Statistics": ["Sum", "Average", "SampleCount"],
        "ExtendedStatistics": ["p99"],
        "Unit": "Count",
    },
    "GetMetricData": {
        "MetricDataQueries": [
            {
                "Id": "m1",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/SageMaker",
                        "MetricName": "ModelLatency",
                        "Dimensions": [{"Name": "EndpointName", "Value": "ep-1"}],
                    },
                    "Period": 300,
                    "Stat": "Average",
                    "Unit": "Microseconds",
                },
                "ReturnData": True,
            },
            {"Id": "e1", "Expression": "m1 * 2", "Label": "doubled", "ReturnData": False},
        ],
        "StartTime": T0,
        "EndTime": T2,
        "ScanBy": "TimestampDescending",
        "MaxDatapoints": 1000,
    },
    "PutMetricAlarm": {
        "AlarmName": "high-latency",
        "AlarmDescription": "p99 over 250 ms",
        "ActionsEnabled": False,
        "MetricName": "ModelLatency",
        "Namespace": "AWS/SageMaker",
        "ExtendedStatistic": "p99",
        "Dimensions": [{"Name": "EndpointName", "Value": "ep-1"}],
        "Period": 60,
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 2,
        "Threshold": 250000.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "Tags": [{"Key": "team", "Value": "ml"}],
    },
    "DescribeAlarms": {
        "AlarmNamePrefix": "high-",
        "AlarmTypes": ["MetricAlarm"],
        "StateValue": "ALARM",
        "MaxRecords": 50,
        "NextToken": "tok",
    },
}


@pytest.mark.parametrize("operation", sorted(REQUESTS))
def test_botocore_requests_decode_to_what_was_sent(operation: str) -> None:
    path, headers, body = _wire(operation, REQUESTS[operation])
    assert operation_from_path(path) == (SERVICE, operation)
    assert is_rpcv2(headers)
    assert (b"content-type", CONTENT_TYPE) in headers
    assert (b"accept", CONTENT_TYPE) in headers
    assert decode_request(body) == _epochs(REQUESTS[operation])


def test_timestamps_arrive_as_epoch_floats_at_full_precision() -> None:
    sent = {"Namespace": "N", "MetricData": [{"MetricName": "m", "Timestamp": when} for when in (T0, T1, T2)]}
    got = [datum["Timestamp"] for datum in decode_request(_wire("PutMetricData", sent)[2])["MetricData"]]
    assert got == [T0.timestamp(), T1.timestamp(), T2.timestamp()]
    assert all(type(when) is float for when in got)  # botocore sends whole seconds as integers


def test_timestamps_given_to_botocore_as_strings_or_numbers_decode_the_same() -> None:
    for given in ("2024-05-17T12:30:15Z", int(T0.timestamp())):
        params = {"Namespace": "N", "MetricName": "m", "StartTime": given, "EndTime": T1, "Period": 60}
        assert decode_request(_wire("GetMetricStatistics", params)[2])["StartTime"] == T0.timestamp()


def test_an_operation_without_parameters() -> None:
    path, headers, body = _wire("ListDashboards", {})
    assert operation_from_path(path) == (SERVICE, "ListDashboards")
    assert is_rpcv2(headers)
    assert decode_request(body) == {}
    assert decode_request(b"") == {}


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "",
        "/service/GraniteServiceVersion20100801/operation/",
        "/service//operation/PutMetricData",
        "/service/GraniteServiceVersion20100801/operation/PutMetricData/",
        "/service/GraniteServiceVersion20100801/operation/PutMetricData/extra",
        "/prefix/service/GraniteServiceVersion20100801/operation/PutMetricData",
        "/service/GraniteServiceVersion20100801/operations/PutMetricData",
        "/service/Granite.Service/operation/PutMetricData",
        "/service/GraniteServiceVersion20100801/operation/Put%20MetricData",
    ],
)
def test_other_paths_are_not_operations(path: str) -> None:
    assert operation_from_path(path) is None


def test_is_rpcv2_needs_the_smithy_protocol_header() -> None:
    assert not is_rpcv2([])
    assert not is_rpcv2([(b"content-type", CONTENT_TYPE)])
    assert not is_rpcv2([(b"smithy-protocol", b"rpc-v2-json")])
    assert not is_rpcv2([(b"x-amz-target", b"GraniteServiceVersion20100801.PutMetricData")])
    assert is_rpcv2([(b"Smithy-Protocol", b"rpc-v2-cbor")])


def test_plain_cbor_values_and_absent_members() -> None:
    body = cbor2.dumps(
        {
            "Blob": b"\x00\xff",
            "Null": None,
            "Undefined": cbor2.undefined,
            "List": [1, None, cbor2.undefined, {"Inner": None, "Kept": True}],
            "Rfc3339": datetime(2024, 5, 17, 12, 30, 15, tzinfo=UTC),  # cbor2 writes tag 0; RPC v2 uses tag 1
        },
        datetime_as_timestamp=False,
    )
    assert decode_request(body) == {
        "Blob": b"\x00\xff",
        "List": [1, None, None, {"Kept": True}],
        "Rfc3339": T0.timestamp(),
    }


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_wire("PutMetricData", REQUESTS["PutMetricData"])[2][:-1], "not valid CBOR"),
        (b"\xbf\x61a\x01", "not valid CBOR"),  # an indefinite map never closed
        (b'{"Namespace": "N"}', "not valid CBOR"),  # JSON sent to the CBOR protocol
        (b"<html>", "not valid CBOR"),
        (b"\xc1\x61x", "not valid CBOR"),  # tag 1 around text, not a number
        (b"\xa2\x61a\x01\x61a\x02", "not valid CBOR"),  # the same key twice
        (b"\xa1\xa0\x01", "not valid CBOR"),  # a map as a key
        (cbor2.dumps([{"Namespace": "N"}]), "must be a CBOR map .* not an array"),
        (cbor2.dumps("Namespace"), "not a text string"),
        (cbor2.dumps(None), "parameters, not null"),
        (cbor2.dumps({"Namespace": "N"}) + b"\x00", "1 bytes after its CBOR map"),
        (cbor2.dumps({b"Namespace": "N"}), "keys must be text strings, not a byte string"),
        (cbor2.dumps({"Namespace": cbor2.CBORTag(4242, 1)}), "holds CBOR tag 4242"),
        (b"\xa1\x61a\xc4\x82\x21\x19\x6a\xb3", "holds a CBOR value decoded as Decimal"),
    ],
)
def test_bad_bodies_are_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        decode_request(body)


def test_gzip_bodies_are_inflated_within_a_limit() -> None:
    body = cbor2.dumps({"Namespace": "N" * 100})
    gzipped = [(b"content-encoding", b"gzip")]
    assert content_decoded([], body) == body
    assert content_decoded([(b"content-encoding", b"identity")], body) == body
    assert content_decoded(gzipped, gzip.compress(body)) == body
    assert content_decoded(gzipped, gzip.compress(body), max_size=len(body)) == body
    with pytest.raises(ValueError, match="more than"):
        content_decoded(gzipped, gzip.compress(body), max_size=len(body) - 1)
    with pytest.raises(ValueError, match="not one complete gzip stream"):
        content_decoded(gzipped, gzip.compress(body)[:-4])
    with pytest.raises(ValueError, match="not one complete gzip stream"):
        content_decoded(gzipped, gzip.compress(body) + b"junk")
    with pytest.raises(ValueError, match="not valid gzip"):
        content_decoded(gzipped, body)
    with pytest.raises(ValueError, match="Unsupported Content-Encoding 'br'"):
        content_decoded([(b"content-encoding", b"br")], body)
    bomb = gzip.compress(b"\x00" * (rpcv2.MAX_BODY + 1))
    with pytest.raises(ValueError, match="more than"):
        content_decoded(gzipped, bomb)


def test_get_metric_statistics_reply() -> None:
    parsed = _reply(
        "GetMetricStatistics",
        {
            "Label": "Invocations",
            "Datapoints": [
                {"Timestamp": T0.timestamp(), "SampleCount": 2, "Sum": 4.5, "Average": 2.25, "Unit": "Count"},
                {"Timestamp": int(T0.timestamp()) + 60, "Maximum": 9, "ExtendedStatistics": {"p99": 7}},
                {"Timestamp": T2.timestamp(), "Minimum": -1.5},
            ],
        },
    )
    points = parsed["Datapoints"]
    assert parsed["Label"] == "Invocations"
    assert [_aware(point["Timestamp"]) for point in points] == [T0, datetime(2024, 5, 17, 12, 31, 15, tzinfo=UTC), T2]
    assert points[0] == {"Timestamp": T0, "SampleCount": 2.0, "Sum": 4.5, "Average": 2.25, "Unit": "Count"}
    assert points[1]["ExtendedStatistics"] == {"p99": 7.0}
    # Doubles handed in as ints still reach the caller as floats, as they would from AWS.
    assert type(points[0]["SampleCount"]) is float and type(points[1]["ExtendedStatistics"]["p99"]) is float


def test_get_metric_data_reply() -> None:
    parsed = _reply(
        "GetMetricData",
        {
            "MetricDataResults": [
                {
                    "Id": "m1",
                    "Label": "ModelLatency",
                    "Timestamps": [T2.timestamp(), T1.timestamp(), T0.timestamp()],
                    "Values": [3.5, 2, 0.125],
                    "StatusCode": "Complete",
                },
                {"Id": "m2", "Timestamps": [], "Values": [], "StatusCode": "PartialData"},
            ],
            "NextToken": "next",
            "Messages": [{"Code": "Info", "Value": "partial"}],
        },
    )
    first, second = parsed["MetricDataResults"]
    assert [_aware(when) for when in first["Timestamps"]] == [T2, T1, T0]
    assert first["Values"] == [3.5, 2.0, 0.125] and all(type(value) is float for value in first["Values"])
    assert second == {"Id": "m2", "Timestamps": [], "Values": [], "StatusCode": "PartialData"}
    assert parsed["NextToken"] == "next" and parsed["Messages"] == [{"Code": "Info", "Value": "partial"}]


def test_describe_alarms_reply() -> None:
    alarm = {
        "AlarmName": "high-latency",
        "AlarmArn": "arn:aws:cloudwatch:us-east-1:000000000000:alarm:high-latency",
        "ActionsEnabled": True,
        "AlarmActions": [],
        "AlarmConfigurationUpdatedTimestamp": T0.timestamp(),
        "StateValue": "ALARM",
        "StateReason": "Threshold Crossed",
        "StateUpdatedTimestamp": T1.timestamp(),
        "StateTransitionedTimestamp": T2,  # a datetime is tagged the same way
        "MetricName": "ModelLatency",
        "Namespace": "AWS/SageMaker",
        "Statistic": "Average",
        "Dimensions": [{"Name": "EndpointName", "Value": "ep-1"}],
        "Period": 60,
        "EvaluationPeriods": 3,
        "Threshold": 250000,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    parsed = _reply("DescribeAlarms", {"MetricAlarms": [alarm], "CompositeAlarms": []})
    (got,) = parsed["MetricAlarms"]
    assert _aware(got["AlarmConfigurationUpdatedTimestamp"]) == T0
    assert _aware(got["StateUpdatedTimestamp"]) == T1
    assert _aware(got["StateTransitionedTimestamp"]) == T2
    assert got["Threshold"] == 250000.0 and type(got["Threshold"]) is float
    assert got["Period"] == 60 and type(got["Period"]) is int
    assert got["Dimensions"] == alarm["Dimensions"] and got["ActionsEnabled"] is True
    assert parsed["CompositeAlarms"] == []


def test_describe_alarm_history_reply() -> None:
    items = [
        {
            "AlarmName": "high-latency",
            "AlarmType": "MetricAlarm",
            "Timestamp": T1.timestamp() + index,
            "HistoryItemType": "StateUpdate",
            "HistorySummary": f"Alarm updated {index}",
            "HistoryData": '{"version": "1.0"}',
        }
        for index in range(3)
    ]
    parsed = _reply("DescribeAlarmHistory", {"AlarmHistoryItems": items, "NextToken": "n"})
    got = parsed["AlarmHistoryItems"]
    assert [_aware(item["Timestamp"]).timestamp() for item in got] == [item["Timestamp"] for item in items]
    assert [item["HistorySummary"] for item in got] == ["Alarm updated 0", "Alarm updated 1", "Alarm updated 2"]


def test_list_metrics_reply() -> None:
    metrics = [
        {"Namespace": "AWS/SageMaker", "MetricName": "Invocations", "Dimensions": [{"Name": "E", "Value": "ep"}]},
        {"Namespace": "Homeport/Test", "MetricName": "Latency", "Dimensions": []},
    ]
    assert _reply("ListMetrics", {"Metrics": metrics, "OwningAccounts": ["000000000000"]}) == {
        "Metrics": metrics,
        "OwningAccounts": ["000000000000"],
    }


def test_blob_reply() -> None:
    assert _reply("GetMetricWidgetImage", {"MetricWidgetImage": b"\x89PNG\x00\xff"}) == {
        "MetricWidgetImage": b"\x89PNG\x00\xff"
    }


def test_operations_without_output() -> None:
    assert MODEL.operation_model("PutMetricData").output_shape is None
    assert encode_reply(None, {}) == b"\xa0"
    parsed = _parse("PutMetricData", 200, RESPONSE_HEADERS, encode_reply(None, {}))
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert set(parsed) == {"ResponseMetadata"}


def test_members_outside_the_shape_pass_through_untouched() -> None:
    shape = MODEL.operation_model("GetMetricStatistics").output_shape
    body = encode_reply(shape, {"Label": "x", "Extra": 5, "Datapoints": [{"Timestamp": 1, "Mystery": 1.5}]})
    raw = cbor2.loads(body, tag_hook=lambda _, tag: tag)
    assert raw["Extra"] == 5 and raw["Datapoints"][0]["Mystery"] == 1.5
    # Timestamps go out as tag 1 around the epoch number itself; cbor2 shows tag 1 as an aware datetime.
    assert raw["Datapoints"][0]["Timestamp"] == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)


ERROR_CODES = ["ResourceNotFound", "InvalidParameterValue", "MissingParameter", "LimitExceeded"]
ERROR_CODES += ["InvalidParameterCombination", "InvalidNextToken", "ThrottlingException", "ValidationError"]


@pytest.mark.parametrize("code", ERROR_CODES)
def test_errors_parse_to_their_code(code: str) -> None:
    headers, body = encode_error(code, f"what went wrong: {code}", sender_fault=True)
    assert all(header in headers for header in RESPONSE_HEADERS)
    parsed = _parse("DescribeAlarms", 400, headers, body)
    assert parsed["Error"]["Code"] == code
    assert parsed["Error"]["Message"] == f"what went wrong: {code}"
    assert parsed["Error"]["Type"] == "Sender"
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize("code", ERROR_CODES)
def test_errors_parse_to_their_code_without_the_query_header(code: str) -> None:
    # A client that ignores awsQueryCompatible reads the code from __type alone.
    headers, body = encode_error(code, "m", sender_fault=True)
    headers = [(name, value) for name, value in headers if name != b"x-amzn-query-error"]
    assert _parse("GetMetricData", 400, headers, body)["Error"]["Code"] == code


def test_server_faults_parse_as_receiver_errors() -> None:
    headers, body = encode_error("InternalFailure", "The request processing has failed.", sender_fault=False)
    parsed = _parse("PutMetricData", 500, headers, body)
    assert parsed["Error"] == {
        "Code": "InternalFailure",
        "Message": "The request processing has failed.",
        "QueryErrorCode": "InternalFailure",
        "Type": "Receiver",
    }
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == 500


# End to end: a real client, its real serializer, signer, compressor and parser, with the network swapped for a fake
# server built on the codec. Stock botocore ranks awsJson above RPC v2 CBOR when a model offers both, as CloudWatch's
# does, so these clients are told to rank CBOR first, the way SDKs that prefer it (and perhaps later botocores) do.


@pytest.fixture
def prefer_cbor(monkeypatch: pytest.MonkeyPatch) -> None:
    order = botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS
    monkeypatch.setattr(botocore.model, "PRIORITY_ORDERED_SUPPORTED_PROTOCOLS", ("smithy-rpc-v2-cbor", *order))


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()  # botocore's signer leaves some headers as bytes


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


Handler = Callable[[str, dict[str, Any]], tuple[int, list[tuple[bytes, bytes]], bytes]]


def _client(handler: Handler, received: list[tuple[str, dict[str, Any]]]) -> Any:
    def send(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        headers = [(name.lower().encode(), _bytes(value)) for name, value in request.headers.items()]
        assert is_rpcv2(headers)
        named = operation_from_path(urlsplit(request.url).path)
        assert named is not None
        body = request.body if isinstance(request.body, bytes) else request.body.read()
        params = decode_request(content_decoded(headers, body))
        received.append((named[1], params))
        status, reply_headers, reply = handler(named[1], params)
        return AWSResponse(request.url, status, {n.decode(): v.decode() for n, v in reply_headers}, _Raw(reply))

    client = boto3.client(
        "cloudwatch",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"total_max_attempts": 1}),
    )
    assert client.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
    client.meta.events.register("before-send.cloudwatch", send)
    return client


def _ok(operation: str, output: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return 200, RESPONSE_HEADERS, encode_reply(MODEL.operation_model(operation).output_shape, output)


@pytest.mark.usefixtures("prefer_cbor")
def test_client_put_metric_data_and_get_metric_statistics() -> None:
    received: list[tuple[str, dict[str, Any]]] = []
    outputs = {
        "PutMetricData": {},
        "GetMetricStatistics": {"Label": "Latency", "Datapoints": [{"Timestamp": T1.timestamp(), "Average": 2}]},
    }
    client = _client(lambda operation, _: _ok(operation, outputs[operation]), received)

    put = client.put_metric_data(**REQUESTS["PutMetricData"])
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    got = client.get_metric_statistics(**REQUESTS["GetMetricStatistics"])
    assert got["Label"] == "Latency"
    assert got["Datapoints"] == [{"Timestamp": T1, "Average": 2.0}]
    assert _aware(got["Datapoints"][0]["Timestamp"]) == T1

    assert received == [(name, _epochs(REQUESTS[name])) for name in ("PutMetricData", "GetMetricStatistics")]


@pytest.mark.usefixtures("prefer_cbor")
def test_client_gzips_large_put_metric_data() -> None:
    received: list[tuple[str, dict[str, Any]]] = []
    client = _client(lambda operation, _: _ok(operation, {}), received)
    captured: list[dict[str, str | bytes]] = []
    client.meta.events.register_first("before-send.cloudwatch", lambda request, **_: captured.append(request.headers))
    data = [
        {"MetricName": f"metric-{index}", "Timestamp": T2, "Values": [float(index)] * 20, "Counts": [1.0] * 20}
        for index in range(100)
    ]
    client.put_metric_data(Namespace="Homeport/Big", MetricData=data)
    assert _bytes(captured[0]["Content-Encoding"]) == b"gzip"  # botocore compresses bodies of 10 KiB and more
    assert received == [("PutMetricData", {"Namespace": "Homeport/Big", "MetricData": _epochs(data)})]


@pytest.mark.usefixtures("prefer_cbor")
def test_client_raises_the_modeled_error() -> None:
    received: list[tuple[str, dict[str, Any]]] = []
    client = _client(lambda *_: (400, *encode_error("InvalidParameterValue", "Period must be 60.", True)), received)
    with pytest.raises(client.exceptions.InvalidParameterValueException) as raised:
        client.get_metric_statistics(**{**REQUESTS["GetMetricStatistics"], "Period": 7})
    error: ClientError = raised.value
    assert error.response["Error"]["Code"] == "InvalidParameterValue"
    assert error.response["Error"]["Message"] == "Period must be 60."
    assert received[0][1]["Period"] == 7


@pytest.mark.usefixtures("prefer_cbor")
def test_client_raises_unmodeled_errors_by_code() -> None:
    client = _client(lambda *_: (404, *encode_error("ResourceNotFound", "No alarm named nope.", True)), [])
    with pytest.raises(ClientError) as raised:
        client.describe_alarm_history(AlarmName="nope", StartDate=T0, EndDate=T2)
    assert raised.value.response["Error"]["Code"] == "ResourceNotFound"
    assert raised.value.response["Error"]["Message"] == "No alarm named nope."
