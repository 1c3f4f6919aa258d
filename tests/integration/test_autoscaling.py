"""Application Auto Scaling, driven by boto3's `application-autoscaling` client against a real `homeport serve`
with a one-second metric period: targets, policies and their alarms, scheduled actions, and endpoints that
scale out under load, back in when it stops, and (async) down to zero and up again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from homeport.server.process import ServerProcess
from tests.conftest import KEYS, XGBOOST_IMAGE, assert_scores, boto_client, csv_rows, deploy, unique
from tests.integration.test_async_inference import deploy_async, result
from tests.integration.test_lifecycle import Traffic, until

DIMENSION = "sagemaker:variant:DesiredInstanceCount"


@pytest.fixture(scope="module")
def clients(fast: ServerProcess) -> dict[str, Any]:
    return {
        service: boto_client(service, fast.url)
        for service in ("sagemaker", "sagemaker-runtime", "application-autoscaling", "cloudwatch", "s3")
    }


def resource(endpoint: str, variant: str = "v1") -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def counts(sm: Any, endpoint: str) -> tuple[int, int]:
    """(current, desired) instance counts of the endpoint's only variant."""
    (variant,) = sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"]
    return variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]


def activities(aas: Any, endpoint: str) -> list[dict[str, Any]]:
    reply = aas.describe_scaling_activities(ServiceNamespace="sagemaker", ResourceId=resource(endpoint))
    return list(reply["ScalingActivities"])


def code(raised: pytest.ExceptionInfo[ClientError]) -> str:
    return str(raised.value.response["Error"]["Code"])


