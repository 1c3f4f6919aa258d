"""The SageMaker Python SDK (v2) against homeport: MultiDataModel, PipelineModel and a transformer following its
job's logs, with only the endpoint URL changed (AWS_ENDPOINT_URL for the clients the SDK makes itself)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import (
    KEYS,
    ROLE,
    XGBOOST_IMAGE,
    boto_client,
    csv_rows,
    pack,
    synthetic_regression,
    unique,
    wait_in_service,
)

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
sagemaker = pytest.importorskip("sagemaker")


@pytest.fixture
def session(server: Any, s3: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)  # the S3 client the SDK builds itself
    bucket = unique("sdk")
    s3.create_bucket(Bucket=bucket)
    boto_session = boto3.Session(
        aws_access_key_id=KEYS["HOMEPORT_ACCESS_KEY_ID"],
        aws_secret_access_key=KEYS["HOMEPORT_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    yield sagemaker.Session(
        boto_session=boto_session,
        sagemaker_client=boto_client("sagemaker", server.url),
        sagemaker_runtime_client=boto_client("sagemaker-runtime", server.url),
        default_bucket=bucket,
    )


def test_multi_data_model_adds_models_and_predicts_with_target_model(
    session: Any, sm: Any, xgb_model: dict[str, Any]
) -> None:
    from sagemaker.multidatamodel import MultiDataModel
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import CSVSerializer

    prefix = f"s3://{session.default_bucket()}/mme/"
    mdm = MultiDataModel(
        name=unique("mdm"),
        model_data_prefix=prefix,
        image_uri=XGBOOST_IMAGE,
        role=ROLE,
        sagemaker_session=session,
    )
    endpoint = unique("endpoint")
    mdm.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name=endpoint, wait=False)
    wait_in_service(sm, endpoint)
    mdm.add_model(str(xgb_model["path"]), "abalone-a.tar.gz")
    mdm.add_model(str(xgb_model["path"]), "abalone-b.tar.gz")
    assert sorted(mdm.list_models()) == ["abalone-a.tar.gz", "abalone-b.tar.gz"]
    predictor = Predictor(endpoint, sagemaker_session=session, serializer=CSVSerializer())
    x = xgb_model["x"][:3]
    for target in ("abalone-a.tar.gz", "abalone-b.tar.gz"):
        reply = predictor.predict(csv_rows(x).decode(), target_model=target)
        np.testing.assert_allclose(
            np.array(reply.split(), dtype=np.float32), xgb_model["booster"].inplace_predict(x), rtol=1e-6
        )
    assert sm.describe_model(ModelName=mdm.name)["PrimaryContainer"]["Mode"] == "MultiModel"
    predictor.delete_endpoint()


def test_pipeline_model_deploys_containers_in_order(
    session: Any, sm: Any, runtime: Any, probe: str, xgb_model: dict[str, Any]
) -> None:
    from sagemaker.model import Model
    from sagemaker.pipeline import PipelineModel

    echo = Model(  # passes the rows on as it gets them: the model scores what the client sent
        image_uri="homeport/python",
        model_data=probe,
        role=ROLE,
        env={"PROBE_MODE": "echo", "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"},
        sagemaker_session=session,
    )
    model = Model(image_uri=XGBOOST_IMAGE, model_data=xgb_model["url"], role=ROLE, sagemaker_session=session)
    pipeline = PipelineModel(models=[echo, model], role=ROLE, sagemaker_session=session, name=unique("pipeline"))
    endpoint = unique("endpoint")
    pipeline.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name=endpoint, wait=False)
    wait_in_service(sm, endpoint)
    assert len(sm.describe_model(ModelName=pipeline.name)["Containers"]) == 2
    x = xgb_model["x"][:4]
    reply = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=csv_rows(x))
    np.testing.assert_allclose(
        np.array(reply["Body"].read().split(), dtype=np.float32), xgb_model["booster"].inplace_predict(x), rtol=1e-6
    )
    sm.delete_endpoint(EndpointName=endpoint)


def shorter_sdk_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK sleeps 10 s between its reads of a job's logs, and asks for the job's status every 30 s by its
    clock: sleep 0.2 s instead, and move the SDK's clock on by what was not slept. Every call it makes, it still
    makes, in the same order."""
    import time
    import types

    skipped = [0.0]

    def sleep(seconds: float) -> None:
        slept = min(seconds, 0.2)
        time.sleep(slept)
        skipped[0] += seconds - slept

    fast_time = types.SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("_")})
    fast_time.sleep = sleep
    fast_time.time = lambda: time.time() + skipped[0]
    monkeypatch.setattr(sagemaker.session, "time", fast_time)


