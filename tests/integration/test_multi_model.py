"""Multi-model endpoints through boto3: models under one S3 prefix, each loaded on its first request, evicted
under memory pressure, and SageMaker's errors for what goes wrong."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, XGBOOST_IMAGE, boto_client, csv_rows, deploy, pack, synthetic_regression, unique
from tests.integration.test_lifecycle import until

SEXES = ("F", "I", "M")
SLOW_LOAD = """
import time

def model_fn(model_dir):
    time.sleep(5)  # well past the servers' 1 s load wait, even when a busy machine holds up their event loops
    return None

def transform_fn(model, data, content_type, accept):
    return "loaded slowly"
"""
BROKEN_LOAD = """
def model_fn(model_dir):
    raise RuntimeError("this model refuses to load")
"""


@pytest.fixture(scope="module")
def boosters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One small XGBoost model per name, each trained on other data (so their scores differ), padded to
    ~400 KB so that a 1 MB model cache holds two of them; and a few archives that go wrong."""
    import xgboost

    root = tmp_path_factory.mktemp("mme")
    out: dict[str, Any] = {}
    for seed, name in enumerate(SEXES):
        x, y = synthetic_regression(seed=seed)
        booster = xgboost.train(
            {"max_depth": 2, "objective": "reg:squarederror"}, xgboost.DMatrix(x, label=y), 5 + seed
        )
        model_dir = root / name
        model_dir.mkdir()
        booster.save_model(str(model_dir / "xgboost-model.ubj"))
        (model_dir / "xgboost-model.ubj").rename(model_dir / "xgboost-model")
        (model_dir / "padding.bin").write_bytes(b"\0" * 400_000)
        out[name] = {"booster": booster, "archive": pack(model_dir, root / f"{name}.tar.gz")}
    for name, script in (("slow", SLOW_LOAD), ("broken", BROKEN_LOAD)):
        (root / name / "code").mkdir(parents=True)
        (root / name / "code" / "inference.py").write_text(script)
        out[name] = {"archive": pack(root / name, root / f"{name}.tar.gz")}
    corrupt = root / "corrupt.tar.gz"
    corrupt.write_bytes(b"\x1f\x8b" + b"not really gzip" * 100)
    out["corrupt"] = {"archive": corrupt}
    return out


def upload(s3: Any, bucket: str, boosters: dict[str, Any], names: tuple[str, ...] = SEXES) -> str:
    prefix = f"mme/{unique('p')}/"
    for name in names:
        s3.upload_file(str(boosters[name]["archive"]), bucket, f"{prefix}{name}.tar.gz")
    return f"s3://{bucket}/{prefix}"


def scores(runtime: Any, endpoint: str, target: str, x: np.ndarray) -> np.ndarray:
    reply = runtime.invoke_endpoint(EndpointName=endpoint, TargetModel=target, ContentType="text/csv", Body=csv_rows(x))
    return np.array(reply["Body"].read().decode().split(), dtype=np.float32)


def mme(sm: Any, prefix: str, image: str = XGBOOST_IMAGE, **fields: Any) -> dict[str, str]:
    return deploy(sm, prefix, image=image, Mode="MultiModel", **fields)


def test_each_target_model_is_served_from_its_own_archive(
    sm: Any, runtime: Any, s3: Any, bucket: str, boosters: dict[str, Any]
) -> None:
    names = mme(sm, upload(s3, bucket, boosters))
    x = synthetic_regression(rows=4, seed=9)[0]
    for _ in range(2):  # loaded on the first request, from the cache on the second
        for sex in SEXES:
            np.testing.assert_allclose(
                scores(runtime, names["endpoint"], f"{sex}.tar.gz", x),
                boosters[sex]["booster"].inplace_predict(x),
                rtol=1e-6,
            )
    described = sm.describe_model(ModelName=names["model"])["PrimaryContainer"]
    assert described["Mode"] == "MultiModel"
    sm.delete_endpoint(EndpointName=names["endpoint"])


def metric(cw: Any, endpoint: str, started: datetime) -> Callable[..., float | None]:
    dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "v1"}]

    def stat(name: str, statistic: str, namespace: str = "AWS/SageMaker") -> float | None:
        points = cw.get_metric_statistics(
            Namespace=namespace,
            MetricName=name,
            Dimensions=dims,
            StartTime=started,
            EndTime=datetime.now(UTC) + timedelta(minutes=1),
            Period=60,
            Statistics=[statistic],
        )["Datapoints"]
        return sum(p[statistic] for p in points) if points else None

    return stat


def on_fast(fast: Any) -> tuple[Any, Any, Any, str, datetime]:
    """Clients of the server whose metrics come each second, a new bucket, and a time just before now."""
    sm, runtime, s3 = (boto_client(s, fast.url) for s in ("sagemaker", "sagemaker-runtime", "s3"))
    bucket = unique("bucket")
    s3.create_bucket(Bucket=bucket)
    return sm, runtime, s3, bucket, datetime.now(UTC) - timedelta(seconds=1)


