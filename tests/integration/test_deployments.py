"""Blue/green deployments with boto3 against a real server: canary and linear traffic shifting under a steady
client, rollback by a CloudWatch alarm, and SageMaker's refusals."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from homeport.server.process import ServerProcess
from tests.conftest import ROLE, XGBOOST_IMAGE, boto_client, csv_rows, deploy, state_events, unique, wait_in_service


@pytest.fixture(scope="module")
def sm(fast: ServerProcess) -> Any:
    return boto_client("sagemaker", fast.url)


@pytest.fixture(scope="module")
def runtime(fast: ServerProcess) -> Any:
    return boto_client("sagemaker-runtime", fast.url)


def blue_green(
    mode: str, wait: int = 1, final: int = 1, alarms: tuple[str, ...] = (), **routing: Any
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": mode, "WaitIntervalInSeconds": wait, **routing},
            "TerminationWaitInSeconds": final,
            "MaximumExecutionTimeoutInSeconds": 600,
        }
    }
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
    return config


def new_config(sm: Any, model_url: str, count: int = 2, variant: str = "v1") -> str:
    model = unique("green-model")
    sm.create_model(
        ModelName=model, PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": model_url}, ExecutionRoleArn=ROLE
    )
    config = unique("green-config")
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {"VariantName": variant, "ModelName": model, "InitialInstanceCount": count, "InstanceType": "ml.m5.large"}
        ],
    )
    return config


def put_alarm(cw: Any, alarm: str, metric: str, period: int) -> None:
    """An alarm that goes into ALARM when the metric's maximum reaches 10 in one period."""
    cw.put_metric_alarm(
        AlarmName=alarm,
        Namespace="Homeport/Tests",
        MetricName=metric,
        Statistic="Maximum",
        Period=period,
        EvaluationPeriods=1,
        Threshold=10.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )


class SteadyClient:
    """Invokes the endpoint back to back from a thread, counting what fails."""

    def __init__(self, runtime: Any, endpoint: str, body: bytes) -> None:
        self.runtime, self.endpoint, self.body = runtime, endpoint, body
        self.ok, self.failed = 0, []  # type: ignore[var-annotated]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.runtime.invoke_endpoint(EndpointName=self.endpoint, ContentType="text/csv", Body=self.body)
                self.ok += 1
            except ClientError as exc:
                self.failed.append(exc.response["Error"])

    def __enter__(self) -> SteadyClient:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)


def watch(
    sm: Any, endpoint: str, done: Callable[[dict[str, Any]], bool], limit_s: float = 120
) -> Iterator[dict[str, Any]]:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        desc = dict(sm.describe_endpoint(EndpointName=endpoint))
        yield desc
        if done(desc):
            return
        time.sleep(0.1)
    raise AssertionError(f"endpoint {endpoint} did not get there in {limit_s:g} s")


def test_a_canary_deployment_moves_traffic_in_steps_with_no_failed_request(
    sm: Any, runtime: Any, fast: ServerProcess, xgb_model: dict[str, Any]
) -> None:
    names = deploy(sm, xgb_model["url"], count=2)
    endpoint, body = names["endpoint"], csv_rows(xgb_model["x"][:1])
    green = new_config(sm, xgb_model["url"])
    config = blue_green("CANARY", wait=2, final=1, CanarySize={"Type": "INSTANCE_COUNT", "Value": 1})
    with SteadyClient(runtime, endpoint, body) as client:
        sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=green, DeploymentConfig=config)
        seen = list(watch(sm, endpoint, lambda d: d["EndpointStatus"] == "InService"))
    assert client.failed == [] and client.ok > 0
    messages = [
        s["StatusMessage"]
        for d in seen
        for v in d.get("PendingDeploymentSummary", {}).get("ProductionVariants", [])
        for s in v["VariantStatus"]
    ]
    assert (
        "Baking for 2 seconds (WaitIntervalInSeconds) with traffic enabled on canary capacity of 1 instance(s)."
        in messages
    )
    assert (
        "Baking for 1 seconds (TerminationWaitInSeconds) with traffic enabled on full capacity of 2 instance(s)."
        in messages
    )
    during = [d for d in seen if d["EndpointStatus"] == "Updating"]
    assert during and all(d["EndpointConfigName"] == names["config"] for d in during)  # blue's, until the end
    assert {d["PendingDeploymentSummary"]["EndpointConfigName"] for d in during if "PendingDeploymentSummary" in d} == {
        green
    }
    final = seen[-1]
    assert final["EndpointConfigName"] == green and "PendingDeploymentSummary" not in final
    assert final["LastDeploymentConfig"] == config and "FailureReason" not in final
    # The new fleet's requests were also reported under its config, for an alarm that watches it alone.
    cw = boto_client("cloudwatch", fast.url)
    dims = [{"Name": "EndpointConfigName", "Value": green}, {"Name": "EndpointName", "Value": endpoint}]
    listed = cw.list_metrics(Namespace="AWS/SageMaker", MetricName="Invocations", Dimensions=dims)["Metrics"]
    assert [m["Dimensions"] for m in listed] == [[*dims, {"Name": "VariantName", "Value": "v1"}]]
    # "SageMaker Endpoint Deployment State Change" at each step: launching the new fleet, the canary's bake, the
    # full fleet's bake, each with that step's PendingDeploymentSummary.
    steps = state_events(boto_client("logs", fast.url), "endpoint-deployment", "EndpointName", endpoint)
    statuses = [
        s["Status"] for e in steps for v in e["detail"]["PendingDeploymentSummary"]["ProductionVariants"]
        for s in v["VariantStatus"]
    ]  # fmt: skip
    assert statuses == ["Creating", "Baking", "Baking"], statuses
    assert all(e["detail"]["EndpointStatus"] == "UPDATING" for e in steps)
    summary = steps[1]["detail"]["PendingDeploymentSummary"]
    assert summary["EndpointConfigName"] == green and isinstance(summary["StartTime"], int)