def test_transformer_with_its_defaults_follows_the_job_logs(
    session: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], xgb_model: dict[str, Any]
) -> None:
    """`transform()` waits and prints the job's logs through CloudWatch Logs (DescribeLogStreams, GetLogEvents)."""
    from sagemaker.model import Model

    shorter_sdk_sleeps(monkeypatch)
    bucket = session.default_bucket()
    x = xgb_model["x"][:5]
    session.boto_session.client("s3").put_object(Bucket=bucket, Key="batch/in/rows.csv", Body=csv_rows(x))
    model = Model(image_uri=XGBOOST_IMAGE, model_data=xgb_model["url"], role=ROLE, sagemaker_session=session)
    transformer = model.transformer(
        instance_count=1, instance_type="ml.m5.large", output_path=f"s3://{bucket}/batch/out/", accept="text/csv"
    )
    transformer.transform(f"s3://{bucket}/batch/in/", content_type="text/csv", split_type="Line")
    out = session.boto_session.client("s3").get_object(Bucket=bucket, Key="batch/out/rows.csv.out")["Body"].read()
    np.testing.assert_allclose(
        np.array(out.split(), dtype=np.float32), xgb_model["booster"].inplace_predict(x), rtol=1e-6
    )
    assert "serving xgboost runtime" in capsys.readouterr().out  # the instance's own output, as the SDK printed it


@pytest.mark.parametrize("isolated", [False, True], ids=["sourcedir-on-s3", "repacked-into-the-model"])
def test_script_mode_models_run_their_entry_point(session: Any, sm: Any, tmp_path: Path, isolated: bool) -> None:
    """The SDK uploads `source_dir` as `s3://…/sourcedir.tar.gz`, or (network isolation) repacks it into the model
    archive under `code/` and points SAGEMAKER_SUBMIT_DIRECTORY at `/opt/ml/model/code`."""
    import joblib
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.serializers import JSONSerializer
    from sagemaker.sklearn import SKLearnModel
    from sklearn.linear_model import LinearRegression

    from tests.integration.test_user_code import INFERENCE

    x, y = synthetic_regression(features=3)
    regression = LinearRegression().fit(x, y)
    (tmp_path / "model").mkdir()
    joblib.dump(regression, tmp_path / "model" / "model.joblib")
    archive = pack(tmp_path / "model", tmp_path / "model.tar.gz")
    model_data = session.upload_data(str(archive), key_prefix=unique("script-model"))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "inference.py").write_text(INFERENCE)
    model = SKLearnModel(
        model_data=model_data,
        role=ROLE,
        entry_point="inference.py",
        source_dir=str(tmp_path / "src"),
        framework_version="1.2-1",
        sagemaker_session=session,
        enable_network_isolation=isolated,
        name=unique("script"),
    )
    endpoint = unique("endpoint")
    model.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name=endpoint, wait=False)
    wait_in_service(sm, endpoint)
    submitted = sm.describe_model(ModelName=model.name)["PrimaryContainer"]["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"]
    assert submitted == "/opt/ml/model/code" if isolated else submitted.endswith("/sourcedir.tar.gz")
    from sagemaker.predictor import Predictor

    predictor = Predictor(endpoint, session, serializer=JSONSerializer(), deserializer=JSONDeserializer())
    reply = predictor.predict({"instances": x[:4].tolist()})
    np.testing.assert_allclose(reply["values"], regression.predict(x[:4].astype(float)), rtol=1e-9)
    predictor.delete_endpoint()