def test_targets_policies_and_schedules_round_trip_and_refuse_bad_input(
    clients: dict[str, Any], xgb_model: dict[str, Any]
) -> None:
    sm, aas, cw = clients["sagemaker"], clients["application-autoscaling"], clients["cloudwatch"]
    endpoint = deploy(sm, xgb_model["url"])["endpoint"]
    rid = resource(endpoint)
    common = {"ServiceNamespace": "sagemaker", "ResourceId": rid, "ScalableDimension": DIMENSION}

    refused = [
        (
            {**common, "ResourceId": resource("no-such-endpoint"), "MinCapacity": 1, "MaxCapacity": 2},
            "ValidationException",
        ),
        ({**common, "ResourceId": "endpoint/x", "MinCapacity": 1, "MaxCapacity": 2}, "ValidationException"),
        ({**common, "MinCapacity": 0, "MaxCapacity": 2}, "ValidationException"),  # real-time: at least 1
        ({**common, "MinCapacity": 3, "MaxCapacity": 2}, "ValidationException"),
        (
            {
                **common,
                "ScalableDimension": "sagemaker:variant:DesiredProvisionedConcurrency",
                "MinCapacity": 1,
                "MaxCapacity": 2,
            },
            "ValidationException",
        ),
    ]
    for params, expected in refused:
        with pytest.raises(ClientError) as raised:
            aas.register_scalable_target(**params)
        assert code(raised) == expected, params
    assert aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[rid])["ScalableTargets"] == []

    tracking = {
        "TargetValue": 100.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
    }
    with pytest.raises(ClientError) as raised:  # no target registered yet
        aas.put_scaling_policy(
            PolicyName="p",
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration=tracking,
            **common,
        )
    assert code(raised) == "ObjectNotFoundException"

    arn = aas.register_scalable_target(**common, MinCapacity=1, MaxCapacity=3)["ScalableTargetARN"]
    (target,) = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[rid])["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"], target["ScalableTargetARN"]) == (1, 3, arn)
    assert target["SuspendedState"] == {
        "DynamicScalingInSuspended": False,
        "DynamicScalingOutSuspended": False,
        "ScheduledScalingSuspended": False,
    }
    # Registering again changes only what is given: suspension on, capacities kept.
    aas.register_scalable_target(**common, SuspendedState={"DynamicScalingOutSuspended": True})
    (again,) = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[rid])["ScalableTargets"]
    assert (again["MinCapacity"], again["MaxCapacity"], again["ScalableTargetARN"]) == (1, 3, arn)
    assert again["SuspendedState"]["DynamicScalingOutSuspended"] is True
    assert again["SuspendedState"]["DynamicScalingInSuspended"] is False

    made = aas.put_scaling_policy(
        PolicyName="per-instance",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=tracking,
        **common,
    )
    assert ":scalingPolicy:" in made["PolicyARN"] and made["PolicyARN"].endswith(f"{rid}:policyName/per-instance")
    names = sorted(a["AlarmName"] for a in made["Alarms"])
    assert [n.split("-")[-6] for n in names] == ["AlarmHigh", "AlarmLow"]
    alarms = cw.describe_alarms(AlarmNames=names)["MetricAlarms"]
    high = next(a for a in alarms if "AlarmHigh" in a["AlarmName"])
    assert (high["MetricName"], high["Statistic"], high["EvaluationPeriods"]) == ("InvocationsPerInstance", "Sum", 3)
    assert high["AlarmActions"] == [made["PolicyARN"]]
    (policy,) = aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=rid)["ScalingPolicies"]
    assert policy["PolicyName"] == "per-instance" and policy["Alarms"] == made["Alarms"]

    bad_policies = [
        (
            {
                "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": 1.0,
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "SageMakerVariantProvisionedConcurrencyUtilization"
                    },
                },
            },
            "ValidationException",
        ),
        (
            {
                "PolicyType": "StepScaling",
                "StepScalingPolicyConfiguration": {
                    "AdjustmentType": "ChangeInCapacity",
                    "StepAdjustments": [
                        {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 10, "ScalingAdjustment": 1},
                        {"MetricIntervalLowerBound": 5, "ScalingAdjustment": 2},
                    ],
                },
            },
            "ValidationException",
        ),
        ({"PolicyType": "StepScaling"}, "ValidationException"),
    ]
    for params, expected in bad_policies:
        with pytest.raises(ClientError) as raised:
            aas.put_scaling_policy(PolicyName="bad", **common, **params)
        assert code(raised) == expected, params

    with pytest.raises(ClientError) as raised:
        aas.put_scheduled_action(
            ScheduledActionName="s", Schedule="cron(0 9 * * * *)", ScalableTargetAction={"MinCapacity": 2}, **common
        )
    assert code(raised) == "ValidationException" and "cron" in raised.value.response["Error"]["Message"]
    aas.put_scheduled_action(
        ScheduledActionName="mornings",
        Schedule="cron(0 9 ? * MON-FRI *)",
        Timezone="Europe/Paris",
        ScalableTargetAction={"MinCapacity": 2, "MaxCapacity": 3},
        **common,
    )
    (scheduled,) = aas.describe_scheduled_actions(ServiceNamespace="sagemaker", ResourceId=rid)["ScheduledActions"]
    assert scheduled["Schedule"] == "cron(0 9 ? * MON-FRI *)" and scheduled["Timezone"] == "Europe/Paris"

    with pytest.raises(ClientError) as raised:
        aas.delete_scaling_policy(PolicyName="never-made", **common)
    assert code(raised) == "ObjectNotFoundException"
    aas.delete_scaling_policy(PolicyName="per-instance", **common)
    assert cw.describe_alarms(AlarmNames=names)["MetricAlarms"] == []  # its alarms went with it
    aas.delete_scheduled_action(ScheduledActionName="mornings", **common)
    aas.deregister_scalable_target(**common)
    with pytest.raises(ClientError) as raised:
        aas.deregister_scalable_target(**common)
    assert code(raised) == "ObjectNotFoundException"
    sm.delete_endpoint(EndpointName=endpoint)


