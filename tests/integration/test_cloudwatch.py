"""The CloudWatch face, driven by boto3's `cloudwatch` client against a real `homeport serve` whose metric period
is one second: user metrics, the endpoint metrics homeport records, alarms and their transitions, /metrics."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.model
import pytest
from botocore.exceptions import ClientError

from homeport.server.process import ServerProcess
from tests.conftest import boto_client, csv_rows, deploy, unique
from tests.integration.test_lifecycle import until

NS = "Homeport/Tests"


def now() -> datetime:
    return datetime.now(UTC)


def code(raised: pytest.ExceptionInfo[ClientError]) -> str:
    return str(raised.value.response["Error"]["Code"])


def test_user_metric_statistics_percentiles_and_listing(cw: Any) -> None:
    name = unique("latency")
    dims = [{"Name": "Service", "Value": "checkout"}, {"Name": "Host", "Value": "a"}]
    at = now().replace(microsecond=0) - timedelta(minutes=5)
    values = [float(v) for v in range(1, 101)]
    cw.put_metric_data(
        Namespace=NS,
        MetricData=[
            {"MetricName": name, "Dimensions": dims, "Timestamp": at, "Values": values, "Unit": "Milliseconds"}
        ],
    )
    cw.put_metric_data(  # the same metric, dimensions in another order, a minute later
        Namespace=NS,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": dims[::-1],
                "Timestamp": at + timedelta(minutes=1),
                "StatisticValues": {"SampleCount": 4, "Sum": 40.0, "Minimum": 5.0, "Maximum": 20.0},
                "Unit": "Milliseconds",
            }
        ],
    )
    reply = cw.get_metric_statistics(
        Namespace=NS,
        MetricName=name,
        Dimensions=dims,
        StartTime=at - timedelta(minutes=1),
        EndTime=at + timedelta(minutes=3),
        Period=60,
        Statistics=["SampleCount", "Sum", "Average", "Minimum", "Maximum"],
        ExtendedStatistics=["p50", "p99"],
    )
    first, second = sorted(reply["Datapoints"], key=lambda d: d["Timestamp"])
    assert first["Timestamp"] == at.replace(second=0) and first["Unit"] == "Milliseconds"
    assert (first["SampleCount"], first["Sum"], first["Minimum"], first["Maximum"]) == (100, 5050, 1, 100)
    assert first["Average"] == pytest.approx(50.5)
    assert first["ExtendedStatistics"]["p50"] == pytest.approx(50, abs=2)
    assert first["ExtendedStatistics"]["p99"] == pytest.approx(99, abs=2)
    assert (second["SampleCount"], second["Average"], second["Maximum"]) == (4, 10, 20)
    assert "ExtendedStatistics" not in second  # a statistic set has no distribution to take percentiles of

    # One period over both minutes merges them.
    merged = cw.get_metric_statistics(
        Namespace=NS,
        MetricName=name,
        Dimensions=dims,
        StartTime=at.replace(second=0),
        EndTime=at.replace(second=0) + timedelta(minutes=2),
        Period=120,
        Statistics=["SampleCount", "Maximum"],
    )["Datapoints"]
    assert len(merged) == 1 and merged[0]["SampleCount"] == 104

    data = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "avg",
                "MetricStat": {
                    "Metric": {"Namespace": NS, "MetricName": name, "Dimensions": dims},
                    "Period": 60,
                    "Stat": "Average",
                },
            }
        ],
        StartTime=at - timedelta(minutes=1),
        EndTime=at + timedelta(minutes=3),
    )["MetricDataResults"][0]
    assert data["Id"] == "avg" and data["StatusCode"] == "Complete"
    assert data["Values"] == pytest.approx([10.0, 50.5])  # newest first, as ScanBy's default says
    assert data["Timestamps"][0] > data["Timestamps"][1]

    listed = cw.list_metrics(Namespace=NS, MetricName=name)["Metrics"]
    assert listed == [{"Namespace": NS, "MetricName": name, "Dimensions": sorted(dims, key=lambda d: d["Name"])}]
    assert cw.list_metrics(Namespace=NS, Dimensions=[{"Name": "Service", "Value": "nope"}])["Metrics"] == []


def test_large_put_metric_data_arrives_gzipped_and_whole(cw: Any) -> None:
    name = unique("bulk")
    at = now() - timedelta(minutes=2)
    data = [{"MetricName": name, "Timestamp": at, "Value": float(i)} for i in range(1000)]  # ~50 KB: botocore gzips
    cw.put_metric_data(Namespace=NS, MetricData=data)
    points = cw.get_metric_statistics(
        Namespace=NS,
        MetricName=name,
        StartTime=at - timedelta(minutes=1),
        EndTime=at + timedelta(minutes=1),
        Period=120,
        Statistics=["SampleCount", "Sum"],
    )["Datapoints"]
    assert sum(p["SampleCount"] for p in points) == 1000
    assert sum(p["Sum"] for p in points) == sum(range(1000))


def statistics(cw: Any, **changes: Any) -> Any:
    """GetMetricStatistics of the last hour by minute, with `changes`; an empty list leaves that field out."""
    params = {
        "Namespace": NS,
        "MetricName": "x",
        "StartTime": now() - timedelta(hours=1),
        "EndTime": now(),
        "Period": 60,
        "Statistics": ["Sum"],
        **changes,
    }
    return cw.get_metric_statistics(**{k: v for k, v in params.items() if v != []})


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            lambda cw: cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[{"MetricName": "x", "Value": 1.0}]),
            "InvalidParameterValue",
        ),
        (
            lambda cw: cw.put_metric_data(
                Namespace=NS,
                MetricData=[
                    {
                        "MetricName": "x",
                        "Value": 1.0,
                        "StatisticValues": {"SampleCount": 1, "Sum": 1.0, "Minimum": 1.0, "Maximum": 1.0},
                    }
                ],
            ),
            "InvalidParameterCombination",
        ),
        (
            lambda cw: cw.put_metric_data(
                Namespace=NS, MetricData=[{"MetricName": "x", "Value": 1.0, "Timestamp": now() - timedelta(days=15)}]
            ),
            "InvalidParameterValue",
        ),
        (
            lambda cw: cw.put_metric_data(
                Namespace=NS, MetricData=[{"MetricName": "x", "Values": [1.0], "Counts": [1.0, 2.0]}]
            ),
            "InvalidParameterValue",
        ),
        (lambda cw: statistics(cw, Period=7), "InvalidParameterValue"),
        (lambda cw: statistics(cw, Statistics=[]), "MissingParameter"),
        (lambda cw: statistics(cw, StartTime=now() - timedelta(days=2)), "InvalidParameterCombination"),
        (lambda cw: statistics(cw, StartTime=now(), EndTime=now() - timedelta(hours=1)), "InvalidParameterValue"),
        (lambda cw: statistics(cw, Statistics=[], ExtendedStatistics=["tm90"]), "InvalidParameterValue"),
        (lambda cw: cw.list_metrics(NextToken="garbage"), "InvalidNextToken"),
        (
            lambda cw: cw.set_alarm_state(AlarmName="no-such-alarm", StateValue="OK", StateReason="x"),
            "ResourceNotFound",
        ),
    ],
)
def test_bad_metric_requests_get_the_cloudwatch_error(cw: Any, call: Callable[[Any], Any], expected: str) -> None:
    with pytest.raises(ClientError) as raised:
        call(cw)
    assert code(raised) == expected
    assert raised.value.response["Error"]["Message"]


def test_a_refused_put_writes_nothing(cw: Any) -> None:
    name = unique("atomic")
    with pytest.raises(ClientError):
        cw.put_metric_data(
            Namespace=NS, MetricData=[{"MetricName": name, "Value": 1.0}, {"MetricName": name, "Value": float("nan")}]
        )
    assert cw.list_metrics(Namespace=NS, MetricName=name)["Metrics"] == []


def alarm_state(cw: Any, name: str) -> str:
    return str(cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"])


def test_alarm_goes_to_alarm_and_back_with_history(cw: Any) -> None:
    metric, alarm = unique("queue"), unique("alarm")
    cw.put_metric_alarm(
        AlarmName=alarm,
        Namespace=NS,
        MetricName=metric,
        Statistic="Maximum",
        Period=1,
        EvaluationPeriods=2,
        DatapointsToAlarm=2,
        Threshold=10.0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=["arn:aws:sns:us-east-1:000000000000:nobody"],
    )
    described = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]
    # A new alarm starts in INSUFFICIENT_DATA; the evaluator may already have moved it on (the history below
    # shows the first transition either way).
    assert described["StateValue"] in ("INSUFFICIENT_DATA", "OK") and described["Threshold"] == 10.0
    assert described["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{alarm}"

    def put(value: float) -> bool:
        cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": metric, "Value": value, "StorageResolution": 1}])
        return True

    # No data, treated as not breaching: OK.
    until(lambda: alarm_state(cw, alarm) == "OK")
    until(lambda: put(50.0) and alarm_state(cw, alarm) == "ALARM")
    reason = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateReason"]
    assert reason.startswith("Threshold Crossed: 2 out of the last 2 datapoints") and "greater than" in reason
    until(lambda: put(1.0) and alarm_state(cw, alarm) == "OK")

    history = cw.describe_alarm_history(AlarmName=alarm, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    summaries = [h["HistorySummary"] for h in reversed(history)]
    assert summaries[:3] == [
        "Alarm updated from INSUFFICIENT_DATA to OK",
        "Alarm updated from OK to ALARM",
        "Alarm updated from ALARM to OK",
    ]
    created = cw.describe_alarm_history(AlarmName=alarm, HistoryItemType="ConfigurationUpdate")["AlarmHistoryItems"]
    assert created[0]["HistorySummary"] == f'Alarm "{alarm}" created'

    # SetAlarmState holds until the next evaluation decides again.
    with pytest.raises(ClientError) as raised:
        cw.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="x", StateReasonData="{not json")
    assert code(raised) == "InvalidParameterValue"
    cw.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="testing the pager")
    set_by_hand = cw.describe_alarm_history(AlarmName=alarm, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert any(
        h["HistorySummary"] == "Alarm updated from OK to ALARM" and "testing the pager" in h["HistoryData"]
        for h in set_by_hand
    )
    until(lambda: put(1.0) and alarm_state(cw, alarm) == "OK")
    assert cw.describe_alarms(StateValue="OK", AlarmNamePrefix=alarm)["MetricAlarms"][0]["AlarmName"] == alarm
    assert cw.describe_alarms_for_metric(Namespace=NS, MetricName=metric)["MetricAlarms"][0]["AlarmName"] == alarm

    cw.delete_alarms(AlarmNames=[alarm])
    assert cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"] == []


def test_bad_alarms_are_refused_and_a_failed_delete_deletes_nothing(cw: Any) -> None:
    base = {
        "AlarmName": unique("bad"),
        "Namespace": NS,
        "MetricName": "m",
        "Period": 60,
        "EvaluationPeriods": 3,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    cases = [
        ({}, "InvalidParameterCombination"),  # no statistic
        ({"Statistic": "Average", "ExtendedStatistic": "p99"}, "InvalidParameterCombination"),
        ({"Statistic": "Average", "DatapointsToAlarm": 4}, "InvalidParameterValue"),
        ({"Statistic": "Average", "Period": 45}, "InvalidParameterValue"),
        ({"Statistic": "Average", "Period": 3600, "EvaluationPeriods": 25}, "InvalidParameterValue"),
        (
            {"Statistic": "Average", "ComparisonOperator": "LessThanLowerOrGreaterThanUpperThreshold"},
            "InvalidParameterValue",
        ),
        ({"Statistic": "Average", "TreatMissingData": "sometimes"}, "InvalidParameterValue"),
        ({"ExtendedStatistic": "tm99"}, "InvalidParameterValue"),
    ]
    for change, expected in cases:
        with pytest.raises(ClientError) as raised:
            cw.put_metric_alarm(**{**base, **change})
        assert code(raised) == expected, change
    assert cw.describe_alarms(AlarmNames=[base["AlarmName"]])["MetricAlarms"] == []

    kept = unique("kept")
    cw.put_metric_alarm(**{**base, "AlarmName": kept, "Statistic": "Average"})
    with pytest.raises(ClientError) as raised:
        cw.delete_alarms(AlarmNames=[kept, "never-made"])
    assert code(raised) == "ResourceNotFound"
    assert [a["AlarmName"] for a in cw.describe_alarms(AlarmNames=[kept])["MetricAlarms"]] == [kept]
    cw.delete_alarms(AlarmNames=[kept])


def test_alarm_tags_are_set_at_creation_and_by_tag_resource(cw: Any) -> None:
    name = unique("tagged")
    alarm = {
        "AlarmName": name,
        "Namespace": NS,
        "MetricName": "m",
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    cw.put_metric_alarm(**alarm, Tags=[{"Key": "team", "Value": "ml"}])
    arn = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    cw.put_metric_alarm(**alarm, Tags=[{"Key": "team", "Value": "ops"}])  # as in CloudWatch: ignored on update
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    cw.tag_resource(ResourceARN=arn, Tags=[{"Key": "team", "Value": "ops"}, {"Key": "tier", "Value": "1"}])
    cw.untag_resource(ResourceARN=arn, TagKeys=["tier"])
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "ops"}]
    with pytest.raises(ClientError) as raised:
        cw.tag_resource(ResourceARN=arn, Tags=[{"Key": f"k{i}", "Value": ""} for i in range(50)])
    assert code(raised) == "InvalidParameterValue"
    assert len(cw.list_tags_for_resource(ResourceARN=arn)["Tags"]) == 1  # the refused call changed nothing
    cw.delete_alarms(AlarmNames=[name])
    for call in (
        lambda: cw.list_tags_for_resource(ResourceARN=arn),  # deleted
        lambda: cw.untag_resource(ResourceARN=arn, TagKeys=["team"]),
        lambda: cw.tag_resource(ResourceARN="arn:aws:sns:us-east-1:000000000000:topic", Tags=[]),
    ):
        with pytest.raises(ClientError) as raised:
            call()
        assert code(raised) == "ResourceNotFoundException"
    cw.put_metric_alarm(**alarm)  # a new alarm of the same name starts with none of the old one's tags
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == []
    cw.delete_alarms(AlarmNames=[name])


def test_endpoint_metrics_are_recorded_per_variant(fast: ServerProcess, cw: Any, xgb_model: dict[str, Any]) -> None:
    sm, runtime = boto_client("sagemaker", fast.url), boto_client("sagemaker-runtime", fast.url)
    started = now() - timedelta(seconds=1)
    names = deploy(sm, xgb_model["url"], count=2)
    endpoint = names["endpoint"]
    body = csv_rows(xgb_model["x"][:3])
    for _ in range(20):
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)
    with pytest.raises(ClientError):  # a body the model refuses: a 4xx from the model
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="application/x-unknown", Body=b"1")
    dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "v1"}]

    def stat(metric: str, statistic: str, namespace: str = "AWS/SageMaker") -> float | None:
        points = cw.get_metric_statistics(
            Namespace=namespace,
            MetricName=metric,
            Dimensions=dims,
            StartTime=started,
            EndTime=now() + timedelta(minutes=1),
            Period=60,
            Statistics=[statistic],
        )["Datapoints"]
        return sum(p[statistic] for p in points) if points else None

    until(lambda: stat("Invocations", "Sum") == 21)
    assert stat("Invocation4XXErrors", "Sum") == 1
    assert stat("Invocation5XXErrors", "Sum") == 0
    assert stat("InvocationsPerInstance", "Sum") == pytest.approx(10.5)  # 21 requests over 2 instances
    latency = cw.get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName="ModelLatency",
        Dimensions=dims,
        StartTime=started,
        EndTime=now() + timedelta(minutes=1),
        Period=60,
        Statistics=["SampleCount", "Average", "Maximum"],
        ExtendedStatistics=["p99"],
    )["Datapoints"]
    assert sum(p["SampleCount"] for p in latency) == 21 and all(p["Unit"] == "Microseconds" for p in latency)
    assert all(0 < p["Average"] <= p["ExtendedStatistics"]["p99"] <= p["Maximum"] * 1.01 for p in latency)
    assert stat("OverheadLatency", "SampleCount") == 21
    until(lambda: stat("ModelSetupTime", "SampleCount") == 2)  # each instance, from its start to serving
    assert 0 < stat("ModelSetupTime", "Maximum") < 240e6  # type: ignore[operator]
    until(lambda: stat("CPUUtilization", "SampleCount", "/aws/sagemaker/Endpoints"))
    assert stat("MemoryUtilization", "Average", "/aws/sagemaker/Endpoints") > 0  # type: ignore[operator]
    listed = cw.list_metrics(Namespace="AWS/SageMaker", Dimensions=[{"Name": "EndpointName", "Value": endpoint}])
    assert {"Invocations", "ModelLatency", "OverheadLatency", "InvocationsPerInstance"} <= {
        m["MetricName"] for m in listed["Metrics"]
    }

    # An idle period still reports zero invocations, so a scaling policy sees traffic stop.
    quiet = now()
    until(
        lambda: any(
            p["Sum"] == 0
            for p in cw.get_metric_statistics(
                Namespace="AWS/SageMaker",
                MetricName="Invocations",
                Dimensions=dims,
                StartTime=quiet + timedelta(seconds=1),
                EndTime=now() + timedelta(seconds=5),
                Period=1,
                Statistics=["Sum"],
            )["Datapoints"]
        )
    )

    # The same counts as Prometheus totals.
    with urllib.request.urlopen(f"{fast.url}/metrics") as reply:
        text = reply.read().decode()
    assert f'homeport_invocations_total{{endpoint="{endpoint}",variant="v1"}} 21.0' in text
    assert f'homeport_invocation_errors_total{{class="4xx",endpoint="{endpoint}",variant="v1"}} 1.0' in text
    assert f'homeport_healthy_instances{{endpoint="{endpoint}",variant="v1"}} 2.0' in text
    sm.delete_endpoint(EndpointName=endpoint)


def test_the_cbor_protocol_serves_the_same_api(fast: ServerProcess, cw: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 sends JSON 1.0 today; SDKs that rank Smithy RPC v2 CBOR first get the same answers and errors."""
    order = botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS
    monkeypatch.setattr(botocore.model, "PRIORITY_ORDERED_SUPPORTED_PROTOCOLS", ("smithy-rpc-v2-cbor", *order))
    cbor = boto_client("cloudwatch", fast.url)
    assert cbor.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
    name = unique("cbor")
    at = now() - timedelta(minutes=1)
    cbor.put_metric_data(Namespace=NS, MetricData=[{"MetricName": name, "Timestamp": at, "Value": 7.0}])
    points = cbor.get_metric_statistics(
        Namespace=NS,
        MetricName=name,
        StartTime=at - timedelta(minutes=1),
        EndTime=at + timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    assert [p["Sum"] for p in points] == [7.0] and points[0]["Timestamp"] == at.replace(second=0, microsecond=0)
    assert cw.list_metrics(Namespace=NS, MetricName=name)["Metrics"]  # and JSON sees what CBOR wrote
    with pytest.raises(ClientError) as raised:
        cbor.delete_alarms(AlarmNames=["never-made"])
    assert code(raised) == "ResourceNotFound"
    bad = boto3_client_with_wrong_secret(fast.url)
    with pytest.raises(ClientError) as raised:
        bad.list_metrics()
    assert code(raised) in ("InvalidSignatureException", "SignatureDoesNotMatch")


def boto3_client_with_wrong_secret(url: str) -> Any:
    import boto3

    return boto3.client(
        "cloudwatch",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="homeport",
        aws_secret_access_key="wrong",
    )


def test_metric_math_in_get_metric_data_and_in_an_alarm(cw: Any) -> None:
    errors, requests = unique("errors"), unique("requests")
    at = now().replace(microsecond=0) - timedelta(minutes=3)
    data = [
        {"MetricName": errors, "Timestamp": at, "Value": 2.0},
        {"MetricName": requests, "Timestamp": at, "Value": 40.0},
        {"MetricName": errors, "Timestamp": at + timedelta(minutes=1), "Value": 5.0},
        {"MetricName": requests, "Timestamp": at + timedelta(minutes=1), "Value": 50.0},
    ]
    cw.put_metric_data(Namespace=NS, MetricData=data)

    def stat(qid: str, name: str) -> dict[str, Any]:
        metric = {"Namespace": NS, "MetricName": name}
        return {"Id": qid, "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Sum"}, "ReturnData": False}

    reply = cw.get_metric_data(
        MetricDataQueries=[
            stat("e", errors),
            stat("r", requests),
            {"Id": "rate", "Expression": "100 * e / r", "Label": "error rate"},
            {"Id": "total", "Expression": "SUM(METRICS())"},
        ],
        StartTime=at - timedelta(minutes=1),
        EndTime=at + timedelta(minutes=3),
        ScanBy="TimestampAscending",
    )["MetricDataResults"]
    assert [r["Id"] for r in reply] == ["rate", "total"]  # ReturnData false hides the inputs
    rate, total = reply
    assert rate["Label"] == "error rate" and rate["Values"] == pytest.approx([5.0, 10.0])
    assert total["Values"] == [42.0, 55.0]
    with pytest.raises(ClientError) as raised:
        cw.get_metric_data(
            MetricDataQueries=[stat("e", errors), {"Id": "bad", "Expression": "e / nowhere"}],
            StartTime=at,
            EndTime=at + timedelta(minutes=1),
        )
    assert code(raised) == "InvalidParameterValue" and "nowhere" in raised.value.response["Error"]["Message"]

    # An alarm on an expression: twice the queue's depth above 50.
    depth, alarm = unique("depth"), unique("math-alarm")
    metrics = [
        {
            "Id": "d",
            "MetricStat": {"Metric": {"Namespace": NS, "MetricName": depth}, "Period": 1, "Stat": "Maximum"},
            "ReturnData": False,
        },
        {"Id": "doubled", "Expression": "d * 2", "ReturnData": True},
    ]
    base = {"AlarmName": alarm, "EvaluationPeriods": 1, "Threshold": 50.0, "ComparisonOperator": "GreaterThanThreshold"}
    for bad in (
        {"Metrics": [{**m, "ReturnData": True} for m in metrics]},  # two queries would be the alarm's data
        {"Metrics": metrics, "MetricName": depth},
        {"Metrics": [metrics[0], {"Id": "x", "Expression": "d +", "ReturnData": True}]},
    ):
        with pytest.raises(ClientError) as raised:
            cw.put_metric_alarm(**base, **bad)
        assert code(raised) in ("InvalidParameterValue", "InvalidParameterCombination"), bad
    cw.put_metric_alarm(**base, Metrics=metrics)

    def deep() -> bool:
        cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": depth, "Value": 30.0, "StorageResolution": 1}])
        return alarm_state(cw, alarm) == "ALARM"

    until(deep)
    assert cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["Metrics"][1]["Expression"] == "d * 2"
    cw.delete_alarms(AlarmNames=[alarm])


