"""Serverless endpoints against a real `homeport serve`, driven with boto3: no instance while idle, a cold start on
the first request, MaxConcurrency, provisioned concurrency, updates, and every refusal.

The server is `fast`: its serverless variants stop their instances after 1 s without a request.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import KEYS, ROLE, XGBOOST_IMAGE, assert_scores, boto_client, csv_rows, unique, wait_in_service
from tests.integration.conftest import code_only_model
from tests.integration.test_lifecycle import until
from tests.integration.test_transform_jobs import create_model

SERVERLESS = {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
ALL_AT_ONCE = {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}


def serverless_variant(model: str, name: str = "v1", **config: Any) -> dict[str, Any]:
    return {"VariantName": name, "ModelName": model, "ServerlessConfig": {**SERVERLESS, **config}}


def deploy_serverless(sm: Any, model: str, wait: bool = True, **config: Any) -> str:
    name = unique("sls")
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[serverless_variant(model, **config)])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    if wait:
        wait_in_service(sm, name)
    return name


def variant(sm: Any, endpoint: str) -> dict[str, Any]:
    (only,) = sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"]
    return dict(only)


def warm(sm: Any, endpoint: str) -> int:
    return int(variant(sm, endpoint).get("CurrentInstanceCount", 0))


def refused(call: Any, **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**params)
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


# --- scale from and to zero --------------------------------------------------------------------------------


def test_no_instance_until_a_request_then_none_again_once_idle(
    fsm: Any, frt: Any, fast_xgb: str, xgb_model: dict[str, Any]
) -> None:
    endpoint = deploy_serverless(fsm, fast_xgb)
    described = variant(fsm, endpoint)
    assert described["CurrentServerlessConfig"] == SERVERLESS
    assert described["DesiredServerlessConfig"] == SERVERLESS
    assert described["CurrentInstanceCount"] == 0
    assert "DesiredInstanceCount" not in described

    x = xgb_model["x"][:5]
    for _ in range(2):  # a cold start, then (once idle) another
        reply = frt.invoke_endpoint(EndpointName=endpoint, Body=csv_rows(x), ContentType="text/csv")
        assert_scores(reply["Body"].read(), xgb_model, x)
        assert reply["InvokedProductionVariant"] == "v1"
        until(lambda: warm(fsm, endpoint) == 0, timeout=30)  # after 1 s without a request
    config = fsm.describe_endpoint_config(EndpointConfigName=endpoint)["ProductionVariants"][0]
    assert config["ServerlessConfig"] == SERVERLESS and "InstanceType" not in config


def test_cold_starts_and_concurrency_in_cloudwatch(
    fsm: Any, frt: Any, cw: Any, fast_xgb: str, xgb_model: dict[str, Any]
) -> None:
    endpoint = deploy_serverless(fsm, fast_xgb)
    since = datetime.now(UTC) - timedelta(seconds=5)
    frt.invoke_endpoint(EndpointName=endpoint, Body=csv_rows(xgb_model["x"][:1]), ContentType="text/csv")
    dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "v1"}]

    def statistic(name: str, stat: str) -> float | None:
        points = cw.get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName=name,
            Dimensions=dims,
            StartTime=since,
            EndTime=datetime.now(UTC) + timedelta(seconds=5),
            Period=60,
            Statistics=[stat],
        )["Datapoints"]
        # The window can straddle two minutes: combine their points (a zero minute may come first).
        values = [point[stat] for point in points]
        return (max(values) if stat == "Maximum" else sum(values)) if values else None

    until(lambda: statistic("ModelSetupTime", "SampleCount") == 1, timeout=30)
    setup = statistic("ModelSetupTime", "Maximum")
    assert setup is not None and 0 < setup < 30e6  # microseconds: the one cold start
    until(lambda: statistic("ServerlessConcurrentExecutionsUtilization", "Maximum") == 1 / 5, timeout=30)
    until(lambda: statistic("Invocations", "Sum") == 1, timeout=30)


def test_requests_while_warm_reuse_the_instance(fsm: Any, frt: Any, fast_xgb: str, xgb_model: dict[str, Any]) -> None:
    endpoint = deploy_serverless(fsm, fast_xgb)
    x = xgb_model["x"][:2]
    for _ in range(20):
        reply = frt.invoke_endpoint(EndpointName=endpoint, Body=csv_rows(x), ContentType="text/csv")
        assert_scores(reply["Body"].read(), xgb_model, x)
    assert warm(fsm, endpoint) <= 1


# --- concurrency ---------------------------------------------------------------------------------------


def test_a_request_past_max_concurrency_is_throttled_at_once(fsm: Any, frt: Any, probe: str) -> None:
    slow = create_model(fsm, probe, env={"PROBE_MODE": "sleep", "PROBE_SLEEP": "1.5"})
    endpoint = deploy_serverless(fsm, slow, MaxConcurrency=1)
    outcomes: list[str] = []

    def call() -> None:
        try:
            frt.invoke_endpoint(EndpointName=endpoint, Body=b"1,2\n", ContentType="text/csv")
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(f"{exc.response['ResponseMetadata']['HTTPStatusCode']} {exc.response['Error']['Code']}")

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["400 ThrottlingException", "ok"]
    # The slot is free again once the first request is done.
    frt.invoke_endpoint(EndpointName=endpoint, Body=b"1,2\n", ContentType="text/csv")


def test_a_body_over_4_mb_is_refused(fsm: Any, frt: Any, fast_xgb: str) -> None:
    endpoint = deploy_serverless(fsm, fast_xgb)
    body = b"1,2,3,4\n" * 500_001  # 4,000,008 bytes: under the 6 MB instances take
    code, message = refused(frt.invoke_endpoint, EndpointName=endpoint, Body=body, ContentType="text/csv")
    assert code == "ValidationError" and "at most 4000000" in message
    assert warm(fsm, endpoint) == 0  # refused before it started anything


def test_a_model_that_cannot_start_fails_the_waiting_request(fsm: Any, frt: Any, tmp_path: Path) -> None:
    url = code_only_model(tmp_path, "def model_fn(model_dir):\n    raise RuntimeError('this model never loads')\n")
    endpoint = deploy_serverless(fsm, create_model(fsm, url))
    code, message = refused(frt.invoke_endpoint, EndpointName=endpoint, Body=b"1\n", ContentType="text/csv")
    assert code == "ModelError"
    assert "failed to start" in message
    assert fsm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"


GREEDY = r"""
def model_fn(model_dir):
    return None