def test_least_recently_used_models_are_unloaded_under_memory_pressure(
    fast: Any, cw: Any, boosters: dict[str, Any]
) -> None:
    sm, runtime, s3, bucket, started = on_fast(fast)
    # A 1 MB cache holds two of the ~400 KB models.
    names = mme(sm, upload(s3, bucket, boosters), environment={"HOMEPORT_MODEL_CACHE_MB": "1"})
    endpoint = names["endpoint"]
    x = synthetic_regression(rows=2, seed=3)[0]
    for sex in ("F", "I", "F", "M", "F", "I"):  # misses: F, I, M (unloads I), I (unloads M)
        np.testing.assert_allclose(
            scores(runtime, endpoint, f"{sex}.tar.gz", x), boosters[sex]["booster"].inplace_predict(x), rtol=1e-6
        )
    stat = metric(cw, endpoint, started)
    until(lambda: stat("ModelCacheHit", "SampleCount") == 6)
    assert stat("ModelCacheHit", "Sum") == 2
    assert stat("ModelLoadingTime", "SampleCount") == 4
    assert stat("ModelDownloadingTime", "SampleCount") == 4
    assert stat("ModelLoadingWaitTime", "SampleCount") == 4
    assert stat("ModelUnloadingTime", "SampleCount") == 2
    until(lambda: stat("LoadedModelCount", "Maximum", "/aws/sagemaker/Endpoints") == 2)
    sm.delete_endpoint(EndpointName=endpoint)


def test_concurrent_first_requests_load_the_model_once_and_stick_to_its_instance(
    fast: Any, cw: Any, boosters: dict[str, Any]
) -> None:
    sm, runtime, s3, bucket, started = on_fast(fast)
    names = mme(sm, upload(s3, bucket, boosters, ("M",)), count=2)
    endpoint = names["endpoint"]
    x = synthetic_regression(rows=2, seed=4)[0]
    want = boosters["M"]["booster"].inplace_predict(x)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: scores(runtime, endpoint, "M.tar.gz", x), range(16)))
    for reply in got:
        np.testing.assert_allclose(reply, want, rtol=1e-6)
    for _ in range(5):  # later requests go to the instance that has it
        scores(runtime, endpoint, "M.tar.gz", x)
    stat = metric(cw, endpoint, started)
    until(lambda: stat("ModelCacheHit", "SampleCount") == 21)
    assert stat("ModelLoadingTime", "SampleCount") == 1
    sm.delete_endpoint(EndpointName=endpoint)


def test_with_the_cache_disabled_every_request_loads_its_model(fast: Any, cw: Any, boosters: dict[str, Any]) -> None:
    sm, runtime, s3, bucket, started = on_fast(fast)
    names = mme(sm, upload(s3, bucket, boosters, ("F",)), MultiModelConfig={"ModelCacheSetting": "Disabled"})
    x = synthetic_regression(rows=2, seed=5)[0]
    stat = metric(cw, names["endpoint"], started)
    for n in (1, 2, 3):
        scores(runtime, names["endpoint"], "F.tar.gz", x)
        until(lambda n=n: stat("ModelUnloadingTime", "SampleCount") == n)  # type: ignore[misc]
    assert stat("ModelCacheHit", "Sum") == 0
    assert stat("ModelLoadingTime", "SampleCount") == 3
    sm.delete_endpoint(EndpointName=names["endpoint"])


def test_a_slow_load_is_model_not_ready_until_it_is_in(fast: Any, boosters: dict[str, Any]) -> None:
    sm, runtime, s3, bucket, _ = on_fast(fast)
    names = mme(sm, upload(s3, bucket, boosters, ("slow",)), image="homeport/python")
    invoke = lambda: runtime.invoke_endpoint(  # noqa: E731
        EndpointName=names["endpoint"], TargetModel="slow.tar.gz", ContentType="text/csv", Body=b"1"
    )
    with pytest.raises(ClientError) as raised:
        invoke()
    assert raised.value.response["Error"]["Code"] == "ModelNotReadyException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert "retry" in raised.value.response["Error"]["Message"]
    until(lambda: _ok(invoke))
    assert invoke()["Body"].read() == b"loaded slowly"
    sm.delete_endpoint(EndpointName=names["endpoint"])


def _ok(call: Callable[[], Any]) -> bool:
    try:
        call()
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ModelNotReadyException"
        return False
    return True


@pytest.fixture(scope="module")
def errors_endpoint(sm: Any, s3: Any, boosters: dict[str, Any]) -> str:
    bucket = unique("bucket")
    s3.create_bucket(Bucket=bucket)
    prefix = upload(s3, bucket, boosters, ("F", "broken", "corrupt"))
    return mme(sm, prefix, image="homeport/xgboost")["endpoint"]


