"""Model Monitor's baseline job with boto3: CreateProcessingJob with the analyzer image, as the SDK sends it, on a
CSV and a JSON Lines data set; a data set it cannot read fails the job with the reason. Monitoring executions
against a baseline are in test_monitoring_schedules."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from tests.conftest import ROLE, unique
from tests.integration.test_processing_jobs import wait

ANALYZER = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"


def baseline_job(sm: Any, bucket: str, source: str, dataset_format: dict[str, Any], baseline: str | None = None) -> str:
    """The analyzer's processing job on the data at `source`; given the `baseline` job's output prefix, a monitoring
    job against its constraints and statistics."""
    name = unique("baseline" if baseline is None else "monitoring")
    inputs = [("baseline_dataset_input", source, "/opt/ml/processing/input/baseline_dataset_input")]
    environment = {}
    if baseline is not None:
        for file in ("constraints", "statistics"):
            inputs.append((file, f"{baseline}/{file}.json", f"/opt/ml/processing/baseline/{file}"))
            environment[f"baseline_{file}"] = f"/opt/ml/processing/baseline/{file}/{file}.json"
    sm.create_processing_job(
        ProcessingJobName=name,
        RoleArn=ROLE,
        AppSpecification={"ImageUri": ANALYZER},
        ProcessingResources={
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}
        },
        StoppingCondition={"MaxRuntimeInSeconds": 600},
        Environment={
            "dataset_format": json.dumps(dataset_format),
            "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
            "output_path": "/opt/ml/processing/output",
            "publish_cloudwatch_metrics": "Disabled",
            **environment,
        },
        ProcessingInputs=[
            {
                "InputName": input_name,
                "S3Input": {"S3Uri": uri, "LocalPath": path, "S3DataType": "S3Prefix", "S3InputMode": "File"},
            }
            for input_name, uri, path in inputs
        ],
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "monitoring_output",
                    "S3Output": {
                        "S3Uri": f"s3://{bucket}/{name}",
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
    )
    return name


def read_json(s3: Any, bucket: str, key: str) -> Any:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_a_csv_baseline(sm: Any, s3: Any, bucket: str) -> None:
    values = np.random.default_rng(3).normal(10, 2, size=500)
    rows = "\n".join(f"{v:.5f},{'ab'[i % 2]}" for i, v in enumerate(values))
    s3.put_object(Bucket=bucket, Key="data/train.csv", Body=f"length,kind\n{rows}\n".encode())
    name = baseline_job(sm, bucket, f"s3://{bucket}/data/", {"csv": {"header": True}})
    job = wait(sm, name)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    stats = read_json(s3, bucket, f"{name}/statistics.json")
    length, kind = stats["features"]
    assert np.isclose(length["numerical_statistics"]["mean"], values.mean(), atol=1e-4)  # of 5-decimal text
    assert kind["string_statistics"]["distinct_count"] == 2.0
    constraints = read_json(s3, bucket, f"{name}/constraints.json")
    assert constraints["features"][1]["string_constraints"] == {"domains": ["a", "b"]}


def test_a_json_lines_baseline_and_one_it_cannot_read(sm: Any, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="json/part.jsonl", Body=b'{"x": 1}\n{"x": 3}\n')
    name = baseline_job(sm, bucket, f"s3://{bucket}/json/", {"json": {"lines": True}})
    assert wait(sm, name)["ProcessingJobStatus"] == "Completed"
    assert read_json(s3, bucket, f"{name}/statistics.json")["features"][0]["numerical_statistics"]["sum"] == 4.0

    s3.put_object(Bucket=bucket, Key="bad/part.jsonl", Body=b"this is not json\n")
    failed = wait(sm, baseline_job(sm, bucket, f"s3://{bucket}/bad/", {"json": {"lines": True}}))
    assert failed["ProcessingJobStatus"] == "Failed"
    assert "exited with code 255" in failed["FailureReason"] and "not JSON Lines" in failed["FailureReason"]


def to_csv(rows: Any) -> str:
    return "".join(",".join(f"{v:.6f}" for v in row) + "\n" for row in rows)