def test_async_predictions_with_and_without_a_content_type(session: Any, sm: Any, xgb_model: dict[str, Any]) -> None:
    """`predict_async(data=…)` sends no ContentType: the algorithm reads LIBSVM, and CSV rows are then a failure
    with a reason, never a quiet wrong answer; with `ContentType: text/csv` the rows are scored."""
    from sagemaker.async_inference import AsyncInferenceConfig, WaiterConfig
    from sagemaker.exceptions import AsyncInferenceModelError
    from sagemaker.model import Model
    from sagemaker.predictor import Predictor
    from sagemaker.predictor_async import AsyncPredictor
    from sagemaker.serializers import CSVSerializer

    bucket = session.default_bucket()
    model = Model(image_uri=XGBOOST_IMAGE, model_data=xgb_model["url"], role=ROLE, sagemaker_session=session)
    endpoint = unique("endpoint")
    config = AsyncInferenceConfig(output_path=f"s3://{bucket}/async-out/", failure_path=f"s3://{bucket}/async-fail/")
    model.deploy(
        initial_instance_count=1,
        instance_type="ml.m5.large",
        endpoint_name=endpoint,
        async_inference_config=config,
        wait=False,
    )
    wait_in_service(sm, endpoint)
    predictor = AsyncPredictor(Predictor(endpoint, session, serializer=CSVSerializer()), name=endpoint)
    x = xgb_model["x"][:3]
    waiter = WaiterConfig(max_attempts=150, delay=0.1)  # the SDK races two of these threads: the loser polls on
    scored = predictor.predict_async(data=x, initial_args={"ContentType": "text/csv"})
    np.testing.assert_allclose(
        np.array(scored.get_result(waiter).split(), dtype=np.float32),
        xgb_model["booster"].inplace_predict(x),
        rtol=1e-6,
    )
    refused = predictor.predict_async(data=x)
    with pytest.raises(AsyncInferenceModelError) as err:
        refused.get_result(waiter)
    assert "text/csv" in str(err.value)  # the reason says what to send instead
    predictor.delete_endpoint()