def test_target_tracking_scales_out_under_load_and_back_in_when_it_stops(
    clients: dict[str, Any], xgb_model: dict[str, Any]
) -> None:
    sm, runtime, aas = clients["sagemaker"], clients["sagemaker-runtime"], clients["application-autoscaling"]
    endpoint = deploy(sm, xgb_model["url"])["endpoint"]
    common = {"ServiceNamespace": "sagemaker", "ResourceId": resource(endpoint), "ScalableDimension": DIMENSION}
    aas.register_scalable_target(**common, MinCapacity=1, MaxCapacity=3)
    aas.put_scaling_policy(
        PolicyName="busy",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 600.0,  # invocations per instance per minute: 10 a second
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "ScaleOutCooldown": 0,
            "ScaleInCooldown": 0,
        },
        **common,
    )
    with Traffic(runtime, endpoint, csv_rows(xgb_model["x"][:1]), threads=2) as traffic:
        # Far more than 10 requests a second for 3 periods: AlarmHigh fires and the variant goes to its maximum.
        until(lambda: counts(sm, endpoint) == (3, 3), timeout=60)
    assert not traffic.failures
    # In progress until the instances serve, then Successful.
    until(lambda: activities(aas, endpoint)[0]["StatusCode"] == "Successful")
    out = activities(aas, endpoint)[0]
    assert out["Description"] == "Setting desired instance count to 3." and out["EndTime"] >= out["StartTime"]
    assert out["StatusMessage"].startswith("Successfully set desired instance count to 3.")
    assert "AlarmHigh" in out["Cause"] and "triggered policy busy" in out["Cause"]

    # Idle for 15 periods: AlarmLow fires and the variant goes back to its minimum.
    until(lambda: counts(sm, endpoint) == (1, 1), timeout=60)
    back = activities(aas, endpoint)[0]
    assert back["Description"] == "Setting desired instance count to 1." and "AlarmLow" in back["Cause"]
    sm.delete_endpoint(EndpointName=endpoint)


def test_a_scheduled_action_raises_the_minimum_and_the_endpoint_follows(
    clients: dict[str, Any], xgb_model: dict[str, Any]
) -> None:
    sm, aas = clients["sagemaker"], clients["application-autoscaling"]
    endpoint = deploy(sm, xgb_model["url"])["endpoint"]
    common = {"ServiceNamespace": "sagemaker", "ResourceId": resource(endpoint), "ScalableDimension": DIMENSION}
    aas.register_scalable_target(**common, MinCapacity=1, MaxCapacity=4)
    soon = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S")
    aas.put_scheduled_action(
        ScheduledActionName="rush", Schedule=f"at({soon})", ScalableTargetAction={"MinCapacity": 2}, **common
    )
    until(lambda: counts(sm, endpoint) == (2, 2), timeout=30)
    (target,) = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource(endpoint)])[
        "ScalableTargets"
    ]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 4)
    causes = [a["Cause"] for a in activities(aas, endpoint)]
    assert "scheduled action name rush was triggered" in causes and "minimum capacity was set to 2" in causes
    sm.delete_endpoint(EndpointName=endpoint)


def test_an_async_endpoint_scales_to_zero_by_policy_and_back_with_work(
    clients: dict[str, Any], bucket_fast: str, xgb_model: dict[str, Any]
) -> None:
    sm, runtime, aas, s3 = (clients[k] for k in ("sagemaker", "sagemaker-runtime", "application-autoscaling", "s3"))
    endpoint = deploy_async(sm, xgb_model["url"], bucket_fast, image=XGBOOST_IMAGE)
    common = {"ServiceNamespace": "sagemaker", "ResourceId": resource(endpoint), "ScalableDimension": DIMENSION}
    aas.register_scalable_target(**common, MinCapacity=0, MaxCapacity=2)
    aas.put_scaling_policy(
        PolicyName="backlog",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 5.0,
            "CustomizedMetricSpecification": {
                "MetricName": "ApproximateBacklogSizePerInstance",
                "Namespace": "AWS/SageMaker",
                "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
                "Statistic": "Average",
            },
            # Long enough that the instance a request starts is not scaled away again before it has worked.
            "ScaleInCooldown": 60,
        },
        **common,
    )
    until(lambda: counts(sm, endpoint) == (0, 0), timeout=60)  # no backlog for 15 periods
    assert "AlarmLow" in activities(aas, endpoint)[0]["Cause"]

    x = xgb_model["x"][:5]
    s3.put_object(Bucket=bucket_fast, Key="zero/rows.csv", Body=csv_rows(x))
    reply = runtime.invoke_endpoint_async(
        EndpointName=endpoint, InputLocation=f"s3://{bucket_fast}/zero/rows.csv", ContentType="text/csv"
    )
    kind, body = result(s3, reply)
    assert kind == "output"
    assert_scores(body, xgb_model, x)
    sm.delete_endpoint(EndpointName=endpoint)


@pytest.fixture
def bucket_fast(clients: dict[str, Any]) -> str:
    name = unique("bucket")
    clients["s3"].create_bucket(Bucket=name)
    return name


