"""The worked example's model monitoring: capture what the endpoint is sent, baseline the training data, and check
the captured data against the baseline.

Steps:
1. A baseline job (Model Monitor's analyzer image, as `DefaultModelMonitor.suggest_baseline` starts it) over the
   training features writes `statistics.json` and `constraints.json`.
2. Two endpoints serve the model with data capture on. One is sent the test rows as they are. The other is sent
   the same rows as if the shells had been measured in inches instead of millimetres/200: their lengths and
   weights drift.
3. A data quality job definition and a monitoring schedule per endpoint (`NOW`: one execution, over the last hour
   of captured requests) check them against the baseline. The first finds nothing; the second finds drift in the
   features it changed, and publishes it as metrics (`feature_baseline_drift_Length`, …) that a CloudWatch alarm
   watches: the alarm fires. These are the same boto3 calls as on SageMaker; an hourly schedule is
   `cron(0 * ? * * *)` in place of `NOW`.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from botocore.exceptions import ClientError
from multi_model import delete
from run import BUCKET, INSTANCE_TYPE, LABEL, PREFIX, ROLE_ARN, Splits, to_csv_body

ANALYZER = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
SHIFTED = ["Length", "Diameter", "Height"]  # scaled to inches: the features that drift
ROWS_PER_REQUEST = 50
WAIT_S = 300.0


def analyzer_job(sm: Any, name: str, source: str, dataset_format: dict[str, Any]) -> str:
    """Run the analyzer's baseline job on the data at `source`; the prefix of its statistics and constraints."""
    inputs = [("dataset", source, "/opt/ml/processing/input/dataset")]
    environment = {
        "dataset_format": json.dumps(dataset_format),
        "dataset_source": "/opt/ml/processing/input/dataset",
        "output_path": "/opt/ml/processing/output",
    }
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


def monitoring_schedule(sm: Any, endpoint: str, baseline: str) -> dict[str, Any]:
    """A data quality job definition for the endpoint and a schedule that runs it once now; its execution."""
    sm.create_data_quality_job_definition(
        JobDefinitionName=endpoint,
        DataQualityBaselineConfig={
            "ConstraintsResource": {"S3Uri": f"{baseline}/constraints.json"},
            "StatisticsResource": {"S3Uri": f"{baseline}/statistics.json"},
        },
        DataQualityAppSpecification={"ImageUri": ANALYZER},
        DataQualityJobInput={"EndpointInput": {"EndpointName": endpoint, "LocalPath": "/opt/ml/processing/input"}},
        DataQualityJobOutputConfig={
            "MonitoringOutputs": [
                {
                    "S3Output": {
                        "S3Uri": f"s3://{BUCKET}/{PREFIX}/monitoring/reports",
                        "LocalPath": "/opt/ml/processing/output",
                    }
                }
            ]
        },
        JobResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}},
        RoleArn=ROLE_ARN,
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    sm.create_monitoring_schedule(
        MonitoringScheduleName=endpoint,
        MonitoringScheduleConfig={
            "ScheduleConfig": {
                "ScheduleExpression": "NOW",
                "DataAnalysisStartTime": "-PT1H",
                "DataAnalysisEndTime": "-PT0H",
            },
            "MonitoringJobDefinitionName": endpoint,
            "MonitoringType": "DataQuality",
        },
    )
    started = time.monotonic()
    while True:
        found = sm.list_monitoring_executions(MonitoringScheduleName=endpoint)["MonitoringExecutionSummaries"]
        if found and found[0]["MonitoringExecutionStatus"] not in ("Pending", "InProgress", "Stopping"):
            execution: dict[str, Any] = found[0]
            return execution
        if time.monotonic() - started > WAIT_S:
            raise RuntimeError(f"the monitoring execution of {endpoint} did not end within {WAIT_S:.0f} s")
        time.sleep(0.5)


def drift_alarm(cw: Any, endpoint: str, feature: str) -> str:
    """An alarm on a feature's drift distance, as published by the endpoint's schedule; once it fires, its state."""
    alarm = f"{endpoint}-{feature}-drift"
    cw.put_metric_alarm(
        AlarmName=alarm,
        Namespace="/aws/sagemaker/Endpoints/data-metric",
        MetricName=f"feature_baseline_drift_{feature}",
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "ScheduleName", "Value": endpoint}],
        Statistic="Maximum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=0.1,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    started = time.monotonic()
    while True:
        state = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]
        if state["StateValue"] == "ALARM":
            return f"{alarm}: ALARM ({state['StateReason']})"
        if time.monotonic() - started > WAIT_S:
            raise RuntimeError(f"the alarm {alarm} did not fire within {WAIT_S:.0f} s: {state['StateValue']}")
        time.sleep(0.5)


def run_monitoring(
    sm: Any, runtime: Any, s3: Any, cw: Any, splits: Splits, model: str, name: str, keep: bool = False
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
            execution = monitoring_schedule(sm, endpoint, baseline)
            job = sm.describe_processing_job(ProcessingJobName=execution["ProcessingJobArn"].rsplit("/", 1)[1])
            report = job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
            violations = read_json(s3, f"{report}/constraint_violations.json")["violations"]
            found[label] = [f"{v['feature_name']}: {v['constraint_check_type']}" for v in violations]
            print(f"  monitoring execution: {execution['MonitoringExecutionStatus']}, {len(violations)} violations")
            for v in violations:
                print(f"    {v['feature_name']:<15} {v['constraint_check_type']:<22} {v['description']}")
            if violations:
                print(f"  {drift_alarm(cw, endpoint, SHIFTED[0])}")
                kept = "" if keep else " (run with --keep to keep the endpoint)"
                print(f"  see it: homeport monitor {endpoint} [--png drift.png]{kept}")
        finally:
            if not keep:
                with contextlib.suppress(ClientError):  # not created, if the run failed before
                    sm.delete_monitoring_schedule(MonitoringScheduleName=endpoint)
                    sm.delete_data_quality_job_definition(JobDefinitionName=endpoint)
                delete(sm, endpoint)
    return found


def expected_drift() -> set[str]:
    return {f"{feature}: baseline_drift_check" for feature in SHIFTED}