def test_serverless_deploy_predicts_from_a_cold_start(session: Any, sm: Any, xgb_model: dict[str, Any]) -> None:
    """`Model.deploy(serverless_inference_config=…)`: no instance type or count, InService without an instance, the
    first prediction a cold start."""
    from sagemaker.model import Model
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import CSVSerializer
    from sagemaker.serverless import ServerlessInferenceConfig

    model = Model(image_uri=XGBOOST_IMAGE, model_data=xgb_model["url"], role=ROLE, sagemaker_session=session)
    endpoint = unique("endpoint")
    config = ServerlessInferenceConfig(memory_size_in_mb=2048, max_concurrency=4)
    model.deploy(serverless_inference_config=config, endpoint_name=endpoint, wait=False)
    wait_in_service(sm, endpoint)
    (variant,) = sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"]
    assert variant["CurrentServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 4}
    assert variant["CurrentInstanceCount"] == 0
    predictor = Predictor(endpoint, sagemaker_session=session, serializer=CSVSerializer())
    x = xgb_model["x"][:3]
    reply = predictor.predict(csv_rows(x).decode())
    np.testing.assert_allclose(
        np.array(reply.split(), dtype=np.float32), xgb_model["booster"].inplace_predict(x), rtol=1e-6
    )
    predictor.delete_endpoint()


def test_deploy_with_data_capture_writes_sagemaker_records(
    session: Any, sm: Any, s3: Any, xgb_model: dict[str, Any]
) -> None:
    """`Model.deploy(data_capture_config=DataCaptureConfig(...))` with the SDK's defaults (CSV and JSON as text):
    each prediction's request and reply land as JSON Lines under the destination, as the SDK's own readers expect."""
    import json

    from sagemaker.model import Model
    from sagemaker.model_monitor import DataCaptureConfig
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import CSVSerializer

    bucket = session.default_bucket()
    model = Model(image_uri=XGBOOST_IMAGE, model_data=xgb_model["url"], role=ROLE, sagemaker_session=session)
    endpoint = unique("endpoint")
    capture = DataCaptureConfig(
        enable_capture=True,
        sampling_percentage=100,
        destination_s3_uri=f"s3://{bucket}/capture",
        sagemaker_session=session,
    )
    model.deploy(
        initial_instance_count=1,
        instance_type="ml.m5.large",
        endpoint_name=endpoint,
        data_capture_config=capture,
        wait=False,
    )
    wait_in_service(sm, endpoint)
    assert sm.describe_endpoint(EndpointName=endpoint)["DataCaptureConfig"]["CaptureStatus"] == "Started"
    predictor = Predictor(endpoint, sagemaker_session=session, serializer=CSVSerializer())
    rows = csv_rows(xgb_model["x"][:2]).decode()
    reply = predictor.predict(rows)
    predictor.delete_endpoint()  # the server writes what it gathered within its flush period (1 s in tests)

    def lines() -> list[dict[str, Any]]:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"capture/{endpoint}/").get("Contents", [])
        bodies = [s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode() for o in listed]
        return [json.loads(line) for body in bodies for line in body.splitlines()]

    from tests.integration.test_lifecycle import until

    until(lambda: len(lines()) == 1, timeout=30)
    (record,) = lines()
    assert record["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": rows,
        "encoding": "CSV",
    }
    assert record["captureData"]["endpointOutput"]["data"].encode() == reply


def suggested_baseline(session: Any, tmp_path: Path, rows: np.ndarray) -> Any:
    """A DefaultModelMonitor whose baseline (`suggest_baseline`) is `rows`, as columns a, b, c, d."""
    from sagemaker.model_monitor import DefaultModelMonitor
    from sagemaker.model_monitor.dataset_format import DatasetFormat

    baseline = tmp_path / "baseline.csv"
    baseline.write_text("a,b,c,d\n" + csv_rows(rows).decode() + "\n")
    monitor = DefaultModelMonitor(
        role=ROLE, instance_count=1, instance_type="ml.m5.xlarge", sagemaker_session=session, max_runtime_in_seconds=600
    )
    monitor.suggest_baseline(
        baseline_dataset=str(baseline),
        dataset_format=DatasetFormat.csv(header=True),
        output_s3_uri=f"s3://{session.default_bucket()}/baseline",
        wait=True,
        logs=False,
    )
    return monitor


