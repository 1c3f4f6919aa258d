"""The worked example's model monitoring: capture what the endpoint is sent, baseline the training data, and check
the captured data against the baseline.

Steps:
1. A baseline job (Model Monitor's analyzer image, as `DefaultModelMonitor.suggest_baseline` starts it) over the
   training features writes `statistics.json` and `constraints.json`.
2. Two endpoints serve the model with data capture on. One is sent the test rows as they are. The other is sent
   the same rows as if the shells had been measured in inches instead of millimetres/200: their lengths and
   weights drift.
3. A monitoring job over each endpoint's captured requests checks them against the baseline. The first finds
   nothing; the second finds drift in the features it changed. These are the same boto3 calls as on SageMaker, and
   the schedule that starts such jobs every hour is homeport's next step.
"""

from __future__ import annotations

import json
import time
from typing import Any

from multi_model import delete
from run import BUCKET, INSTANCE_TYPE, LABEL, PREFIX, ROLE_ARN, Splits, to_csv_body

ANALYZER = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
SHIFTED = ["Length", "Diameter", "Height"]  # scaled to inches: the features that drift
ROWS_PER_REQUEST = 50
WAIT_S = 300.0


def analyzer_job(sm: Any, name: str, source: str, dataset_format: dict[str, Any], baseline: str | None = None) -> str:
    """Start the analyzer on the data at `source`; with a `baseline` prefix, check it against that baseline."""
    inputs = [("dataset", source, "/opt/ml/processing/input/dataset")]
    environment = {
        "dataset_format": json.dumps(dataset_format),
        "dataset_source": "/opt/ml/processing/input/dataset",
        "output_path": "/opt/ml/processing/output",
    }
    if baseline is not None:
        for file in ("constraints", "statistics"):
            inputs.append((file, f"{baseline}/{file}.json", f"/opt/ml/processing/baseline/{file}"))
            environment[f"baseline_{file}"] = f"/opt/ml/processing/baseline/{file}/{file}.json"
    output = f"s3://{BUCKET}/{PREFIX}/monitoring/{name}"
    sm.create_processing_job(
        ProcessingJobName=name,
        RoleArn=ROLE_ARN,
        AppSpecification={"ImageUri": ANALYZER},
        ProcessingResources={
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}
        },
        StoppingCondition={"MaxRuntimeInSeconds": 600},
        Environment=environment,
        ProcessingInputs=[
            {
                "InputName": n,
                "S3Input": {"S3Uri": uri, "LocalPath": path, "S3DataType": "S3Prefix", "S3InputMode": "File"},
            }
            for n, uri, path in inputs
        ],
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "result",
                    "S3Output": {"S3Uri": output, "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"},
                }
            ]
        },
    )
    sm.get_waiter("processing_job_completed_or_stopped").wait(
        ProcessingJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 600}
    )
    job = sm.describe_processing_job(ProcessingJobName=name)
    if job["ProcessingJobStatus"] != "Completed":
        raise RuntimeError(f"{name}: {job['ProcessingJobStatus']}: {job.get('FailureReason', '')}")
    return output


def read_json(s3: Any, url: str) -> Any:
    bucket, _, key = url[len("s3://") :].partition("/")
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def captured_rows(s3: Any, prefix: str) -> int:
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            for line in s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read().splitlines():
                count += json.loads(line)["captureData"]["endpointInput"]["data"].count("\n")
    return count


def deploy_captured(sm: Any, model: str, name: str) -> None:
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": model, "InstanceType": INSTANCE_TYPE, "InitialInstanceCount": 1}
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{BUCKET}/{PREFIX}/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
        },
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 300})


def run_monitoring(
    sm: Any, runtime: Any, s3: Any, splits: Splits, model: str, name: str, keep: bool = False
) -> dict[str, list[str]]:
    """The three steps; each endpoint's violations as `feature: check` strings."""
    features = splits.train.drop(columns=[LABEL])
    key = f"{PREFIX}/monitoring/baseline-data/train.csv"
    s3.put_object(Bucket=BUCKET, Key=key, Body=features.to_csv(index=False).encode())
    baseline = analyzer_job(sm, f"{name}-baseline", f"s3://{BUCKET}/{key}", {"csv": {"header": True}})
    stats = read_json(s3, f"{baseline}/statistics.json")
    print(
        f"baseline of {stats['dataset']['item_count']:.0f} training rows, {len(stats['features'])} features: {baseline}"
    )

    test = splits.test.drop(columns=[LABEL])
    drifted = test.copy()
    drifted[SHIFTED] = drifted[SHIFTED] * 200 / 25.4  # the scaled millimetres of the data set, as inches
    found: dict[str, list[str]] = {}
    for label, rows in (("normal", test), ("drifted", drifted)):
        endpoint = f"{name}-{label}"
        try:
            deploy_captured(sm, model, endpoint)
            for start in range(0, len(rows), ROWS_PER_REQUEST):
                body = to_csv_body(rows.iloc[start : start + ROWS_PER_REQUEST])
                runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)
            prefix = f"{PREFIX}/capture/{endpoint}/"
            started = time.monotonic()
            while captured_rows(s3, prefix) < len(rows):  # written within the server's flush period
                if time.monotonic() - started > WAIT_S:
                    raise RuntimeError(f"the captures of {endpoint} did not arrive within {WAIT_S:.0f} s")
                time.sleep(0.5)
            print(f"{endpoint}: sent {len(rows)} {label} rows, all captured under s3://{BUCKET}/{prefix}")
            capture_format = {"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}}
            result = analyzer_job(sm, f"{endpoint}-check", f"s3://{BUCKET}/{prefix}", capture_format, baseline)
            violations = read_json(s3, f"{result}/constraint_violations.json")["violations"]
            found[label] = [f"{v['feature_name']}: {v['constraint_check_type']}" for v in violations]
            print(f"  monitoring job: {len(violations)} violations")
            for v in violations:
                print(f"    {v['feature_name']:<15} {v['constraint_check_type']:<22} {v['description']}")
        finally:
            if not keep:
                delete(sm, endpoint)
    return found


def expected_drift() -> set[str]:
    return {f"{feature}: baseline_drift_check" for feature in SHIFTED}