def test_an_alarm_rolls_a_linear_deployment_back_to_blue(
    sm: Any, runtime: Any, fast: ServerProcess, xgb_model: dict[str, Any]
) -> None:
    cw = boto_client("cloudwatch", fast.url)
    names = deploy(sm, xgb_model["url"], count=2)
    endpoint, body = names["endpoint"], csv_rows(xgb_model["x"][:1])
    metric, alarm = unique("errors"), unique("green-errors")
    put_alarm(cw, alarm, metric, period=1)
    green = new_config(sm, xgb_model["url"])
    step = {"Type": "CAPACITY_PERCENT", "Value": 50}
    config = blue_green("LINEAR", wait=200, final=200, alarms=(alarm,), LinearStepSize=step)
    with SteadyClient(runtime, endpoint, body) as client:
        sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=green, DeploymentConfig=config)

        def baking(desc: dict[str, Any]) -> bool:
            pending = desc.get("PendingDeploymentSummary", {}).get("ProductionVariants", [])
            return any(s["Status"] == "Baking" for v in pending for s in v["VariantStatus"])

        list(watch(sm, endpoint, baking))
        seen = []
        for desc in watch(sm, endpoint, lambda d: d["EndpointStatus"] == "InService", limit_s=60):
            seen.append(desc)
            cw.put_metric_data(
                Namespace="Homeport/Tests", MetricData=[{"MetricName": metric, "Value": 50.0, "StorageResolution": 1}]
            )
    assert client.failed == []
    desc = seen[-1]
    assert desc["EndpointConfigName"] == names["config"] and "PendingDeploymentSummary" not in desc
    assert alarm in desc["FailureReason"] and "rolled back" in desc["FailureReason"]
    [variant] = desc["ProductionVariants"]
    assert variant["CurrentInstanceCount"] == 2
    runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)


@pytest.mark.parametrize(
    ("config", "wanted"),
    [
        (
            {
                **blue_green("ALL_AT_ONCE"),
                "RollingUpdatePolicy": {
                    "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
                    "WaitIntervalInSeconds": 0,
                },
            },
            "Only one update policy",
        ),
        (blue_green("CANARY", CanarySize={"Type": "INSTANCE_COUNT", "Value": 2}), "CanarySize must be at most 50%"),
        (blue_green("CANARY", CanarySize={"Type": "CAPACITY_PERCENT", "Value": 60}), "CanarySize must be at most 50%"),
        (blue_green("LINEAR", LinearStepSize={"Type": "CAPACITY_PERCENT", "Value": 5}), "between 10% and 50%"),
        (blue_green("CANARY"), "needs CanarySize"),
        (
            blue_green("ALL_AT_ONCE", CanarySize={"Type": "INSTANCE_COUNT", "Value": 1}),
            "only for TrafficRoutingConfiguration of Type CANARY",
        ),
        (
            blue_green("CANARY", wait=400, final=300, CanarySize={"Type": "INSTANCE_COUNT", "Value": 1}),
            "must be larger than",
        ),
        (blue_green("ALL_AT_ONCE", alarms=("no-such-alarm",)), "no-such-alarm"),
    ],
)
def test_deployment_configs_sagemaker_refuses(
    sm: Any, xgb_model: dict[str, Any], config: dict[str, Any], wanted: str
) -> None:
    refused_update(sm, xgb_model["url"], config, wanted)