def test_a_baseline_and_a_monitoring_schedule_as_the_sdk_makes_them(
    session: Any, sm: Any, s3: Any, tmp_path: Path, xgb_model: dict[str, Any]
) -> None:
    """`DefaultModelMonitor.suggest_baseline` runs the analyzer image as a processing job; `baseline_statistics()` and
    `suggested_constraints()` read what homeport wrote; `create_monitoring_schedule` checks a capturing endpoint's
    requests against them, and the SDK reads the execution's report."""

    x = xgb_model["x"][:200]
    monitor = suggested_baseline(session, tmp_path, x)
    stats = monitor.baseline_statistics().body_dict
    assert stats["dataset"]["item_count"] == 200.0
    first = stats["features"][0]
    assert (first["name"], first["inferred_type"]) == ("a", "Fractional")
    np.testing.assert_allclose(first["numerical_statistics"]["mean"], x[:, 0].mean(), rtol=1e-6)
    suggested = monitor.suggested_constraints().body_dict
    assert [f["name"] for f in suggested["features"]] == ["a", "b", "c", "d"]
    assert suggested["monitoring_config"]["evaluate_constraints"] == "Enabled"

    # A capturing endpoint, and a schedule that checks what it captured against that baseline, run once now.
    from sagemaker.model import Model
    from sagemaker.model_monitor import CronExpressionGenerator, DataCaptureConfig
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import CSVSerializer

    from tests.integration.test_lifecycle import until

    bucket = session.default_bucket()
    endpoint = unique("monitored")
    model = Model(image_uri=XGBOOST_IMAGE, model_data=xgb_model["url"], role=ROLE, sagemaker_session=session)
    capture = DataCaptureConfig(True, 100, f"s3://{bucket}/capture", sagemaker_session=session)
    model.deploy(1, "ml.m5.large", endpoint_name=endpoint, data_capture_config=capture, wait=False)
    wait_in_service(sm, endpoint)
    Predictor(endpoint, sagemaker_session=session, serializer=CSVSerializer()).predict(csv_rows(x[:50]).decode())
    until(lambda: bool(s3.list_objects_v2(Bucket=bucket, Prefix=f"capture/{endpoint}/").get("KeyCount")), timeout=30)
    monitor.create_monitoring_schedule(
        endpoint_input=endpoint,
        output_s3_uri=f"s3://{bucket}/reports",
        statistics=monitor.baseline_statistics(),
        constraints=monitor.suggested_constraints(),
        schedule_cron_expression=CronExpressionGenerator.now(),
        data_analysis_start_time="-PT1H",
        data_analysis_end_time="-PT0H",
    )
    until(lambda: bool(monitor.list_executions()) and "Completed" in str(monitor.describe_schedule()), timeout=60)
    (execution,) = monitor.list_executions()
    assert execution.describe()["ProcessingJobStatus"] == "Completed"
    summary = monitor.describe_schedule()["LastMonitoringExecutionSummary"]
    assert summary["MonitoringExecutionStatus"] == "Completed", summary
    assert monitor.latest_monitoring_constraint_violations().body_dict == {"violations": []}
    assert monitor.latest_monitoring_statistics().body_dict["dataset"]["item_count"] == 50.0
    monitor.stop_monitoring_schedule()
    monitor.delete_monitoring_schedule()  # and the job definition the SDK created for it
    assert sm.list_monitoring_schedules(EndpointName=endpoint)["MonitoringScheduleSummaries"] == []