def test_the_query_protocol_of_older_clients_serves_the_same_api(
    fast: ServerProcess, cw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore before CloudWatch's JSON support (and AWS CLI v1 of that time) sends form-encoded query requests."""
    monkeypatch.setattr(botocore.model, "PRIORITY_ORDERED_SUPPORTED_PROTOCOLS", ("query",))
    old = boto_client("cloudwatch", fast.url)
    assert old.meta.service_model.resolved_protocol == "query"
    name, alarm = unique("legacy"), unique("legacy-alarm")
    at = now().replace(microsecond=0) - timedelta(minutes=2)
    dims = [{"Name": "Host", "Value": "a"}]
    old.put_metric_data(
        Namespace=NS,
        MetricData=[
            {"MetricName": name, "Dimensions": dims, "Timestamp": at, "Values": [1.0, 3.0], "Counts": [1.0, 2.0]}
        ],
    )
    (point,) = old.get_metric_statistics(
        Namespace=NS,
        MetricName=name,
        Dimensions=dims,
        StartTime=at - timedelta(minutes=1),
        EndTime=at + timedelta(minutes=1),
        Period=120,
        Statistics=["SampleCount", "Sum", "Maximum"],
        ExtendedStatistics=["p50"],
    )["Datapoints"]
    assert (point["SampleCount"], point["Sum"], point["Maximum"]) == (3.0, 7.0, 3.0)
    assert point["ExtendedStatistics"]["p50"] == 3.0 and point["Timestamp"].tzinfo is not None
    assert cw.list_metrics(Namespace=NS, MetricName=name)["Metrics"][0]["Dimensions"] == dims  # JSON sees it too
    listed = old.list_metrics(Namespace=NS, MetricName=name)["Metrics"]
    assert listed == [{"Namespace": NS, "MetricName": name, "Dimensions": dims}]
    old.put_metric_alarm(
        AlarmName=alarm,
        Namespace=NS,
        MetricName=name,
        Dimensions=dims,
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=2,
        Threshold=5.0,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[],
    )
    (described,) = old.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert (described["Threshold"], described["EvaluationPeriods"], described["Dimensions"]) == (5.0, 2, dims)
    assert described["ActionsEnabled"] is True and described["AlarmActions"] == []
    with pytest.raises(ClientError) as raised:
        old.get_metric_statistics(
            Namespace=NS, MetricName=name, StartTime=at, EndTime=at + timedelta(minutes=1), Period=7, Statistics=["Sum"]
        )
    assert code(raised) == "InvalidParameterValue" and "Period" in raised.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as raised:
        old.delete_alarms(AlarmNames=["never-made"])
    assert code(raised) == "ResourceNotFound"
    old.delete_alarms(AlarmNames=[alarm])
    assert old.describe_alarms(AlarmNames=[alarm])["MetricAlarms"] == []
    monkeypatch.setattr(botocore.model, "PRIORITY_ORDERED_SUPPORTED_PROTOCOLS", ("query",))
    with pytest.raises(ClientError) as raised:  # a refused signature, in the XML the client reads
        boto3_client_with_wrong_secret(fast.url).list_metrics()
    assert code(raised) == "InvalidSignatureException"


def test_pages_of_metric_data_alarms_and_history(cw: Any) -> None:
    name = unique("paged")
    at = now().replace(second=0, microsecond=0) - timedelta(minutes=10)
    cw.put_metric_data(
        Namespace=NS,
        MetricData=[{"MetricName": name, "Timestamp": at + timedelta(minutes=i), "Value": float(i)} for i in range(5)],
    )
    query = {
        "Id": "m",
        "MetricStat": {"Metric": {"Namespace": NS, "MetricName": name}, "Period": 60, "Stat": "Sum"},
    }
    window = {"StartTime": at, "EndTime": at + timedelta(minutes=5), "ScanBy": "TimestampAscending"}
    values, token, pages = [], None, 0
    while True:
        reply = cw.get_metric_data(
            MetricDataQueries=[query], MaxDatapoints=2, **window, **({"NextToken": token} if token else {})
        )
        (result,) = reply["MetricDataResults"]
        values += result["Values"]
        pages += 1
        token = reply.get("NextToken")
        if not token:
            assert result["StatusCode"] == "Complete"
            break
        assert result["StatusCode"] == "PartialData"
    assert (values, pages) == ([0.0, 1.0, 2.0, 3.0, 4.0], 3)

    prefix = unique("paged-alarm")
    for i in range(3):
        cw.put_metric_alarm(
            AlarmName=f"{prefix}-{i}",
            Namespace=NS,
            MetricName=name,
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanThreshold",
        )
    first = cw.describe_alarms(AlarmNamePrefix=prefix, MaxRecords=2)
    second = cw.describe_alarms(AlarmNamePrefix=prefix, MaxRecords=2, NextToken=first["NextToken"])
    assert [a["AlarmName"] for a in first["MetricAlarms"] + second["MetricAlarms"]] == [
        f"{prefix}-{i}" for i in range(3)
    ]
    assert "NextToken" not in second
    history = cw.describe_alarm_history(AlarmName=f"{prefix}-0", HistoryItemType="ConfigurationUpdate", MaxRecords=1)
    assert len(history["AlarmHistoryItems"]) == 1 and "NextToken" not in history
    with pytest.raises(ClientError) as raised:
        cw.describe_alarms(AlarmNamePrefix=prefix, NextToken="not-ours")
    assert code(raised) == "InvalidNextToken"
    cw.delete_alarms(AlarmNames=[f"{prefix}-{i}" for i in range(3)])