def refused_update(sm: Any, model_url: str, config: dict[str, Any], wanted: str) -> None:
    """An update of a 2-instance endpoint with `config` is a ValidationException saying `wanted`, and changes
    nothing."""
    names = deploy(sm, model_url, count=2, wait=False)
    wait_in_service(sm, names["endpoint"])
    green = new_config(sm, model_url)
    with pytest.raises(ClientError) as info:
        sm.update_endpoint(EndpointName=names["endpoint"], EndpointConfigName=green, DeploymentConfig=config)
    error = info.value.response["Error"]
    assert error["Code"] == "ValidationException" and wanted in error["Message"]
    desc = sm.describe_endpoint(EndpointName=names["endpoint"])
    assert desc["EndpointStatus"] == "InService" and desc["EndpointConfigName"] == names["config"]


def test_a_blue_green_deployment_keeps_the_variant_names(sm: Any, xgb_model: dict[str, Any]) -> None:
    names = deploy(sm, xgb_model["url"])
    renamed = new_config(sm, xgb_model["url"], count=1, variant="other")
    with pytest.raises(ClientError) as info:
        sm.update_endpoint(
            EndpointName=names["endpoint"], EndpointConfigName=renamed, DeploymentConfig=blue_green("ALL_AT_ONCE")
        )
    assert "variant names" in info.value.response["Error"]["Message"]
    sm.update_endpoint(EndpointName=names["endpoint"], EndpointConfigName=renamed)  # without one, a rename is fine
    assert wait_in_service(sm, names["endpoint"])["EndpointConfigName"] == renamed


def test_create_endpoint_keeps_the_config_for_an_update_that_retains_it(sm: Any, xgb_model: dict[str, Any]) -> None:
    model = unique("model")
    sm.create_model(
        ModelName=model,
        PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": xgb_model["url"]},
        ExecutionRoleArn=ROLE,
    )
    blue = new_config(sm, xgb_model["url"], count=1)
    endpoint = unique("endpoint")
    config = blue_green("ALL_AT_ONCE", final=1)
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=blue, DeploymentConfig=config)
    assert wait_in_service(sm, endpoint)["LastDeploymentConfig"] == config
    green = new_config(sm, xgb_model["url"], count=1)
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=green, RetainDeploymentConfig=True)
    seen = list(watch(sm, endpoint, lambda d: d["EndpointStatus"] == "InService"))
    assert any("PendingDeploymentSummary" in d for d in seen)  # it went through the deployment's steps
    assert seen[-1]["EndpointConfigName"] == green


def test_a_deployment_of_an_autoscaled_variant_completes_and_the_target_then_bounds_it(
    sm: Any, fast: ServerProcess, xgb_model: dict[str, Any]
) -> None:
    """Application Auto Scaling waits while the endpoint updates; afterwards the new fleet is kept in the target's
    bounds (here the new config asks for 2 instances and the target allows at most 1)."""
    aas = boto_client("application-autoscaling", fast.url)
    names = deploy(sm, xgb_model["url"], count=1)
    endpoint = names["endpoint"]
    aas.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=f"endpoint/{endpoint}/variant/v1",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1,
        MaxCapacity=1,
    )
    green = new_config(sm, xgb_model["url"], count=2)
    config = blue_green("CANARY", wait=1, final=1, CanarySize={"Type": "INSTANCE_COUNT", "Value": 1})
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=green, DeploymentConfig=config)
    seen = list(watch(sm, endpoint, lambda d: d["EndpointStatus"] == "InService"))
    assert seen[-1]["EndpointConfigName"] == green and "FailureReason" not in seen[-1]

    def bounded(desc: dict[str, Any]) -> bool:
        [variant] = desc["ProductionVariants"]
        return desc["EndpointStatus"] == "InService" and variant["DesiredInstanceCount"] == 1

    list(watch(sm, endpoint, bounded, limit_s=60))
