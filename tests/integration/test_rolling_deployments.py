"""Rolling deployments with boto3 against a real server: batch by batch under a steady client, a rollback by a
CloudWatch alarm that brings the old fleet back in batches, a rollback that fails (UpdateRollbackFailed) and the
update that recovers from it, and SageMaker's refusals."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from homeport.server.process import ServerProcess
from tests.conftest import ROLE, XGBOOST_IMAGE, boto_client, csv_rows, deploy, unique, wait_in_service
from tests.integration.test_deployments import SteadyClient, new_config, put_alarm, refused_update, watch


@pytest.fixture(scope="module")
def sm(fast: ServerProcess) -> Any:
    return boto_client("sagemaker", fast.url)


@pytest.fixture(scope="module")
def runtime(fast: ServerProcess) -> Any:
    return boto_client("sagemaker-runtime", fast.url)


def rolling(batch: int = 1, wait: int = 1, alarms: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "RollingUpdatePolicy": {
            "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": batch},
            "WaitIntervalInSeconds": wait,
            **extra,
        }
    }
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
    return config


def statuses(seen: list[dict[str, Any]]) -> list[str]:
    return [
        s["StatusMessage"]
        for d in seen
        for v in d.get("PendingDeploymentSummary", {}).get("ProductionVariants", [])
        for s in v["VariantStatus"]
    ]


def in_batch(batch: int) -> Any:
    def baking(desc: dict[str, Any]) -> bool:
        return any(f"(batch {batch} of" in m for m in statuses([desc]))

    return baking


def test_a_rolling_deployment_replaces_the_fleet_batch_by_batch_with_no_failed_request(
    sm: Any, runtime: Any, xgb_model: dict[str, Any]
) -> None:
    names = deploy(sm, xgb_model["url"], count=2)
    endpoint, body = names["endpoint"], csv_rows(xgb_model["x"][:1])
    green = new_config(sm, xgb_model["url"])
    config = rolling(batch=1, wait=1)
    with SteadyClient(runtime, endpoint, body) as client:
        sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=green, DeploymentConfig=config)
        seen = list(watch(sm, endpoint, lambda d: d["EndpointStatus"] == "InService"))
    assert client.failed == [] and client.ok > 0
    messages = statuses(seen)
    for batch in (1, 2):
        assert (
            f"Baking for 1 seconds (WaitIntervalInSeconds) with traffic enabled on {batch} of 2 instance(s) "
            f"(batch {batch} of 2)." in messages
        )
    # Never more than one batch over the fleet's size: blue shrinks as green grows.
    during = [d for d in seen if d["EndpointStatus"] == "Updating"]
    assert during and all(d["EndpointConfigName"] == names["config"] for d in during)
    for desc in during:
        blue = desc["ProductionVariants"][0]["CurrentInstanceCount"]
        pending = desc.get("PendingDeploymentSummary", {}).get("ProductionVariants", [{}])
        assert blue + pending[0].get("CurrentInstanceCount", 0) <= 3
    assert any(d["ProductionVariants"][0]["CurrentInstanceCount"] == 1 for d in during)
    final = seen[-1]
    assert final["EndpointConfigName"] == green and "PendingDeploymentSummary" not in final
    assert final["LastDeploymentConfig"] == config and "FailureReason" not in final
    assert final["ProductionVariants"][0]["CurrentInstanceCount"] == 2


def test_an_alarm_rolls_a_rolling_deployment_back_in_batches(
    sm: Any, runtime: Any, fast: ServerProcess, xgb_model: dict[str, Any]
) -> None:
    cw = boto_client("cloudwatch", fast.url)
    names = deploy(sm, xgb_model["url"], count=2)
    endpoint, body = names["endpoint"], csv_rows(xgb_model["x"][:1])
    metric, alarm = unique("errors"), unique("rolling-errors")
    put_alarm(cw, alarm, metric, period=1)
    green = new_config(sm, xgb_model["url"])
    config = rolling(batch=1, wait=4, alarms=(alarm,), RollbackMaximumBatchSize={"Type": "INSTANCE_COUNT", "Value": 1})
    with SteadyClient(runtime, endpoint, body) as client:
        sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=green, DeploymentConfig=config)
        list(watch(sm, endpoint, in_batch(2)))  # one old instance is gone: the rollback must start it again
        seen = []
        for desc in watch(sm, endpoint, lambda d: d["EndpointStatus"] == "InService", limit_s=60):
            seen.append(desc)
            cw.put_metric_data(
                Namespace="Homeport/Tests", MetricData=[{"MetricName": metric, "Value": 50.0, "StorageResolution": 1}]
            )
    assert client.failed == []
    assert "RollingBack" in [d["EndpointStatus"] for d in seen]
    assert any(m.startswith("Rolling back: launching the old fleet again") for m in statuses(seen))
    desc = seen[-1]
    assert desc["EndpointConfigName"] == names["config"] and "PendingDeploymentSummary" not in desc
    assert alarm in desc["FailureReason"] and "rolled back" in desc["FailureReason"]
    assert desc["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)


def test_a_rollback_that_cannot_start_the_old_fleet_leaves_update_rollback_failed_until_the_next_update(
    sm: Any, runtime: Any, fast: ServerProcess, xgb_model: dict[str, Any], tmp_path: Path
) -> None:
    cw = boto_client("cloudwatch", fast.url)
    blue_model = tmp_path / "blue.tar.gz"
    shutil.copyfile(xgb_model["path"], blue_model)
    names = deploy(sm, blue_model.as_uri(), count=2)
    endpoint, body = names["endpoint"], csv_rows(xgb_model["x"][:1])
    metric, alarm = unique("errors"), unique("rolling-errors")
    put_alarm(cw, alarm, metric, period=1)
    green = new_config(sm, xgb_model["url"])
    sm.update_endpoint(
        EndpointName=endpoint, EndpointConfigName=green, DeploymentConfig=rolling(batch=1, wait=4, alarms=(alarm,))
    )
    list(watch(sm, endpoint, in_batch(2)))
    blue_model.unlink()  # the old model's data is gone: its fleet cannot start again
    for _ in watch(sm, endpoint, lambda d: d["EndpointStatus"] == "UpdateRollbackFailed", limit_s=60):
        cw.put_metric_data(
            Namespace="Homeport/Tests", MetricData=[{"MetricName": metric, "Value": 50.0, "StorageResolution": 1}]
        )
    desc = sm.describe_endpoint(EndpointName=endpoint)
    assert "then the rollback failed" in desc["FailureReason"] and alarm in desc["FailureReason"]
    assert "model data" in desc["FailureReason"]
    assert desc["PendingDeploymentSummary"]["EndpointConfigName"] == green  # both fleets are in it
    runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)  # what is left serves
    with pytest.raises(ClientError) as info:
        sm.update_endpoint_weights_and_capacities(
            EndpointName=endpoint, DesiredWeightsAndCapacities=[{"VariantName": "v1", "DesiredInstanceCount": 3}]
        )
    assert info.value.response["Error"]["Code"] == "ValidationException"
    # UpdateEndpoint is the way back: here to the new config, whole.
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=green)
    desc = wait_in_service(sm, endpoint)
    assert desc["EndpointConfigName"] == green and "FailureReason" not in desc
    assert desc["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)


def two_variant_config(sm: Any, model_url: str) -> str:
    model = unique("model")
    sm.create_model(
        ModelName=model, PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": model_url}, ExecutionRoleArn=ROLE
    )
    config = unique("config")
    variant = {"ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[{**variant, "VariantName": "v1"}, {**variant, "VariantName": "v2"}],
    )
    return config


@pytest.mark.parametrize(
    ("config", "wanted"),
    [
        (rolling(batch=2), "MaximumBatchSize must be between 5% and 50%"),
        (
            {
                "RollingUpdatePolicy": {
                    **rolling()["RollingUpdatePolicy"],
                    "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 60},
                }
            },
            "MaximumBatchSize must be between 5% and 50%",
        ),
        (rolling(wait=400, MaximumExecutionTimeoutInSeconds=600), "must be larger than"),
        (rolling(alarms=("no-such-alarm",)), "no-such-alarm"),
    ],
)
def test_rolling_configs_sagemaker_refuses(
    sm: Any, xgb_model: dict[str, Any], config: dict[str, Any], wanted: str
) -> None:
    refused_update(sm, xgb_model["url"], config, wanted)


def test_a_rolling_deployment_needs_one_variant_that_keeps_its_name(sm: Any, xgb_model: dict[str, Any]) -> None:
    names = deploy(sm, xgb_model["url"], count=2)
    renamed = new_config(sm, xgb_model["url"], variant="other")
    with pytest.raises(ClientError) as info:
        sm.update_endpoint(EndpointName=names["endpoint"], EndpointConfigName=renamed, DeploymentConfig=rolling())
    assert "keep the endpoint's variant name (v1)" in info.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as info:
        sm.update_endpoint(
            EndpointName=names["endpoint"],
            EndpointConfigName=two_variant_config(sm, xgb_model["url"]),
            DeploymentConfig=rolling(),
        )
    assert "one production variant" in info.value.response["Error"]["Message"]
    assert sm.describe_endpoint(EndpointName=names["endpoint"])["EndpointStatus"] == "InService"


@pytest.mark.parametrize("kind", ["rolling", "canary"])
def test_a_restart_in_the_middle_of_a_deployment_brings_the_endpoint_back_on_the_old_config(
    kind: str, tmp_path: Path, xgb_model: dict[str, Any]
) -> None:
    from tests.conftest import KEYS
    from tests.integration.test_deployments import blue_green

    data_dir = tmp_path / "data"
    env = {"HOMEPORT_LOG_LEVEL": "warning", **KEYS}
    with ServerProcess(data_dir, env=env) as server:
        sm = boto_client("sagemaker", server.url)
        names = deploy(sm, xgb_model["url"], count=2)
        endpoint, green = names["endpoint"], new_config(sm, xgb_model["url"])
        if kind == "rolling":
            config = rolling(batch=1, wait=200)
        else:
            config = blue_green("CANARY", wait=200, final=200, CanarySize={"Type": "INSTANCE_COUNT", "Value": 1})
        sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=green, DeploymentConfig=config)
        list(watch(sm, endpoint, lambda d: any(m.startswith("Baking") for m in statuses([d]))))
    with ServerProcess(data_dir, env=env) as server:
        sm = boto_client("sagemaker", server.url)
        desc = wait_in_service(sm, endpoint)
        assert desc["EndpointConfigName"] == names["config"] and "PendingDeploymentSummary" not in desc
        assert "the server restarted while it was under way" in desc["FailureReason"]
        assert desc["ProductionVariants"][0]["CurrentInstanceCount"] == 2
        body = csv_rows(xgb_model["x"][:1])
        boto_client("sagemaker-runtime", server.url).invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Body=body
        )
