"""Batch transform data capture with boto3 against a real `homeport serve`: the manifests a transform job's
DataCaptureConfig writes, the inference ids GenerateInferenceId stamps its outputs with, each refusal, and monitoring
schedules over what transform jobs captured (BatchTransformInput): data quality against a baseline, with its metrics
and `homeport monitor SCHEDULE`, and model quality with ground truth joined on the stamped ids.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC
from typing import Any

import numpy as np
import pytest

from tests.conftest import ROLE, unique
from tests.integration.test_cli import homeport
from tests.integration.test_data_capture import refused
from tests.integration.test_model_monitor import ANALYZER, baseline_job, read_json, to_csv
from tests.integration.test_monitoring_schedules import finished
from tests.integration.test_processing_jobs import wait
from tests.integration.test_transform_jobs import keys, read, run_job

CSV_OUT = {"AssembleWith": "Line", "Accept": "text/csv"}
CLUSTER = {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}}


def transform(
    sm: Any, s3: Any, model: str, bucket: str, rows: np.ndarray, capture: str, **config: Any
) -> dict[str, Any]:
    """A transform job over `rows` (in two files, one in a sub-folder) that captures under `capture`."""
    folder = unique("in")
    half = len(rows) // 2
    s3.put_object(Bucket=bucket, Key=f"{folder}/a.csv", Body=to_csv(rows[:half]).encode())
    s3.put_object(Bucket=bucket, Key=f"{folder}/deep/b.csv", Body=to_csv(rows[half:]).encode())
    job = run_job(
        sm,
        model,
        f"s3://{bucket}/{folder}/",
        f"s3://{bucket}/{folder}-out/",
        more_output=CSV_OUT,
        DataCaptureConfig={"DestinationS3Uri": f"s3://{bucket}/{capture}", **config},
    )
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    return {**job, "folder": folder}


@pytest.fixture(scope="module")
def bucket(fs3: Any) -> str:
    name = unique("batchcap")
    fs3.create_bucket(Bucket=name)
    return name


def test_a_transform_job_records_its_inputs_and_outputs_and_stamps_inference_ids(
    fsm: Any, fs3: Any, fast_xgb: str, xgb_model: dict[str, Any], bucket: str
) -> None:
    job = transform(fsm, fs3, fast_xgb, bucket, xgb_model["x"][:20], "capture-ids", GenerateInferenceId=True)
    name, folder = job["TransformJobName"], job["folder"]
    assert job["DataCaptureConfig"] == {"DestinationS3Uri": f"s3://{bucket}/capture-ids", "GenerateInferenceId": True}
    started = job["TransformStartTime"].astimezone(UTC)
    hour = f"{started:%Y/%m/%d/%H}"
    assert keys(fs3, bucket, "capture-ids/") == [
        f"capture-ids/input/{hour}/{name}.manifest",
        f"capture-ids/output/{hour}/{name}.manifest",
    ]
    inputs = json.loads(read(fs3, bucket, f"capture-ids/input/{hour}/{name}.manifest"))
    assert inputs == [{"prefix": f"s3://{bucket}/{folder}/"}, "a.csv", "deep/b.csv"]
    outputs = json.loads(read(fs3, bucket, f"capture-ids/output/{hour}/{name}.manifest"))
    assert outputs == [{"prefix": f"s3://{bucket}/{folder}-out/"}, "a.csv.out", "deep/b.csv.out"]

    rows = [line.split(",") for key in ("a.csv.out", "deep/b.csv.out")
            for line in read(fs3, bucket, f"{folder}-out/{key}").decode().splitlines()]  # fmt: skip
    assert len(rows) == 20 and all(len(row) == 3 for row in rows)
    sent = np.loadtxt(to_csv(xgb_model["x"][:20]).splitlines(), delimiter=",", dtype=np.float32)  # as rounded
    expected = xgb_model["booster"].inplace_predict(sent)
    assert np.allclose([float(row[0]) for row in rows], expected, atol=1e-4)  # the prediction is untouched
    assert len({uuid.UUID(row[1]) for row in rows}) == 20  # one id per record
    assert {row[2] for row in rows} == {started.strftime("%Y-%m-%dT%H:%M:%SZ")}  # the job's start time


def test_without_generate_inference_id_the_outputs_are_untouched(
    fsm: Any, fs3: Any, fast_xgb: str, xgb_model: dict[str, Any], bucket: str
) -> None:
    job = transform(fsm, fs3, fast_xgb, bucket, xgb_model["x"][:4], "capture-plain")
    lines = read(fs3, bucket, f"{job['folder']}-out/a.csv.out").decode().splitlines()
    assert len(lines) == 2 and all(len(line.split(",")) == 1 for line in lines)
    assert len(keys(fs3, bucket, "capture-plain/")) == 2


def test_what_batch_capture_cannot_do_is_refused_saying_what_to_change(fsm: Any, fast_xgb: str, bucket: str) -> None:
    def create(capture: dict[str, Any], output: dict[str, Any]) -> tuple[str, str]:
        return refused(
            fsm.create_transform_job,
            TransformJobName=unique("bad"),
            ModelName=fast_xgb,
            TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/x"}}},
            TransformOutput={"S3OutputPath": f"s3://{bucket}/out", **output},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
            DataCaptureConfig=capture,
        )

    for capture, output, fragment in (
        ({"DestinationS3Uri": "/tmp/capture"}, CSV_OUT, "regular expression pattern"),  # the service model
        ({"DestinationS3Uri": "https://example.com/capture"}, CSV_OUT, "must be an s3:// URI"),
        ({"DestinationS3Uri": f"s3://{bucket}/c", "GenerateInferenceId": True}, {}, "TransformOutput.Accept"),
        (
            {"DestinationS3Uri": f"s3://{bucket}/c", "GenerateInferenceId": True},
            {"Accept": "application/x-npy"},
            "CSV, JSON and JSON Lines outputs only",
        ),
    ):
        code, message = create(capture, output)
        assert code == "ValidationException" and fragment in message, message


def batch_definition(sm: Any, bucket: str, capture: str, baseline: str, destination: str | None = None) -> str:
    name = unique("dqb")
    sm.create_data_quality_job_definition(
        JobDefinitionName=name,
        DataQualityBaselineConfig={
            "ConstraintsResource": {"S3Uri": f"s3://{bucket}/{baseline}/constraints.json"},
            "StatisticsResource": {"S3Uri": f"s3://{bucket}/{baseline}/statistics.json"},
        },
        DataQualityAppSpecification={"ImageUri": ANALYZER},
        DataQualityJobInput={
            "BatchTransformInput": {
                "DataCapturedDestinationS3Uri": destination or f"s3://{bucket}/{capture}",
                "DatasetFormat": {"Csv": {"Header": False}},
                "LocalPath": "/opt/ml/processing/input",
            }
        },
        DataQualityJobOutputConfig={
            "MonitoringOutputs": [
                {"S3Output": {"S3Uri": f"s3://{bucket}/reports", "LocalPath": "/opt/ml/processing/output"}}
            ]
        },
        JobResources=CLUSTER,
        RoleArn=ROLE,
    )
    return name


def now_schedule(sm: Any, job_definition: str, kind: str = "DataQuality") -> str:
    name = unique("bsched")
    window = {"DataAnalysisStartTime": "-PT1H", "DataAnalysisEndTime": "-PT0H"}
    sm.create_monitoring_schedule(
        MonitoringScheduleName=name,
        MonitoringScheduleConfig={
            "ScheduleConfig": {"ScheduleExpression": "NOW", **window},
            "MonitoringJobDefinitionName": job_definition,
            "MonitoringType": kind,
        },
    )
    return name


@pytest.fixture(scope="module")
def baseline(fsm: Any, fs3: Any, xgb_model: dict[str, Any], bucket: str) -> str:
    """A baseline of the first 200 rows, columns f0 … f3."""
    fs3.put_object(Bucket=bucket, Key="train/train.csv", Body=("f0,f1,f2,f3\n" + to_csv(xgb_model["x"][:200])).encode())
    job = baseline_job(fsm, bucket, f"s3://{bucket}/train/", {"csv": {"header": True}})
    assert wait(fsm, job)["ProcessingJobStatus"] == "Completed"
    return job


def test_data_quality_over_what_transform_jobs_captured(
    fsm: Any, fs3: Any, cw: Any, fast_xgb: str, xgb_model: dict[str, Any], bucket: str, baseline: str
) -> None:
    x = xgb_model["x"]
    outcomes = {}
    for label, rows in (("normal", x[200:]), ("shifted", x[200:] + 3.0)):
        transform(fsm, fs3, fast_xgb, bucket, rows, f"capture-{label}")
        schedule_name = now_schedule(fsm, batch_definition(fsm, bucket, f"capture-{label}", baseline))
        described = fsm.describe_monitoring_schedule(MonitoringScheduleName=schedule_name)
        assert "EndpointName" not in described
        execution = outcomes[label] = finished(fsm, schedule_name)
        assert "EndpointName" not in execution
        job = fsm.describe_processing_job(ProcessingJobName=execution["ProcessingJobArn"].rsplit("/", 1)[1])
        (captured,) = [i for i in job["ProcessingInputs"] if i["InputName"].startswith("batch-")]
        assert captured["S3Input"]["S3DataType"] == "ManifestFile"
        assert job["Environment"]["dataset_format"] == json.dumps({"csv": {"header": False}})
        report = job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
        assert report.startswith(f"s3://{bucket}/reports/{schedule_name}/")  # no endpoint in the path
        stats = read_json(fs3, bucket, f"{report.split('/', 3)[3]}/statistics.json")
        assert stats["dataset"]["item_count"] == 100 and stats["features"][0]["name"] == "f0"
        if label == "shifted":
            dimensions = [{"Name": "MonitoringSchedule", "Value": schedule_name}]
            published = cw.list_metrics(Namespace="/aws/sagemaker/ModelMonitoring/data-metric", Dimensions=dimensions)
            assert "feature_baseline_drift_f0" in {m["MetricName"] for m in published["Metrics"]}
    assert outcomes["normal"]["MonitoringExecutionStatus"] == "Completed", outcomes["normal"].get("FailureReason")
    assert outcomes["shifted"]["MonitoringExecutionStatus"] == "CompletedWithViolations"

    empty = now_schedule(fsm, batch_definition(fsm, bucket, "capture-nothing", baseline))
    execution = finished(fsm, empty)
    assert (
        execution["MonitoringExecutionStatus"] == "Failed" and "no transform job captured" in execution["FailureReason"]
    )
    nowhere = batch_definition(fsm, bucket, "", baseline, destination="s3://no-such-bucket/capture")
    execution = finished(fsm, now_schedule(fsm, nowhere))
    assert execution["MonitoringExecutionStatus"] == "Failed" and "no bucket" in execution["FailureReason"]


def test_homeport_monitor_takes_a_schedule_name(
    fast: Any, fsm: Any, fs3: Any, fast_xgb: str, xgb_model: dict[str, Any], bucket: str, baseline: str
) -> None:
    """A schedule over transform jobs has no endpoint: `homeport monitor` shows it by its name."""
    transform(fsm, fs3, fast_xgb, bucket, xgb_model["x"][200:] + 3.0, "capture-cli")
    schedule_name = now_schedule(fsm, batch_definition(fsm, bucket, "capture-cli", baseline))
    assert finished(fsm, schedule_name)["MonitoringExecutionStatus"] == "CompletedWithViolations"
    shown = homeport("monitor", schedule_name, "--json", url=fast.url)
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert [s["MonitoringScheduleName"] for s in doc["schedules"]] == [schedule_name]
    assert next(f for f in doc["features"] if f["name"] == "f0")["violations"] == ["baseline_drift_check"]


def test_model_quality_joins_ground_truth_on_the_stamped_inference_ids(
    fsm: Any, fs3: Any, fast_xgb: str, xgb_model: dict[str, Any], bucket: str
) -> None:
    job = transform(fsm, fs3, fast_xgb, bucket, xgb_model["x"][:40], "capture-mq", GenerateInferenceId=True)
    labels = []
    for key in ("a.csv.out", "deep/b.csv.out"):
        for line in read(fs3, bucket, f"{job['folder']}-out/{key}").decode().splitlines():
            prediction, inference_id, _ = line.split(",")
            truth = {"data": f"{float(prediction) + 0.5}", "encoding": "CSV"}
            labels.append({"groundTruthData": truth, "eventMetadata": {"eventId": inference_id}})
    hour = time.strftime("%Y/%m/%d/%H", time.gmtime())
    body = "".join(json.dumps(label) + "\n" for label in labels[:30])  # ten records have no label yet
    fs3.put_object(Bucket=bucket, Key=f"groundtruth-mq/{hour}/labels.jsonl", Body=body.encode())
    name = unique("mqb")
    fsm.create_model_quality_job_definition(
        JobDefinitionName=name,
        ModelQualityAppSpecification={"ImageUri": ANALYZER, "ProblemType": "Regression"},
        ModelQualityJobInput={
            "BatchTransformInput": {
                "DataCapturedDestinationS3Uri": f"s3://{bucket}/capture-mq",
                "DatasetFormat": {"Csv": {"Header": False}},
                "LocalPath": "/opt/ml/processing/input",
            },
            "GroundTruthS3Input": {"S3Uri": f"s3://{bucket}/groundtruth-mq"},
        },
        ModelQualityJobOutputConfig={
            "MonitoringOutputs": [
                {"S3Output": {"S3Uri": f"s3://{bucket}/mq-reports", "LocalPath": "/opt/ml/processing/output"}}
            ]
        },
        JobResources=CLUSTER,
        RoleArn=ROLE,
    )
    execution = finished(fsm, now_schedule(fsm, name, "ModelQuality"))
    assert execution["MonitoringExecutionStatus"] == "Completed", execution.get("FailureReason")
    processing = fsm.describe_processing_job(ProcessingJobName=execution["ProcessingJobArn"].rsplit("/", 1)[1])
    report = processing["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"].split("/", 3)[3]
    stats = read_json(fs3, bucket, f"{report}/statistics.json")
    assert stats["dataset"]["item_count"] == 30
    assert abs(stats["regression_metrics"]["mae"]["value"] - 0.5) < 1e-4


def test_what_a_batch_transform_input_cannot_be_is_refused(fsm: Any, bucket: str) -> None:
    def create(batch_input: dict[str, Any]) -> tuple[str, str]:
        return refused(
            fsm.create_data_quality_job_definition,
            JobDefinitionName=unique("badb"),
            DataQualityAppSpecification={"ImageUri": ANALYZER},
            DataQualityJobInput={"BatchTransformInput": batch_input},
            DataQualityJobOutputConfig={
                "MonitoringOutputs": [
                    {"S3Output": {"S3Uri": f"s3://{bucket}/reports", "LocalPath": "/opt/ml/processing/output"}}
                ]
            },
            JobResources=CLUSTER,
            RoleArn=ROLE,
        )

    good = {
        "DataCapturedDestinationS3Uri": f"s3://{bucket}/capture",
        "DatasetFormat": {"Csv": {"Header": False}},
        "LocalPath": "/opt/ml/processing/input",
    }
    for change, fragment in (
        ({"DataCapturedDestinationS3Uri": "https://example.com/capture"}, "DataCaptureConfig.DestinationS3Uri"),
        ({"DatasetFormat": {}}, "one format"),
        ({"DatasetFormat": {"Csv": {}, "Json": {"Line": True}}}, "one format"),
        ({"LocalPath": "/tmp/elsewhere"}, "must be a path under"),
        ({"S3InputMode": "Pipe"}, "Pipe is not supported"),
        ({"StartTimeOffset": "-PT1H"}, "or neither"),
    ):
        code, message = create({**good, **change})
        assert code == "ValidationException" and fragment in message, message