def test_batch_capture_and_a_schedule_over_it_as_the_sdk_makes_them(
    session: Any, sm: Any, tmp_path: Path, xgb_model: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`transform(batch_data_capture_config=…)` captures a job's input and stamps its output with inference ids;
    `create_monitoring_schedule(batch_transform_input=…)` checks what it captured against a baseline."""
    from sagemaker.inputs import BatchDataCaptureConfig
    from sagemaker.model import Model
    from sagemaker.model_monitor import BatchTransformInput, CronExpressionGenerator
    from sagemaker.model_monitor.dataset_format import MonitoringDatasetFormat

    from tests.integration.test_lifecycle import until

    shorter_sdk_sleeps(monkeypatch)
    bucket = session.default_bucket()
    s3 = session.boto_session.client("s3")
    x = xgb_model["x"]
    monitor = suggested_baseline(session, tmp_path, x[:200])
    s3.put_object(Bucket=bucket, Key="batch/in/rows.csv", Body=csv_rows(x[200:260] + 3.0))  # shifted rows
    model = Model(image_uri=XGBOOST_IMAGE, model_data=xgb_model["url"], role=ROLE, sagemaker_session=session)
    transformer = model.transformer(
        instance_count=1, instance_type="ml.m5.large", output_path=f"s3://{bucket}/batch/out/", accept="text/csv"
    )
    transformer.transform(
        f"s3://{bucket}/batch/in/",
        content_type="text/csv",
        split_type="Line",
        batch_data_capture_config=BatchDataCaptureConfig(f"s3://{bucket}/batch-capture", generate_inference_id=True),
        logs=False,
    )
    out = s3.get_object(Bucket=bucket, Key="batch/out/rows.csv.out")["Body"].read().decode().splitlines()
    assert len(out) == 60 and all(len(line.split(",")) == 3 for line in out)  # prediction, inference id, time

    monitor.create_monitoring_schedule(
        batch_transform_input=BatchTransformInput(
            f"s3://{bucket}/batch-capture", "/opt/ml/processing/input", MonitoringDatasetFormat.csv(header=False)
        ),
        output_s3_uri=f"s3://{bucket}/reports",
        statistics=monitor.baseline_statistics(),
        constraints=monitor.suggested_constraints(),
        schedule_cron_expression=CronExpressionGenerator.now(),
        data_analysis_start_time="-PT1H",
        data_analysis_end_time="-PT0H",
    )
    until(lambda: "CompletedWithViolations" in str(monitor.describe_schedule()), timeout=60)
    violations = monitor.latest_monitoring_constraint_violations().body_dict["violations"]
    assert {v["feature_name"] for v in violations if v["constraint_check_type"] == "baseline_drift_check"} == {
        "a",
        "b",
        "c",
        "d",
    }
    assert monitor.latest_monitoring_statistics().body_dict["dataset"]["item_count"] == 60.0
    monitor.delete_monitoring_schedule()


def test_a_model_quality_baseline_as_the_sdk_asks_for_it(session: Any, tmp_path: Path) -> None:
    """`ModelQualityMonitor.suggest_baseline` of a binary classifier's probabilities against its labels: SageMaker's
    metrics and constraints, which `baseline_statistics()` and `suggested_constraints()` read."""
    from sagemaker.model_monitor import ModelQualityMonitor
    from sagemaker.model_monitor.dataset_format import DatasetFormat

    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, 250)
    scores = np.clip(labels * 0.4 + rng.uniform(0, 0.6, 250), 0, 1)
    data = tmp_path / "validation.csv"
    data.write_text("probability,label\n" + "".join(f"{p:.4f},{y}\n" for p, y in zip(scores, labels, strict=True)))
    monitor = ModelQualityMonitor(role=ROLE, instance_count=1, instance_type="ml.m5.xlarge", sagemaker_session=session)
    monitor.suggest_baseline(
        baseline_dataset=str(data),
        dataset_format=DatasetFormat.csv(header=True),
        problem_type="BinaryClassification",
        probability_attribute="probability",
        ground_truth_attribute="label",
        probability_threshold_attribute="0.5",  # the SDK puts it in the environment as it is: a string
        output_s3_uri=f"s3://{session.default_bucket()}/quality",
        wait=True,
        logs=False,
    )
    section = monitor.baseline_statistics().body_dict["binary_classification_metrics"]
    assert 0.5 < section["auc"]["value"] <= 1.0 and "standard_deviation" in section["auc"]
    held = monitor.suggested_constraints().body_dict["binary_classification_constraints"]
    assert held["recall"]["comparison_operator"] == "LessThanThreshold"


def test_estimator_fit_prints_its_logs_and_deploys_what_it_trained(
    session: Any, sm: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The chapter's flow: `image_uris.retrieve("xgboost")`, `Estimator.fit` on train and validation channels
    (following the job's logs), then `deploy` and `predict` on the model it trained."""
    import xgboost
    from sagemaker import image_uris
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.serializers import CSVSerializer

    shorter_sdk_sleeps(monkeypatch)
    x, y = synthetic_regression(rows=300, features=4)
    rows = csv_rows(np.column_stack([y, x]))
    bucket = session.default_bucket()
    s3 = session.boto_session.client("s3")
    s3.put_object(Bucket=bucket, Key="abalone/train/train.csv", Body=rows)
    s3.put_object(Bucket=bucket, Key="abalone/validation/validation.csv", Body=rows)
    estimator = Estimator(
        image_uri=image_uris.retrieve("xgboost", "us-east-1", "1.7-1"),
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        output_path=f"s3://{bucket}/abalone/output",
        sagemaker_session=session,
        hyperparameters={"num_round": 15, "max_depth": 3, "objective": "reg:squarederror"},
    )
    estimator.fit(
        {
            "train": TrainingInput(f"s3://{bucket}/abalone/train/", content_type="text/csv"),
            "validation": TrainingInput(f"s3://{bucket}/abalone/validation/", content_type="text/csv"),
        }
    )
    printed = capsys.readouterr().out
    assert "[14]#011train-rmse:" in printed and "Training seconds:" in printed
    assert estimator.model_data.endswith(f"{estimator.latest_training_job.name}/output/model.tar.gz")

    endpoint = unique("endpoint")
    estimator.deploy(1, "ml.m5.large", endpoint_name=endpoint, wait=False)
    wait_in_service(sm, endpoint)
    from sagemaker.predictor import Predictor

    predictor = Predictor(endpoint, session, serializer=CSVSerializer())
    reply = predictor.predict(x[:5])
    local = xgboost.train(
        {"max_depth": 3, "objective": "reg:squarederror"}, xgboost.DMatrix(x, label=y), num_boost_round=15
    )
    np.testing.assert_allclose(np.array(reply.split(), dtype=np.float32), local.inplace_predict(x[:5]), rtol=1e-5)
    predictor.delete_endpoint()


def test_framework_estimator_trains_in_script_mode(
    session: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An SKLearn estimator's entry point runs with the toolkit's environment; the SDK JSON-encodes its
    hyperparameters and uploads the source directory as sourcedir.tar.gz."""
    import io
    import json
    import tarfile

    from sagemaker.sklearn import SKLearn

    from tests.integration.test_training_jobs import TRAIN_SCRIPT

    shorter_sdk_sleeps(monkeypatch)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(TRAIN_SCRIPT)
    bucket = session.default_bucket()
    s3 = session.boto_session.client("s3")
    s3.put_object(Bucket=bucket, Key="script/train/rows.csv", Body=b"1,2\n3,4\n")
    estimator = SKLearn(
        entry_point="train.py",
        source_dir=str(tmp_path / "src"),
        framework_version="1.2-1",
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.large",
        sagemaker_session=session,
        hyperparameters={"scale": 3},
    )
    estimator.fit({"train": f"s3://{bucket}/script/train/"}, logs=False)
    key = estimator.model_data.split("/", 3)[3]
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
        model = json.loads(tar.extractfile("model.json").read())  # type: ignore[union-attr]
    assert model == {"rows": 2, "scale": 3.0, "hosts": ["algo-1"]}


def test_sklearn_processor_runs_a_script_on_s3_inputs(
    session: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`SKLearnProcessor.run` uploads the code, runs it with its inputs and outputs at /opt/ml/processing paths
    (passed as arguments, as scripts written for AWS take them), and follows its logs."""
    from sagemaker.processing import ProcessingInput, ProcessingOutput
    from sagemaker.sklearn.processing import SKLearnProcessor

    shorter_sdk_sleeps(monkeypatch)
    script = tmp_path / "preprocess.py"
    script.write_text(
        "import argparse, os\n"
        "p = argparse.ArgumentParser(); p.add_argument('--input'); p.add_argument('--output'); a = p.parse_args()\n"
        "rows = open(os.path.join(a.input, 'raw.csv')).read().split()\n"
        "open(os.path.join(a.output, 'doubled.csv'), 'w').write('\\n'.join(str(2 * int(r)) for r in rows))\n"
        "print(f'doubled {len(rows)} rows')\n"
    )
    bucket = session.default_bucket()
    session.boto_session.client("s3").put_object(Bucket=bucket, Key="prep/in/raw.csv", Body=b"1\n2\n3\n")
    processor = SKLearnProcessor(
        framework_version="1.2-1",
        role=ROLE,
        instance_type="ml.m5.large",
        instance_count=1,
        sagemaker_session=session,
    )
    processor.run(
        code=str(script),
        inputs=[ProcessingInput(source=f"s3://{bucket}/prep/in/", destination="/opt/ml/processing/input")],
        outputs=[ProcessingOutput(source="/opt/ml/processing/output", destination=f"s3://{bucket}/prep/out/")],
        arguments=["--input", "/opt/ml/processing/input", "--output", "/opt/ml/processing/output"],
    )
    out = session.boto_session.client("s3").get_object(Bucket=bucket, Key="prep/out/doubled.csv")["Body"].read()
    assert out.split() == [b"2", b"4", b"6"]
    assert "doubled 3 rows" in capsys.readouterr().out
    assert processor.latest_job.describe()["ProcessingJobStatus"] == "Completed"


def test_predict_stream_yields_the_parts_as_they_come(session: Any, sm: Any, tmp_path: Path) -> None:
    from sagemaker.iterators import ByteIterator
    from sagemaker.model import Model
    from sagemaker.predictor import Predictor

    from tests.integration.conftest import code_only_model
    from tests.integration.test_response_stream import STREAMER

    model = Model(
        image_uri="homeport/python",
        model_data=code_only_model(tmp_path, STREAMER),
        role=ROLE,
        sagemaker_session=session,
    )
    endpoint = unique("endpoint")
    model.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name=endpoint, wait=False)
    wait_in_service(sm, endpoint)
    predictor = Predictor(endpoint, session)
    got = list(predictor.predict_stream(b"alpha beta gamma", iterator=ByteIterator))
    assert b"".join(got) == b"alpha:0 beta:1 gamma:2 " and len(got) >= 2
    predictor.delete_endpoint()


def test_register_approve_and_deploy_from_the_registry(
    session: Any, sm: Any, xgb_model: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Model.register()` makes version 1 of a group (PendingManualApproval, as the SDK asks); after approval,
    `ModelPackage(...).deploy()` serves it."""
    from sagemaker import ModelPackage
    from sagemaker.model import Model
    from sagemaker.model_metrics import MetricsSource, ModelMetrics
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import CSVSerializer

    shorter_sdk_sleeps(monkeypatch)
    group = unique("sdk-registry")
    model = Model(image_uri=XGBOOST_IMAGE, model_data=xgb_model["url"], role=ROLE, sagemaker_session=session)
    report = f"s3://{session.default_bucket()}/evaluation.json"
    metrics = ModelMetrics(model_statistics=MetricsSource(content_type="application/json", s3_uri=report))
    registered = model.register(
        content_types=["text/csv"],
        response_types=["text/csv"],
        inference_instances=["ml.m5.large"],
        transform_instances=["ml.m5.large"],
        model_package_group_name=group,
        model_metrics=metrics,
    )
    arn = registered.model_package_arn
    described = sm.describe_model_package(ModelPackageName=arn)
    assert (described["ModelPackageVersion"], described["ModelApprovalStatus"]) == (1, "PendingManualApproval")
    assert described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == report
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    endpoint = unique("from-registry")
    ModelPackage(role=ROLE, model_package_arn=arn, sagemaker_session=session).deploy(
        1, "ml.m5.large", endpoint_name=endpoint
    )
    x = xgb_model["x"][:3]
    reply = Predictor(endpoint, sagemaker_session=session, serializer=CSVSerializer()).predict(csv_rows(x).decode())
    np.testing.assert_allclose(
        np.array(reply.split(), dtype=np.float32), xgb_model["booster"].inplace_predict(x), rtol=1e-6
    )