def invoke_error(runtime: Any, endpoint: str, **params: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=b"1,2,3,4", **params)
    return dict(raised.value.response)


def test_a_multi_model_endpoint_needs_a_target_model(runtime: Any, errors_endpoint: str) -> None:
    error = invoke_error(runtime, errors_endpoint)["Error"]
    assert error["Code"] == "ValidationError"
    assert "is missing a target model header" in error["Message"]


def test_target_model_on_a_single_model_endpoint_is_refused(sm: Any, runtime: Any, xgb_model: dict[str, Any]) -> None:
    endpoint = deploy(sm, xgb_model["url"])["endpoint"]
    error = invoke_error(runtime, endpoint, TargetModel="F.tar.gz")["Error"]
    assert error == {
        "Code": "ValidationError",
        "Message": f"Endpoint {endpoint} is not a multi-model endpoint and does not support target model header.",
    }
    sm.delete_endpoint(EndpointName=endpoint)


@pytest.mark.parametrize("target", ["absent.tar.gz", "../F.tar.gz", "/F.tar.gz"])
def test_a_target_model_that_names_no_archive_is_a_validation_error(
    runtime: Any, errors_endpoint: str, target: str
) -> None:
    error = invoke_error(runtime, errors_endpoint, TargetModel=target)["Error"]
    assert error["Code"] == "ValidationError"
    assert target in error["Message"]


@pytest.mark.parametrize(
    ("target", "words"), [("corrupt.tar.gz", "not a readable"), ("broken.tar.gz", "refuses to load")]
)
def test_a_model_that_cannot_load_is_a_model_error(runtime: Any, errors_endpoint: str, target: str, words: str) -> None:
    reply = invoke_error(runtime, errors_endpoint, TargetModel=target)
    assert reply["Error"]["Code"] == "ModelError"
    assert reply["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert words in reply["OriginalMessage"]


def test_a_broken_model_does_not_stop_the_others(runtime: Any, errors_endpoint: str, boosters: dict[str, Any]) -> None:
    invoke_error(runtime, errors_endpoint, TargetModel="broken.tar.gz")
    x = synthetic_regression(rows=2, seed=6)[0]
    np.testing.assert_allclose(
        scores(runtime, errors_endpoint, "F.tar.gz", x), boosters["F"]["booster"].inplace_predict(x), rtol=1e-6
    )


def test_create_model_checks_the_multi_model_fields(sm: Any, bucket: str) -> None:
    def refused(container: dict[str, Any]) -> str:
        with pytest.raises(ClientError) as raised:
            sm.create_model(ModelName=unique("model"), PrimaryContainer=container, ExecutionRoleArn=ROLE)
        assert raised.value.response["Error"]["Code"] == "ValidationException"
        return str(raised.value.response["Error"]["Message"])

    assert "needs ModelDataUrl" in refused({"Image": XGBOOST_IMAGE, "Mode": "MultiModel"})
    assert "only to a container with Mode=MultiModel" in refused(
        {
            "Image": XGBOOST_IMAGE,
            "ModelDataUrl": f"s3://{bucket}/m.tar.gz",
            "MultiModelConfig": {"ModelCacheSetting": "Disabled"},
        }
    )


def test_batch_transform_refuses_a_multi_model_container(sm: Any, bucket: str) -> None:
    model = unique("model")
    sm.create_model(
        ModelName=model,
        PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": f"s3://{bucket}/models/", "Mode": "MultiModel"},
        ExecutionRoleArn=ROLE,
    )
    with pytest.raises(ClientError) as raised:
        sm.create_transform_job(
            TransformJobName=unique("job"),
            ModelName=model,
            TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/in/"}}},
            TransformOutput={"S3OutputPath": f"s3://{bucket}/out/"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        )
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "multi-model" in raised.value.response["Error"]["Message"]


@pytest.mark.parametrize("kind", ["async", "shadow"])
def test_endpoints_whose_requests_carry_no_target_model_refuse_a_multi_model_container(
    sm: Any, bucket: str, kind: str
) -> None:
    model = unique("model")
    sm.create_model(
        ModelName=model,
        PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": f"s3://{bucket}/models/", "Mode": "MultiModel"},
        ExecutionRoleArn=ROLE,
    )
    variant = {"ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
    extra: dict[str, Any] = (
        {"AsyncInferenceConfig": {"OutputConfig": {"S3OutputPath": f"s3://{bucket}/out/"}}}
        if kind == "async"
        else {"ShadowProductionVariants": [{**variant, "VariantName": "shadow"}]}
    )
    config = unique("config")
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[{**variant, "VariantName": "v1"}], **extra)
    with pytest.raises(ClientError) as raised:
        sm.create_endpoint(EndpointName=unique("endpoint"), EndpointConfigName=config)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "TargetModel (Mode=MultiModel)" in raised.value.response["Error"]["Message"]