def transform_fn(model, data, content_type, accept, context):
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if raw.startswith(b"big"):
        held = bytearray(1536 * 1024 * 1024)  # 1.5 GB, over the variant's 1024 MB
        return f"{len(held)}\n"
    return "small\n"
"""


def test_memory_size_is_enforced_and_named(fsm: Any, frt: Any, tmp_path: Path) -> None:
    endpoint = deploy_serverless(fsm, create_model(fsm, code_only_model(tmp_path, GREEDY)), MemorySizeInMB=1024)
    assert (
        frt.invoke_endpoint(EndpointName=endpoint, Body=b"small", ContentType="text/csv")["Body"].read() == b"small\n"
    )
    code, message = refused(frt.invoke_endpoint, EndpointName=endpoint, Body=b"big", ContentType="text/csv")
    assert code == "ModelError"
    assert "at most 1024 MB" in message and "MemorySizeInMB" in message
    until(lambda: warm(fsm, endpoint) == 0, timeout=30)  # that instance stopped
    assert (
        frt.invoke_endpoint(EndpointName=endpoint, Body=b"small", ContentType="text/csv")["Body"].read() == b"small\n"
    )


# --- provisioned concurrency and updates -------------------------------------------------------------------


def test_provisioned_concurrency_stays_warm(fsm: Any, frt: Any, fast_xgb: str) -> None:
    endpoint = deploy_serverless(fsm, fast_xgb, ProvisionedConcurrency=2)
    assert warm(fsm, endpoint) == 1  # InService once its instance is up (4 requests an instance)
    frt.invoke_endpoint(EndpointName=endpoint, Body=b"1,2,3,4\n", ContentType="text/csv")
    until(lambda: variant(fsm, endpoint)["CurrentServerlessConfig"]["ProvisionedConcurrency"] == 2)
    assert warm(fsm, endpoint) == 1


PROVISIONED = "sagemaker:variant:DesiredProvisionedConcurrency"


def test_provisioned_concurrency_scales_with_application_auto_scaling(
    fsm: Any, faas: Any, cw: Any, fast_xgb: str
) -> None:
    endpoint = deploy_serverless(fsm, fast_xgb, MaxConcurrency=8, ProvisionedConcurrency=1)
    resource = f"endpoint/{endpoint}/variant/v1"
    target = {"ServiceNamespace": "sagemaker", "ResourceId": resource}
    code, message = refused(
        faas.register_scalable_target,
        **target,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1,
        MaxCapacity=2,
    )
    assert code == "ValidationException" and PROVISIONED in message
    code, message = refused(
        faas.register_scalable_target, **target, ScalableDimension=PROVISIONED, MinCapacity=1, MaxCapacity=9
    )
    assert code == "ValidationException" and "MaxConcurrency of 8" in message

    # A minimum above the current provisioned concurrency: the autoscaler raises it, as AWS would.
    faas.register_scalable_target(**target, ScalableDimension=PROVISIONED, MinCapacity=5, MaxCapacity=8)
    until(lambda: variant(fsm, endpoint).get("CurrentServerlessConfig", {}).get("ProvisionedConcurrency") == 5)

    def activity() -> dict[str, Any]:
        return dict(faas.describe_scaling_activities(**target)["ScalingActivities"][0])

    until(lambda: activity()["StatusCode"] == "Successful")
    assert activity()["Description"] == "Setting desired provisioned concurrency to 5."
    assert activity()["ScalableDimension"] == PROVISIONED
    until(lambda: warm(fsm, endpoint) == 2)  # 5 requests at once, 4 an instance

    policy = {**target, "ScalableDimension": PROVISIONED, "PolicyType": "TargetTrackingScaling"}
    code, message = refused(
        faas.put_scaling_policy,
        **policy,
        PolicyName="per-instance",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 10.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        },
    )
    assert code == "ValidationException" and "SageMakerVariantProvisionedConcurrencyUtilization" in message
    reply = faas.put_scaling_policy(
        **policy,
        PolicyName="utilization",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 0.7,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantProvisionedConcurrencyUtilization"
            },
        },
    )
    alarms = cw.describe_alarms(AlarmNames=[a["AlarmName"] for a in reply["Alarms"]])["MetricAlarms"]
    assert {a["MetricName"] for a in alarms} == {"ServerlessProvisionedConcurrencyUtilization"}
    assert sorted(a["Threshold"] for a in alarms) == pytest.approx([0.63, 0.7])


def test_update_serverless_config_and_then_move_to_instances(fsm: Any, frt: Any, fast_xgb: str) -> None:
    endpoint = deploy_serverless(fsm, fast_xgb)
    fsm.update_endpoint_weights_and_capacities(
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[{"VariantName": "v1", "ServerlessUpdateConfig": {"MaxConcurrency": 1}}],
    )
    wait_in_service(fsm, endpoint)
    assert variant(fsm, endpoint)["CurrentServerlessConfig"] == {**SERVERLESS, "MaxConcurrency": 1}

    code, message = refused(
        fsm.update_endpoint_weights_and_capacities,
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[{"VariantName": "v1", "DesiredInstanceCount": 2}],
    )
    assert code == "ValidationException" and "ServerlessUpdateConfig" in message
    code, message = refused(
        fsm.update_endpoint_weights_and_capacities,
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[
            {"VariantName": "v1", "ServerlessUpdateConfig": {"MaxConcurrency": 1, "ProvisionedConcurrency": 2}}
        ],
    )
    assert code == "ValidationException" and "must not exceed" in message

    instances = unique("inst")
    fsm.create_endpoint_config(
        EndpointConfigName=instances,
        ProductionVariants=[
            {"VariantName": "v1", "ModelName": fast_xgb, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        ],
    )
    fsm.update_endpoint(EndpointName=endpoint, EndpointConfigName=instances)
    wait_in_service(fsm, endpoint)
    moved = variant(fsm, endpoint)
    assert moved["CurrentInstanceCount"] == 1 and moved["DesiredInstanceCount"] == 1
    assert "CurrentServerlessConfig" not in moved
    frt.invoke_endpoint(EndpointName=endpoint, Body=b"1,2,3,4\n", ContentType="text/csv")

    # And not back: instances to serverless is refused, as SageMaker refuses it.
    code, message = refused(fsm.update_endpoint, EndpointName=endpoint, EndpointConfigName=endpoint)
    assert code == "ValidationException" and "not back" in message


# --- refusals ------------------------------------------------------------------------------------------


def multi_model(sm: Any, url: str) -> str:
    name = unique("mme")
    container = {"Image": XGBOOST_IMAGE, "ModelDataUrl": url.rsplit("/", 1)[0] + "/", "Mode": "MultiModel"}
    sm.create_model(ModelName=name, PrimaryContainer=container, ExecutionRoleArn=ROLE)
    return name


def pipeline(sm: Any, url: str) -> str:
    name = unique("pipe")
    containers = [{"Image": XGBOOST_IMAGE, "ModelDataUrl": url}, {"Image": XGBOOST_IMAGE, "ModelDataUrl": url}]
    sm.create_model(ModelName=name, Containers=containers, ExecutionRoleArn=ROLE)
    return name


REFUSED_CONFIGS = {
    "instances too": (
        lambda m: {"ProductionVariants": [{**serverless_variant(m), "InstanceType": "ml.m5.large"}]},
        "remove InstanceType",
    ),
    "memory off the steps": (
        lambda m: {"ProductionVariants": [serverless_variant(m, MemorySizeInMB=1500)]},
        "MemorySizeInMB",
    ),
    "provisioned over max": (
        lambda m: {"ProductionVariants": [serverless_variant(m, MaxConcurrency=2, ProvisionedConcurrency=3)]},
        "must not exceed",
    ),
    "two variants": (
        lambda m: {"ProductionVariants": [serverless_variant(m, "a"), serverless_variant(m, "b")]},
        "exactly one production variant",
    ),
    "a shadow": (
        lambda m: {
            "ProductionVariants": [serverless_variant(m, "a")],
            "ShadowProductionVariants": [serverless_variant(m, "b")],
        },
        "ShadowProductionVariants",
    ),
    "async": (
        lambda m: {
            "ProductionVariants": [serverless_variant(m)],
            "AsyncInferenceConfig": {"OutputConfig": {"S3OutputPath": "s3://b/out"}},
        },
        "AsyncInferenceConfig is not supported for serverless",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED_CONFIGS))
def test_refused_serverless_configs(fsm: Any, fast_xgb: str, case: str) -> None:
    build, words = REFUSED_CONFIGS[case]
    name = unique("bad")
    code, message = refused(fsm.create_endpoint_config, EndpointConfigName=name, **build(fast_xgb))
    assert code == "ValidationException"
    assert words in message
    assert refused(fsm.describe_endpoint_config, EndpointConfigName=name)[0] == "ValidationException"


@pytest.mark.parametrize(("kind", "words"), [("multi-model", "Mode MultiModel"), ("pipeline", "inference pipelines")])
def test_refused_serverless_models(fsm: Any, xgb_model: dict[str, Any], kind: str, words: str) -> None:
    model = (multi_model if kind == "multi-model" else pipeline)(fsm, xgb_model["url"])
    code, message = refused(
        fsm.create_endpoint_config, EndpointConfigName=unique("bad"), ProductionVariants=[serverless_variant(model)]
    )
    assert code == "ValidationException" and words in message


def test_guardrails_and_instance_updates_are_refused(fsm: Any, fast_xgb: str) -> None:
    endpoint = deploy_serverless(fsm, fast_xgb)
    code, message = refused(
        fsm.update_endpoint,
        EndpointName=endpoint,
        EndpointConfigName=endpoint,
        DeploymentConfig={"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": ALL_AT_ONCE}},
    )
    assert code == "ValidationException" and "DeploymentConfig" in message
    instances = unique("inst")
    fsm.create_endpoint_config(
        EndpointConfigName=instances,
        ProductionVariants=[
            {"VariantName": "v1", "ModelName": fast_xgb, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        ],
    )
    other = unique("inst-ep")
    fsm.create_endpoint(EndpointName=other, EndpointConfigName=instances)
    wait_in_service(fsm, other)
    code, message = refused(
        fsm.update_endpoint_weights_and_capacities,
        EndpointName=other,
        DesiredWeightsAndCapacities=[{"VariantName": "v1", "ServerlessUpdateConfig": {"MaxConcurrency": 2}}],
    )
    assert code == "ValidationException" and "runs on instances" in message


def test_a_streamed_request_cold_starts_too(fsm: Any, frt: Any, fast_xgb: str) -> None:
    endpoint = deploy_serverless(fsm, fast_xgb)
    reply = frt.invoke_endpoint_with_response_stream(EndpointName=endpoint, Body=b"1,2,3,4", ContentType="text/csv")
    parts = b"".join(event["PayloadPart"]["Bytes"] for event in reply["Body"] if "PayloadPart" in event)
    assert float(parts)
    assert warm(fsm, endpoint) == 1


def test_a_serverless_endpoint_comes_back_after_a_restart(tmp_path: Path, xgb_model: dict[str, Any]) -> None:
    """InService again with no instance, and the first request after the restart is a cold start."""
    from homeport.server.process import ServerProcess

    data_dir = tmp_path / "data"
    env = {"HOMEPORT_LOG_LEVEL": "warning", **KEYS}
    with ServerProcess(data_dir, env=env) as server:
        sm, s3 = boto_client("sagemaker", server.url), boto_client("s3", server.url)
        s3.create_bucket(Bucket="kept")
        s3.upload_file(str(xgb_model["path"]), "kept", "model.tar.gz")
        endpoint = deploy_serverless(sm, create_model(sm, "s3://kept/model.tar.gz", image=XGBOOST_IMAGE))
    with ServerProcess(data_dir, env=env) as server:
        sm, rt = boto_client("sagemaker", server.url), boto_client("sagemaker-runtime", server.url)
        wait_in_service(sm, endpoint)
        assert warm(sm, endpoint) == 0
        reply = rt.invoke_endpoint(EndpointName=endpoint, Body=csv_rows(xgb_model["x"][:2]), ContentType="text/csv")
        assert_scores(reply["Body"].read(), xgb_model, xgb_model["x"][:2])
