"""`homeport scaling` and `homeport metrics` against a real server with a one-second metric period; and their pure
parts (sparklines, the GetMetricData queries, the instance count rebuilt from scaling activities) on their own."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from homeport.cli import main as cli
from homeport.cli.metrics import (
    ENDPOINT_WIDE,
    SPECS,
    Series,
    endpoint_kind,
    instance_steps,
    metric_queries,
    sample,
    select,
    slotted,
    sparkline,
    window,
)
from homeport.cli.scaling import number, policy_summary
from homeport.server.process import ServerProcess
from tests.conftest import XGBOOST_IMAGE, boto_client, csv_rows, deploy, unique
from tests.integration.test_async_inference import deploy_async
from tests.integration.test_cli import homeport
from tests.integration.test_lifecycle import until

REALTIME = [
    "Invocations",
    "InvocationsPerInstance",
    "ModelLatency",
    "ModelLatency p99",
    "OverheadLatency",
    "Invocation4XXErrors",
    "Invocation5XXErrors",
    "CPUUtilization",
    "MemoryUtilization",
]
BACKLOG = ["ApproximateBacklogSize", "ApproximateBacklogSizePerInstance", "HasBacklogWithoutCapacity"]
SERVERLESS = [
    "ModelSetupTime",
    "ServerlessConcurrentExecutionsUtilization Maximum",
    "ServerlessProvisionedConcurrencyUtilization Maximum",
]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def clients(fast: ServerProcess) -> dict[str, Any]:
    return {
        service: boto_client(service, fast.url)
        for service in ("sagemaker", "sagemaker-runtime", "application-autoscaling", "s3")
    }


def polled(url: str, *args: str, ready: Any) -> dict[str, Any]:
    """Run `homeport ARGS --json` until `ready` holds for its document; return that document."""
    seen: dict[str, Any] = {}

    def look() -> bool:
        out = homeport(*args, "--json", url=url)
        assert out.returncode == 0, out.stderr
        seen["doc"] = json.loads(out.stdout)
        return bool(ready(seen["doc"]))

    until(look, timeout=30)
    return seen["doc"]


# --- against a server --------------------------------------------------------------------------------------------


def test_metrics_count_the_invocations_and_chart_them(
    fast: ServerProcess, clients: dict[str, Any], xgb_model: dict[str, Any], tmp_path: Path, monkeypatch: Any
) -> None:
    endpoint = deploy(clients["sagemaker"], xgb_model["url"])["endpoint"]
    for _ in range(5):
        clients["sagemaker-runtime"].invoke_endpoint(
            EndpointName=endpoint, Body=csv_rows(xgb_model["x"][:1]), ContentType="text/csv"
        )
    window_args = ("metrics", endpoint, "--period", "1", "--minutes", "2")
    doc = polled(fast.url, *window_args, ready=lambda d: sum(d["Invocations"]["v1"]["Values"]) == 5)
    assert list(doc) == [*REALTIME, "DesiredInstanceCount"]
    times = [datetime.fromisoformat(t) for t in doc["Invocations"]["v1"]["Timestamps"]]
    assert times == sorted(times) and len(times) == len(doc["Invocations"]["v1"]["Values"])
    assert doc["ModelLatency"]["v1"]["Values"] and all(v > 0 for v in doc["ModelLatency"]["v1"]["Values"])
    assert doc["Invocation5XXErrors"]["v1"]["Values"] and not any(doc["Invocation5XXErrors"]["v1"]["Values"])
    assert doc["DesiredInstanceCount"]["v1"]["Values"] == [1, 1]  # never scaled: one instance throughout

    monkeypatch.setenv("COLUMNS", "160")  # rich's width: a whole row on one line
    shown = homeport(*window_args, url=fast.url)
    assert shown.returncode == 0, shown.stderr
    lines = {}
    for line in shown.stdout.splitlines():
        lines["ModelLatency p99" if line.startswith("ModelLatency p99") else line.split(" ")[0]] = line
    assert {*REALTIME, "DesiredInstanceCount"} <= set(lines)
    assert "█" in lines["Invocations"] and "ms" in lines["ModelLatency p99"]
    assert lines["DesiredInstanceCount"].split()[-4:] == ["1", "1", "1", "1"]

    png = tmp_path / "chart.png"
    saved = homeport(*window_args, "--metric", "Invocations", "ModelLatency", "--png", str(png), url=fast.url)
    assert saved.returncode == 0, saved.stderr
    assert f"chart saved to {png}" in saved.stdout and "CPUUtilization" not in saved.stdout
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_metrics_of_a_serverless_endpoint_show_its_cold_starts_and_concurrency(
    fast: ServerProcess, clients: dict[str, Any], xgb_model: dict[str, Any]
) -> None:
    from tests.integration.test_serverless import deploy_serverless
    from tests.integration.test_transform_jobs import create_model

    sm = clients["sagemaker"]
    endpoint = deploy_serverless(sm, create_model(sm, xgb_model["url"], image=XGBOOST_IMAGE))
    clients["sagemaker-runtime"].invoke_endpoint(
        EndpointName=endpoint, Body=csv_rows(xgb_model["x"][:1]), ContentType="text/csv"
    )
    window_args = ("metrics", endpoint, "--period", "1", "--minutes", "2")
    doc = polled(fast.url, *window_args, ready=lambda d: d["ModelSetupTime"]["v1"]["Values"])
    assert list(doc) == [*REALTIME, *SERVERLESS]  # and no instance count
    assert all(0 < us < 30e6 for us in doc["ModelSetupTime"]["v1"]["Values"])  # CloudWatch's unit: microseconds
    utilization = doc["ServerlessConcurrentExecutionsUtilization Maximum"]["v1"]["Values"]
    assert max(utilization) == 1 / 5
    refused = homeport(*window_args, "--metric", "DesiredInstanceCount", url=fast.url)
    assert refused.returncode == 1 and "no instance count" in refused.stderr


def test_scaling_shows_the_target_its_policy_alarms_schedule_and_activities(
    fast: ServerProcess, clients: dict[str, Any], xgb_model: dict[str, Any], monkeypatch: Any
) -> None:
    sm, aas = clients["sagemaker"], clients["application-autoscaling"]
    endpoint = deploy(sm, xgb_model["url"])["endpoint"]
    (bare,) = json.loads(homeport("scaling", endpoint, "--json", url=fast.url).stdout)["Variants"]
    assert bare["ScalableTarget"] is None and bare["ScalingPolicies"] == bare["ScalingActivities"] == []

    common = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": f"endpoint/{endpoint}/variant/v1",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    aas.register_scalable_target(**common, MinCapacity=2, MaxCapacity=3)  # above its one instance: it scales out
    made = aas.put_scaling_policy(
        PolicyName="per-instance",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 100.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        },
        **common,
    )
    aas.put_scheduled_action(
        ScheduledActionName="evenings", Schedule="cron(0 18 * * ? *)", ScalableTargetAction={"MinCapacity": 1}, **common
    )
    doc = polled(  # the activity is InProgress until the second instance serves
        fast.url,
        "scaling",
        endpoint,
        ready=lambda d: [a for a in d["Variants"][0]["ScalingActivities"] if a["StatusCode"] == "Successful"],
    )
    assert doc["EndpointName"] == endpoint
    (variant,) = doc["Variants"]
    assert variant["DesiredInstanceCount"] == 2
    target = variant["ScalableTarget"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 3) and not any(target["SuspendedState"].values())
    (policy,) = variant["ScalingPolicies"]
    assert (policy["PolicyName"], policy["PolicyType"]) == ("per-instance", "TargetTrackingScaling")
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 100.0
    alarms = {a["AlarmName"]: a["StateValue"] for a in policy["Alarms"]}
    assert sorted(alarms) == sorted(a["AlarmName"] for a in made["Alarms"]) and len(alarms) == 2
    assert set(alarms.values()) <= {"OK", "ALARM", "INSUFFICIENT_DATA"}
    (action,) = variant["ScheduledActions"]
    assert (action["ScheduledActionName"], action["Schedule"]) == ("evenings", "cron(0 18 * * ? *)")
    (activity,) = variant["ScalingActivities"]
    assert (activity["Description"], activity["StatusCode"]) == ("Setting desired instance count to 2.", "Successful")

    monkeypatch.setenv("COLUMNS", "300")  # alarm names are long: keep each on one line
    shown = homeport("scaling", endpoint, url=fast.url)
    assert shown.returncode == 0, shown.stderr
    for text in ("capacity 2 to 3, suspended: nothing", "SageMakerVariantInvocationsPerInstance at 100", "evenings"):
        assert text in shown.stdout
    assert all(f"{name}: {state}" in shown.stdout for name, state in alarms.items())
    assert "Setting desired instance count to 2." in shown.stdout and "minimum capacity was set to 2" in shown.stdout

    # The activity set the count to 2 in the window; nothing says what it was before, so the steps begin there.
    counting = ("metrics", endpoint, "--period", "1", "--minutes", "1", "--metric", "DesiredInstanceCount", "--json")
    counted = json.loads(homeport(*counting, url=fast.url).stdout)
    assert list(counted) == ["DesiredInstanceCount"] and counted["DesiredInstanceCount"]["v1"]["Values"] == [2, 2]
    began = datetime.fromisoformat(counted["DesiredInstanceCount"]["v1"]["Timestamps"][0])
    assert began.strftime("%Y-%m-%d %H:%M:%S") == activity["StartTime"]  # as `scaling --json` writes a time
    sm.delete_endpoint(EndpointName=endpoint)


def test_an_asynchronous_endpoint_has_its_backlog_charted(
    fast: ServerProcess, clients: dict[str, Any], xgb_model: dict[str, Any]
) -> None:
    bucket = unique("bucket")
    clients["s3"].create_bucket(Bucket=bucket)
    endpoint = deploy_async(clients["sagemaker"], xgb_model["url"], bucket, image=XGBOOST_IMAGE)
    doc = polled(
        fast.url,
        *("metrics", endpoint, "--period", "1", "--minutes", "1"),
        ready=lambda d: d["ApproximateBacklogSize"][ENDPOINT_WIDE]["Values"],
    )
    assert list(doc) == [*REALTIME, *BACKLOG, "DesiredInstanceCount"]
    assert list(doc["HasBacklogWithoutCapacity"]) == [ENDPOINT_WIDE] and list(doc["Invocations"]) == ["v1"]
    assert not any(doc["ApproximateBacklogSize"][ENDPOINT_WIDE]["Values"])  # nothing queued


def test_unknown_endpoints_metrics_and_periods_are_refused(
    fast: ServerProcess, clients: dict[str, Any], xgb_model: dict[str, Any]
) -> None:
    for command in ("scaling", "metrics"):
        missing = homeport(command, "no-such-endpoint", url=fast.url)
        assert missing.returncode == 1 and missing.stdout == ""
        assert 'Could not find endpoint "no-such-endpoint"' in missing.stderr
    endpoint = deploy(clients["sagemaker"], xgb_model["url"])["endpoint"]
    refusals = [
        (("--metric", "ApproximateBacklogSize"), "ApproximateBacklogSize: only asynchronous endpoints have it"),
        (("--metric", "Latency"), "no metric Latency: choose from"),
        (("--period", "7"), "must be 1, 5, 10, 20, 30, or a multiple of 60"),
        (("--minutes", "0"), "--minutes and --period must be positive"),
    ]
    for args, message in refusals:
        refused = homeport("metrics", endpoint, *args, url=fast.url)
        assert refused.returncode == 1 and message in refused.stderr and refused.stdout == "", args


# --- on their own ------------------------------------------------------------------------------------------------


def test_png_without_matplotlib_says_what_to_install(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what an install without the extra looks like
    png = tmp_path / "chart.png"
    code = cli.main(["metrics", "any", "--png", str(png), "--endpoint-url", "http://127.0.0.1:9"])
    assert code == 1 and "pip install 'homeport[example]'" in capsys.readouterr().err and not png.exists()


def test_sparklines() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([None, 0, 14, None, 7]) == "·▁█·▅"
    assert sparkline([0, 0]) == "▁▁" and sparkline([3, 3]) == "██" and sparkline([None, None]) == "··"
    assert sparkline([0, 0, 7, 7, None, None], width=3) == "▁█·"  # runs averaged to fit
    assert sparkline([0, None, None, 7], width=2) == "▁█"  # a run with any value has one
    assert len(sparkline(list(range(120)), width=50)) == 40  # runs of 3


def test_the_chart_window_is_whole_collected_periods() -> None:
    assert window(1_000_030.5, 2, 1) == (999_910.0, 120)
    assert window(3_600_030.0, 15, 60) == (3_600_000.0 - 900, 15)
    assert window(3_600_030.0, 0.5, 60) == (3_599_940.0, 1)
    assert slotted(Series([100, 102, 103, 50, 500], [1, 2, 3, 9, 9]), 100, 1, 4) == [1, None, 2, 3]


def test_one_query_per_metric_and_variant() -> None:
    by_name = {(s.name, s.stat): s for s in SPECS}
    specs = [
        by_name["Invocations", "Sum"],
        by_name["CPUUtilization", "Average"],
        by_name["ApproximateBacklogSize", "Average"],
    ]
    queries = metric_queries(specs, "ep", ["a", "b"], 60)
    assert [(spec.label, variant) for spec, variant, _ in queries] == [
        ("Invocations", "a"),
        ("Invocations", "b"),
        ("CPUUtilization", "a"),
        ("CPUUtilization", "b"),
        ("ApproximateBacklogSize", ENDPOINT_WIDE),
    ]
    assert [q["Id"] for _, _, q in queries] == ["q0", "q1", "q2", "q3", "q4"]
    assert queries[1][2]["MetricStat"] == {
        "Metric": {
            "Namespace": "AWS/SageMaker",
            "MetricName": "Invocations",
            "Dimensions": [{"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": "b"}],
        },
        "Period": 60,
        "Stat": "Sum",
    }
    assert queries[2][2]["MetricStat"]["Metric"]["Namespace"] == "/aws/sagemaker/Endpoints"
    assert queries[4][2]["MetricStat"]["Metric"]["Dimensions"] == [{"Name": "EndpointName", "Value": "ep"}]


def test_which_metrics_an_endpoint_has() -> None:
    realtime, counted = select(None, "real-time")
    assert [s.label for s in realtime] == REALTIME and counted
    assert [s.label for s in select(None, "asynchronous")[0]] == [*REALTIME, *BACKLOG]
    serverless, counted = select(None, "serverless")
    assert [s.label for s in serverless] == [*REALTIME, *SERVERLESS] and not counted
    assert [(s.label, s.stat) for s in select(["ModelLatency"], "real-time")[0]] == [
        ("ModelLatency", "Average"),
        ("ModelLatency p99", "p99"),
    ]
    assert select(["ModelLatency"], "real-time")[1] is False
    assert select(["DesiredInstanceCount"], "real-time") == ([], True)
    with pytest.raises(ValueError, match="ApproximateBacklogSize: only asynchronous endpoints have it"):
        select(["Invocations", "ApproximateBacklogSize"], "serverless")
    with pytest.raises(ValueError, match="ModelSetupTime: only serverless endpoints have it"):
        select(["ModelSetupTime"], "real-time")
    with pytest.raises(ValueError, match="a serverless endpoint has no instance count"):
        select(["DesiredInstanceCount"], "serverless")
    with pytest.raises(ValueError, match="no metric Nope"):
        select(["Nope"], "asynchronous")
    assert endpoint_kind({"ProductionVariants": [{"DesiredServerlessConfig": {}}]}) == "serverless"
    assert endpoint_kind({"AsyncInferenceConfig": {}, "ProductionVariants": []}) == "asynchronous"
    assert endpoint_kind({"ProductionVariants": [{"DesiredInstanceCount": 1}]}) == "real-time"


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def sets(epoch: float, count: int, status: str = "Successful") -> dict[str, Any]:
    return {"StartTime": at(epoch), "Description": f"Setting desired instance count to {count}.", "StatusCode": status}


def test_the_instance_count_is_rebuilt_from_scaling_activities() -> None:
    assert instance_steps([], 2, 100, 200) == Series([100, 200], [2, 2])  # never scaled
    newest_first = [
        sets(170, 2),
        {
            "StartTime": at(160),
            "Description": "Setting min capacity to 2 and max capacity to 4",
            "StatusCode": "Successful",
        },
        sets(150, 4, status="Failed"),
        sets(120, 3),
        sets(50, 1),  # before the window: the count it begins with
    ]
    steps = instance_steps(newest_first, 2, 100, 200)
    assert steps == Series([100, 120, 170, 200], [1, 3, 2, 2])
    assert sample(steps, [99, 100, 119, 120, 169, 170, 200]) == [None, 1, 1, 3, 3, 2, 2]
    assert instance_steps([sets(120, 3)], 3, 100, 200) == Series([120, 200], [3, 3])  # before 120: not known
    assert instance_steps([sets(50, 3)], 1, 100, 200) == Series([100, 200], [3, 1])  # changed since by hand


def test_policies_in_one_line() -> None:
    tracking = {
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 70.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "ScaleOutCooldown": 30,
            "DisableScaleIn": True,
        }
    }
    assert (
        policy_summary(tracking) == "SageMakerVariantInvocationsPerInstance at 70, cooldown out 30 s, scale-in disabled"
    )
    steps = {
        "StepScalingPolicyConfiguration": {
            "AdjustmentType": "ChangeInCapacity",
            "StepAdjustments": [
                {"MetricIntervalUpperBound": 0, "ScalingAdjustment": -1},
                {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 10, "ScalingAdjustment": 1},
                {"MetricIntervalLowerBound": 10, "ScalingAdjustment": 2},
            ],
            "Cooldown": 60,
        }
    }
    assert policy_summary(steps) == "[-∞, 0) -1, [0, 10) +1, [10, ∞) +2; cooldown 60 s"
    assert [number(v) for v in (3.0, 1234.5, 0.0234, 0.0)] == ["3", "1,234.5", "0.023", "0"]
