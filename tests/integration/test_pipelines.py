"""Multi-container models through boto3: serial inference pipelines (real-time and batch transform) and
containers invoked directly by hostname."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, XGBOOST_IMAGE, boto_client, csv_rows, unique, wait_in_service
from tests.integration.conftest import code_only_model
from tests.integration.test_lifecycle import until
from tests.integration.test_transform_jobs import read, run_job

# A preprocessing step: doubles every feature of each CSV row, and fails on a row holding "boom".
DOUBLER = """
import numpy as np


def model_fn(model_dir):
    return 2.0


def transform_fn(factor, data, content_type, accept):
    text = data.decode() if isinstance(data, bytes) else data
    if "boom" in text:
        raise ValueError("the doubler cannot read 'boom'")
    rows = np.array([[float(v) for v in line.split(",")] for line in text.strip().splitlines()])
    return "\\n".join(",".join(repr(float(v)) for v in row) for row in rows * factor)
"""
CSV_OUT = {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}  # the doubler's reply, for XGBoost to read


@pytest.fixture(scope="module")
def doubler(tmp_path_factory: pytest.TempPathFactory) -> str:
    return code_only_model(tmp_path_factory.mktemp("doubler"), DOUBLER)


def containers(doubler: str, xgb_model: dict[str, Any], hostnames: bool = True) -> list[dict[str, Any]]:
    pre = {"Image": "homeport/python", "ModelDataUrl": doubler, "Environment": CSV_OUT}
    model = {"Image": XGBOOST_IMAGE, "ModelDataUrl": xgb_model["url"]}
    if hostnames:
        pre["ContainerHostname"], model["ContainerHostname"] = "pre", "model"
    return [pre, model]


def deploy_model(sm: Any, containers: list[dict[str, Any]], mode: str | None = None) -> dict[str, str]:
    model = unique("model")
    extra = {"InferenceExecutionConfig": {"Mode": mode}} if mode else {}
    sm.create_model(ModelName=model, Containers=containers, ExecutionRoleArn=ROLE, **extra)
    config = unique("config")
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {"VariantName": "v1", "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )
    endpoint = unique("endpoint")
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    wait_in_service(sm, endpoint)
    return {"model": model, "endpoint": endpoint}


def invoke(runtime: Any, endpoint: str, body: bytes, **params: Any) -> bytes:
    reply = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body, **params)
    data: bytes = reply["Body"].read()
    return data


def test_a_serial_pipeline_feeds_each_reply_to_the_next_container(
    sm: Any, runtime: Any, doubler: str, xgb_model: dict[str, Any]
) -> None:
    names = deploy_model(sm, containers(doubler, xgb_model, hostnames=False))  # Serial is the default
    x = xgb_model["x"][:5]
    got = np.array(invoke(runtime, names["endpoint"], csv_rows(x)).split(), dtype=np.float32)
    np.testing.assert_allclose(got, xgb_model["booster"].inplace_predict(2 * x), rtol=1e-6)
    described = sm.describe_endpoint(EndpointName=names["endpoint"])
    images = [i["SpecifiedImage"] for i in described["ProductionVariants"][0]["DeployedImages"]]
    assert images == ["homeport/python", XGBOOST_IMAGE]
    assert len(sm.describe_model(ModelName=names["model"])["Containers"]) == 2

    with pytest.raises(ClientError) as raised:  # a failing step: the client sees which container
        invoke(runtime, names["endpoint"], b"boom")
    assert raised.value.response["Error"]["Code"] == "ModelError"
    assert "container-1" in raised.value.response["OriginalMessage"]
    with pytest.raises(ClientError) as raised:
        invoke(runtime, names["endpoint"], b"1", TargetContainerHostname="container-1")
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    assert "Direct" in raised.value.response["Error"]["Message"]
    sm.delete_endpoint(EndpointName=names["endpoint"])


def test_direct_invocation_reaches_the_named_container(
    sm: Any, runtime: Any, doubler: str, xgb_model: dict[str, Any]
) -> None:
    endpoint = deploy_model(sm, containers(doubler, xgb_model), "Direct")["endpoint"]
    x = xgb_model["x"][:3]
    doubled = np.array(
        [
            [float(v) for v in line.split(",")]
            for line in invoke(runtime, endpoint, csv_rows(x), TargetContainerHostname="pre").decode().splitlines()
        ]
    )
    np.testing.assert_allclose(doubled, 2 * x, rtol=1e-6)
    scored = np.array(invoke(runtime, endpoint, csv_rows(x), TargetContainerHostname="model").split(), dtype=np.float32)
    np.testing.assert_allclose(scored, xgb_model["booster"].inplace_predict(x), rtol=1e-6)
    for params, words in (
        ({}, "set TargetContainerHostname to one of pre, model"),
        ({"TargetContainerHostname": "other"}, "no container with hostname other"),
    ):
        with pytest.raises(ClientError) as raised:
            invoke(runtime, endpoint, b"1,2,3,4", **params)
        assert raised.value.response["Error"]["Code"] == "ValidationError"
        assert words in raised.value.response["Error"]["Message"]
    sm.delete_endpoint(EndpointName=endpoint)


def test_each_container_reports_its_metrics(fast: Any, cw: Any, doubler: str, xgb_model: dict[str, Any]) -> None:
    sm, runtime = boto_client("sagemaker", fast.url), boto_client("sagemaker-runtime", fast.url)
    started = datetime.now(UTC) - timedelta(seconds=1)
    endpoint = deploy_model(sm, containers(doubler, xgb_model))["endpoint"]
    for _ in range(3):
        invoke(runtime, endpoint, csv_rows(xgb_model["x"][:2]))
    with pytest.raises(ClientError):  # the first container fails: the second never runs
        invoke(runtime, endpoint, b"boom")

    def stat(container: str, metric: str, statistic: str) -> float:
        points = cw.get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName=metric,
            Dimensions=[
                {"Name": "ContainerName", "Value": container},
                {"Name": "EndpointName", "Value": endpoint},
                {"Name": "VariantName", "Value": "v1"},
            ],
            StartTime=started,
            EndTime=datetime.now(UTC) + timedelta(minutes=1),
            Period=60,
            Statistics=[statistic],
        )["Datapoints"]
        return float(sum(p[statistic] for p in points))

    until(lambda: stat("pre", "Invocations", "Sum") == 4 and stat("model", "Invocations", "Sum") == 3)
    assert stat("pre", "Invocation5XXErrors", "Sum") == 1 and stat("model", "Invocation5XXErrors", "Sum") == 0
    assert stat("pre", "ContainerLatency", "SampleCount") == 4 and stat("model", "ContainerLatency", "Minimum") > 0
    sm.delete_endpoint(EndpointName=endpoint)


def test_a_pipeline_runs_a_batch_transform(
    sm: Any, s3: Any, bucket: str, doubler: str, xgb_model: dict[str, Any]
) -> None:
    x = xgb_model["x"][:50]
    s3.put_object(Bucket=bucket, Key="in/rows.csv", Body=csv_rows(x))
    model = unique("model")
    sm.create_model(ModelName=model, Containers=containers(doubler, xgb_model), ExecutionRoleArn=ROLE)
    job = run_job(sm, model, f"s3://{bucket}/in/", f"s3://{bucket}/out")
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    got = np.array(read(s3, bucket, "out/rows.csv.out").split(), dtype=np.float32)
    np.testing.assert_allclose(got, xgb_model["booster"].inplace_predict(2 * x), rtol=1e-6)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda c, extra: (c, {"InferenceExecutionConfig": {"Mode": "Direct"}}), "needs a ContainerHostname"),
        (lambda c, extra: ([c[0], {**c[1], "ContainerHostname": "x"}], {}), "or none of them"),
        (
            lambda c, extra: ([{**c[0], "ContainerHostname": "x"}, {**c[1], "ContainerHostname": "x"}], {}),
            "its own ContainerHostname",
        ),
        (lambda c, extra: ([c[0], {**c[1], "Mode": "MultiModel"}], {}), "multi-model container"),
    ],
)
def test_bad_multi_container_models_are_refused(
    sm: Any, doubler: str, xgb_model: dict[str, Any], change: Any, words: str
) -> None:
    listed, extra = change(containers(doubler, xgb_model, hostnames=False), {})
    with pytest.raises(ClientError) as raised:
        sm.create_model(ModelName=unique("model"), Containers=listed, ExecutionRoleArn=ROLE, **extra)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert words in raised.value.response["Error"]["Message"]


def test_inference_execution_config_needs_containers(sm: Any, xgb_model: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as raised:
        sm.create_model(
            ModelName=unique("model"),
            PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": xgb_model["url"]},
            InferenceExecutionConfig={"Mode": "Serial"},
            ExecutionRoleArn=ROLE,
        )
    assert "applies to a model with Containers" in raised.value.response["Error"]["Message"]


def test_an_async_endpoint_refuses_direct_containers(
    sm: Any, bucket: str, doubler: str, xgb_model: dict[str, Any]
) -> None:
    model = unique("model")
    sm.create_model(
        ModelName=model,
        Containers=containers(doubler, xgb_model),
        InferenceExecutionConfig={"Mode": "Direct"},
        ExecutionRoleArn=ROLE,
    )
    config = unique("config")
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {"VariantName": "v1", "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
        AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": f"s3://{bucket}/out/"}},
    )
    with pytest.raises(ClientError) as raised:
        sm.create_endpoint(EndpointName=unique("endpoint"), EndpointConfigName=config)
    assert "TargetContainerHostname" in raised.value.response["Error"]["Message"]
