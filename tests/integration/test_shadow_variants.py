"""Shadow variants with boto3 against a real server: a copy of the production traffic goes to the shadow, its
replies are dropped, and its metrics are its own."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from homeport.server.process import ServerProcess
from tests.conftest import ROLE, XGBOOST_IMAGE, boto_client, csv_rows, unique, wait_in_service


@pytest.fixture(scope="module")
def sm(fast: ServerProcess) -> Any:
    return boto_client("sagemaker", fast.url)


def model(sm: Any, url: str) -> str:
    name = unique("shadow-model")
    sm.create_model(
        ModelName=name, PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": url}, ExecutionRoleArn=ROLE
    )
    return name


def variant(name: str, model_name: str, weight: float = 1.0) -> dict[str, Any]:
    return {
        "VariantName": name,
        "ModelName": model_name,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
        "InitialVariantWeight": weight,
    }


def invocations(cw: Any, endpoint: str, variant_name: str) -> float:
    dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant_name}]
    stats = cw.get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName="Invocations",
        Dimensions=dims,
        StartTime=time.time() - 300,
        EndTime=time.time() + 60,
        Period=1,
        Statistics=["Sum"],
    )["Datapoints"]
    return sum(p["Sum"] for p in stats)


def test_a_shadow_gets_a_copy_of_the_traffic_and_the_client_only_the_production_reply(
    sm: Any, fast: ServerProcess, xgb_model: dict[str, Any]
) -> None:
    runtime, cw = boto_client("sagemaker-runtime", fast.url), boto_client("cloudwatch", fast.url)
    production, shadow = model(sm, xgb_model["url"]), model(sm, xgb_model["url"])
    config = unique("shadow-config")
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[variant("prod", production)],
        ShadowProductionVariants=[variant("shadow", shadow, weight=0.5)],
    )
    described = sm.describe_endpoint_config(EndpointConfigName=config)
    assert [v["VariantName"] for v in described["ShadowProductionVariants"]] == ["shadow"]
    endpoint = unique("shadow-endpoint")
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    desc = wait_in_service(sm, endpoint)
    assert [v["VariantName"] for v in desc["ProductionVariants"]] == ["prod"]
    [summary] = desc["ShadowProductionVariants"]
    assert summary["VariantName"] == "shadow" and summary["CurrentInstanceCount"] == 1
    x = xgb_model["x"][:1]
    expected = xgb_model["booster"].inplace_predict(x)
    for _ in range(200):
        reply = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=csv_rows(x))
        assert reply["InvokedProductionVariant"] == "prod"
        np.testing.assert_allclose(float(reply["Body"].read()), expected[0], rtol=1e-6)
    with pytest.raises(ClientError) as refused:  # a shadow takes no request of its own
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=csv_rows(x), TargetVariant="shadow")
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    deadline = time.monotonic() + 20
    while invocations(cw, endpoint, "prod") < 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.2)  # one more metric period, for the last copies
    prod, copies = invocations(cw, endpoint, "prod"), invocations(cw, endpoint, "shadow")
    assert prod == 200
    assert 60 <= copies <= 140  # half of them, sampled (weight 0.5 against the production's 1)
    sm.delete_endpoint(EndpointName=endpoint)


@pytest.mark.parametrize(
    ("production", "shadows", "extra", "wanted"),
    [
        (["a", "b"], ["s"], {}, "exactly one production variant and one shadow"),
        (["a"], ["s", "t"], {}, "exactly one production variant and one shadow"),
        (["a"], ["a"], {}, "unique"),
        (["a"], ["s"], {"AsyncInferenceConfig": {"OutputConfig": {"S3OutputPath": "s3://b/out"}}}, "real-time"),
    ],
)
def test_shadow_configs_sagemaker_refuses(
    sm: Any, xgb_model: dict[str, Any], production: list[str], shadows: list[str], extra: dict[str, Any], wanted: str
) -> None:
    name = model(sm, xgb_model["url"])
    with pytest.raises(ClientError) as info:
        sm.create_endpoint_config(
            EndpointConfigName=unique("shadow-config"),
            ProductionVariants=[variant(v, name) for v in production],
            ShadowProductionVariants=[variant(v, name) for v in shadows],
            **extra,
        )
    error = info.value.response["Error"]
    assert error["Code"] == "ValidationException" and wanted in error["Message"]


def test_a_deployment_to_a_config_with_a_shadow_shows_the_shadow_as_pending(sm: Any, xgb_model: dict[str, Any]) -> None:
    from tests.integration.test_deployments import blue_green, watch

    production = model(sm, xgb_model["url"])
    blue, green = unique("blue"), unique("green")
    sm.create_endpoint_config(EndpointConfigName=blue, ProductionVariants=[variant("live", production)])
    sm.create_endpoint_config(
        EndpointConfigName=green,
        ProductionVariants=[variant("live", production)],
        ShadowProductionVariants=[variant("candidate", model(sm, xgb_model["url"]), 0.5)],
    )
    endpoint = unique("endpoint")
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=blue)
    wait_in_service(sm, endpoint)
    sm.update_endpoint(
        EndpointName=endpoint, EndpointConfigName=green, DeploymentConfig=blue_green("ALL_AT_ONCE", final=2)
    )
    seen = list(watch(sm, endpoint, lambda d: d["EndpointStatus"] == "InService"))
    pending = [d["PendingDeploymentSummary"] for d in seen if "PendingDeploymentSummary" in d]
    shadows = [p["ShadowProductionVariants"] for p in pending]
    assert shadows and all(s[0]["VariantName"] == "candidate" and s[0]["CurrentWeight"] == 0.0 for s in shadows)
    assert {s[0]["DesiredWeight"] for s in shadows} == {0.5}
    assert seen[-1]["ShadowProductionVariants"][0]["VariantName"] == "candidate"