def test_step_scaling_runs_while_its_alarm_is_in_alarm(clients: dict[str, Any], xgb_model: dict[str, Any]) -> None:
    sm, aas, cw = clients["sagemaker"], clients["application-autoscaling"], clients["cloudwatch"]
    endpoint = deploy(sm, xgb_model["url"])["endpoint"]
    common = {"ServiceNamespace": "sagemaker", "ResourceId": resource(endpoint), "ScalableDimension": DIMENSION}
    aas.register_scalable_target(**common, MinCapacity=1, MaxCapacity=3)
    arn = aas.put_scaling_policy(
        PolicyName="queue-depth",
        PolicyType="StepScaling",
        StepScalingPolicyConfiguration={
            "AdjustmentType": "ChangeInCapacity",
            "StepAdjustments": [
                {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 100, "ScalingAdjustment": 1},
                {"MetricIntervalLowerBound": 100, "ScalingAdjustment": 2},
            ],
            "Cooldown": 60,
        },
        **common,
    )["PolicyARN"]
    metric = unique("depth")
    cw.put_metric_alarm(
        AlarmName=unique("deep-queue"),
        Namespace="Homeport/Tests",
        MetricName=metric,
        Statistic="Maximum",
        Period=1,
        EvaluationPeriods=1,
        Threshold=10.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        AlarmActions=[arn],
    )

    def deep() -> bool:
        cw.put_metric_data(
            Namespace="Homeport/Tests", MetricData=[{"MetricName": metric, "Value": 50.0, "StorageResolution": 1}]
        )
        return counts(sm, endpoint) == (2, 2)

    until(deep, timeout=30)  # 50 is 40 over the threshold: the first step, +1
    (activity,) = [a for a in activities(aas, endpoint) if "queue-depth" in a["Cause"]]
    assert activity["Description"] == "Setting desired instance count to 2." and "deep-queue" in activity["Cause"]
    # Still in ALARM for three more periods (the endpoint's idle Invocations show the periods passing), but inside
    # the policy's 60 s cooldown: no second step.
    since = datetime.now(UTC)

    def periods_passed() -> bool:
        cw.put_metric_data(
            Namespace="Homeport/Tests", MetricData=[{"MetricName": metric, "Value": 50.0, "StorageResolution": 1}]
        )
        points = cw.get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName="Invocations",
            Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "v1"}],
            StartTime=since,
            EndTime=datetime.now(UTC) + timedelta(seconds=5),
            Period=1,
            Statistics=["Sum"],
        )["Datapoints"]
        return len(points) >= 3

    until(periods_passed, timeout=30)
    assert len([a for a in activities(aas, endpoint) if "queue-depth" in a["Cause"]]) == 1
    assert counts(sm, endpoint) == (2, 2)
    sm.delete_endpoint(EndpointName=endpoint)


def test_target_tracking_on_a_metric_math_expression(clients: dict[str, Any], xgb_model: dict[str, Any]) -> None:
    sm, aas, cw = clients["sagemaker"], clients["application-autoscaling"], clients["cloudwatch"]
    endpoint = deploy(sm, xgb_model["url"])["endpoint"]
    common = {"ServiceNamespace": "sagemaker", "ResourceId": resource(endpoint), "ScalableDimension": DIMENSION}
    aas.register_scalable_target(**common, MinCapacity=1, MaxCapacity=2)
    waiting, workers = unique("waiting"), unique("workers")
    stat = {"Stat": "Maximum"}
    made = aas.put_scaling_policy(
        PolicyName="per-worker",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 10.0,
            "CustomizedMetricSpecification": {
                "Metrics": [
                    {
                        "Id": "w",
                        "MetricStat": {"Metric": {"Namespace": "Homeport/Tests", "MetricName": waiting}, **stat},
                        "ReturnData": False,
                    },
                    {
                        "Id": "k",
                        "MetricStat": {"Metric": {"Namespace": "Homeport/Tests", "MetricName": workers}, **stat},
                        "ReturnData": False,
                    },
                    {"Id": "per_worker", "Expression": "w / k", "ReturnData": True},
                ]
            },
            "ScaleOutCooldown": 0,
        },
        **common,
    )
    alarms = cw.describe_alarms(AlarmNames=[a["AlarmName"] for a in made["Alarms"]])["MetricAlarms"]
    assert all(a["Metrics"][0]["MetricStat"]["Period"] == 1 and "MetricName" not in a for a in alarms)

    def busy() -> bool:
        cw.put_metric_data(
            Namespace="Homeport/Tests",
            MetricData=[
                {"MetricName": waiting, "Value": 60.0, "StorageResolution": 1},
                {"MetricName": workers, "Value": 2.0, "StorageResolution": 1},
            ],
        )
        return counts(sm, endpoint) == (2, 2)

    until(busy, timeout=30)  # 30 waiting per worker, three times the target: as many instances as allowed
    assert "per-worker" in activities(aas, endpoint)[0]["Cause"]
    with pytest.raises(ClientError) as raised:
        aas.put_scaling_policy(
            PolicyName="two-answers",
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 1.0,
                "CustomizedMetricSpecification": {
                    "Metrics": [
                        {"Id": "a", "Expression": "1", "ReturnData": True},
                        {"Id": "b", "Expression": "2", "ReturnData": True},
                    ]
                },
            },
            **common,
        )
    assert code(raised) == "ValidationException"
    sm.delete_endpoint(EndpointName=endpoint)


def test_metrics_alarms_and_scaling_survive_a_restart(tmp_path: Path, xgb_model: dict[str, Any]) -> None:
    """Stopped and started on the same data directory: points, alarms (with their history), scalable targets
    and policies are all still there, and the autoscaler acts on them again."""
    env = {"HOMEPORT_LOG_LEVEL": "warning", "HOMEPORT_METRIC_PERIOD_SECONDS": "1", **KEYS}
    data_dir = tmp_path / "data"
    metric, alarm = unique("kept"), unique("kept-alarm")
    at = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    with ServerProcess(data_dir, env=env) as server:
        sm, aas, cw = (boto_client(s, server.url) for s in ("sagemaker", "application-autoscaling", "cloudwatch"))
        endpoint = deploy(sm, xgb_model["url"])["endpoint"]
        common = {"ServiceNamespace": "sagemaker", "ResourceId": resource(endpoint), "ScalableDimension": DIMENSION}
        aas.register_scalable_target(**common, MinCapacity=1, MaxCapacity=2)
        arn = aas.put_scaling_policy(
            PolicyName="kept",
            PolicyType="StepScaling",
            StepScalingPolicyConfiguration={
                "AdjustmentType": "ExactCapacity",
                "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 2}],
            },
            **common,
        )["PolicyARN"]
        cw.put_metric_data(
            Namespace="Homeport/Tests", MetricData=[{"MetricName": metric, "Timestamp": at, "Value": 7.0}]
        )
        cw.put_metric_alarm(
            AlarmName=alarm,
            Namespace="Homeport/Tests",
            MetricName=metric,
            Statistic="Maximum",
            Period=1,
            EvaluationPeriods=1,
            Threshold=10.0,
            ComparisonOperator="GreaterThanThreshold",
            AlarmActions=[arn],
        )
    with ServerProcess(data_dir, env=env) as server:
        sm, aas, cw = (boto_client(s, server.url) for s in ("sagemaker", "application-autoscaling", "cloudwatch"))
        (point,) = cw.get_metric_statistics(
            Namespace="Homeport/Tests",
            MetricName=metric,
            StartTime=at,
            EndTime=at + timedelta(minutes=1),
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        assert point["Maximum"] == 7.0
        assert cw.list_metrics(Namespace="Homeport/Tests", MetricName=metric)["Metrics"]
        created = cw.describe_alarm_history(AlarmName=alarm, HistoryItemType="ConfigurationUpdate")
        assert created["AlarmHistoryItems"][0]["HistorySummary"] == f'Alarm "{alarm}" created'
        (target,) = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource(endpoint)])[
            "ScalableTargets"
        ]
        assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 2)
        (policy,) = aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource(endpoint))[
            "ScalingPolicies"
        ]
        assert policy["PolicyARN"] == arn

        def breaching() -> bool:  # the kept alarm, evaluated by the new server, runs the kept policy
            cw.put_metric_data(
                Namespace="Homeport/Tests", MetricData=[{"MetricName": metric, "Value": 50.0, "StorageResolution": 1}]
            )
            return counts(sm, endpoint) == (2, 2)

        until(breaching, timeout=60)
