"""Monitoring schedules with boto3 against a real `homeport serve`: data quality job definitions, a NOW schedule
whose execution checks an endpoint's captured window against a baseline, the metrics it publishes and an alarm on
them, an hourly schedule's lifecycle, each refusal, an execution carried across a restart, and `homeport monitor`.

The server is `fast`: it writes what it captured every 0.2 s, and evaluates alarms every second.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from homeport.server.process import ServerProcess
from tests.conftest import KEYS, ROLE, XGBOOST_IMAGE, boto_client, synthetic_regression, unique
from tests.integration.test_async_notifications import Webhook
from tests.integration.test_cli import homeport
from tests.integration.test_data_capture import capture_config, deploy, refused
from tests.integration.test_lifecycle import until
from tests.integration.test_model_monitor import ANALYZER, baseline_job, read_json, to_csv
from tests.integration.test_processing_jobs import wait
from tests.integration.test_transform_jobs import create_model

ENDED = ("Completed", "CompletedWithViolations", "Failed", "Stopped")
NAMESPACE = "/aws/sagemaker/Endpoints/data-metric"
HOURLY = "cron(0 * ? * * *)"


@pytest.fixture(scope="module")
def monitored(fsm: Any, frt: Any, fs3: Any, fast_xgb: str) -> dict[str, Any]:
    """A baseline of training rows, and two capturing endpoints: one sent rows like them, one shifted rows."""
    bucket = unique("monitored")
    fs3.create_bucket(Bucket=bucket)
    x, _ = synthetic_regression(rows=300, seed=5)
    fs3.put_object(Bucket=bucket, Key="train/train.csv", Body=("f0,f1,f2,f3\n" + to_csv(x[:200])).encode())
    baseline = baseline_job(fsm, bucket, f"s3://{bucket}/train/", {"csv": {"header": True}})
    assert wait(fsm, baseline)["ProcessingJobStatus"] == "Completed"
    endpoints = {}
    for label, rows in (("normal", x[200:]), ("shifted", x[200:] + 3.0)):
        endpoint = endpoints[label] = deploy(fsm, fast_xgb, capture_config(bucket))
        for row in rows:
            frt.invoke_endpoint(EndpointName=endpoint, Body=to_csv(row[None, :]).encode(), ContentType="text/csv")
    for endpoint in endpoints.values():
        until(lambda e=endpoint: fs3.list_objects_v2(Bucket=bucket, Prefix=f"capture/{e}/").get("KeyCount", 0) > 0)
    time.sleep(0.5)  # the last flush of what was captured
    return {"bucket": bucket, "baseline": baseline, **endpoints}


def definition(sm: Any, endpoint: str, bucket: str, baseline: str | None, image: str = ANALYZER, **app: Any) -> str:
    name = unique("dq")
    files = {
        "ConstraintsResource": {"S3Uri": f"s3://{bucket}/{baseline}/constraints.json"},
        "StatisticsResource": {"S3Uri": f"s3://{bucket}/{baseline}/statistics.json"},
    }
    sm.create_data_quality_job_definition(
        JobDefinitionName=name,
        **({"DataQualityBaselineConfig": files} if baseline else {}),
        DataQualityAppSpecification={"ImageUri": image, **app},
        DataQualityJobInput={"EndpointInput": {"EndpointName": endpoint, "LocalPath": "/opt/ml/processing/input"}},
        DataQualityJobOutputConfig={
            "MonitoringOutputs": [
                {"S3Output": {"S3Uri": f"s3://{bucket}/reports", "LocalPath": "/opt/ml/processing/output"}}
            ]
        },
        JobResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}},
        RoleArn=ROLE,
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    return name


def schedule(sm: Any, job_definition: str, expression: str = "NOW", **window: str) -> str:
    name = unique("sched")
    config: dict[str, Any] = {"ScheduleExpression": expression}
    if expression == "NOW":
        config.update({"DataAnalysisStartTime": "-PT1H", "DataAnalysisEndTime": "-PT0H", **window})
    sm.create_monitoring_schedule(
        MonitoringScheduleName=name,
        MonitoringScheduleConfig={
            "ScheduleConfig": config,
            "MonitoringJobDefinitionName": job_definition,
            "MonitoringType": "DataQuality",
        },
    )
    return name


def finished(sm: Any, name: str) -> dict[str, Any]:
    def ended() -> bool:
        found = sm.list_monitoring_executions(MonitoringScheduleName=name)["MonitoringExecutionSummaries"]
        return bool(found) and found[0]["MonitoringExecutionStatus"] in ENDED

    until(ended, timeout=60)
    execution: dict[str, Any] = sm.list_monitoring_executions(MonitoringScheduleName=name)[
        "MonitoringExecutionSummaries"
    ][0]
    return execution


def test_a_now_schedule_checks_the_window_and_publishes_metrics_an_alarm_fires_on(
    fsm: Any, fs3: Any, cw: Any, monitored: dict[str, Any], webhook: Webhook
) -> None:
    bucket, baseline = monitored["bucket"], monitored["baseline"]
    outcomes = {}
    for label in ("normal", "shifted"):
        endpoint = monitored[label]
        name = schedule(fsm, definition(fsm, endpoint, bucket, baseline))
        execution = finished(fsm, name)
        outcomes[label] = execution
        assert execution["EndpointName"] == endpoint and execution["MonitoringType"] == "DataQuality"
        described = fsm.describe_monitoring_schedule(MonitoringScheduleName=name)
        assert described["MonitoringScheduleStatus"] == "Scheduled" and described["EndpointName"] == endpoint
        assert described["LastMonitoringExecutionSummary"]["ProcessingJobArn"] == execution["ProcessingJobArn"]
        job = fsm.describe_processing_job(ProcessingJobName=execution["ProcessingJobArn"].rsplit("/", 1)[1])
        assert job["ProcessingJobStatus"] == "Completed"
        report = job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
        assert report.startswith(f"s3://{bucket}/reports/{endpoint}/{name}/")
        violations = read_json(fs3, bucket, report.split("/", 3)[3] + "/constraint_violations.json")["violations"]
        outcomes[label]["violations"] = violations
        env = job["Environment"]
        assert env["sagemaker_endpoint_name"] == endpoint and env["sagemaker_monitoring_schedule_name"] == name
        assert env["end_time"] > env["start_time"]
    assert outcomes["normal"]["MonitoringExecutionStatus"] == "Completed", outcomes["normal"]
    assert outcomes["shifted"]["MonitoringExecutionStatus"] == "CompletedWithViolations"
    drifted = {
        v["feature_name"]
        for v in outcomes["shifted"]["violations"]
        if v["constraint_check_type"] == "baseline_drift_check"
    }
    assert drifted == {"f0", "f1", "f2", "f3"}

    # The published metrics, under SageMaker's namespace and dimensions, and an alarm on the drift.
    shifted_name = outcomes["shifted"]["MonitoringScheduleName"]
    dimensions = [
        {"Name": "EndpointName", "Value": monitored["shifted"]},
        {"Name": "ScheduleName", "Value": shifted_name},
    ]
    names = {m["MetricName"] for m in cw.list_metrics(Namespace=NAMESPACE, Dimensions=dimensions)["Metrics"]}
    assert {"feature_baseline_drift_f0", "feature_non_null_f0", "feature_data_f0"} <= names
    now = time.time()
    data = cw.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName="feature_data_f0",
        Dimensions=dimensions,
        StartTime=now - 7200,
        EndTime=now + 60,
        Period=3600,
        Statistics=["SampleCount", "Average"],
    )["Datapoints"]
    assert sum(d["SampleCount"] for d in data) == 100
    alarm = unique("drift")
    cw.put_metric_alarm(
        AlarmName=alarm,
        Namespace=NAMESPACE,
        MetricName="feature_baseline_drift_f0",
        Dimensions=dimensions,
        Statistic="Maximum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=0.1,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[f"{webhook.url}/retrain", "arn:aws:sns:us-east-1:000000000000:not-a-webhook"],
    )

    def fired() -> bool:
        return cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"] == "ALARM"

    until(fired, timeout=30)
    # The alarm's webhook is called with CloudWatch's alarm message; it refuses the first try, and gets it again.
    webhook.failures = 1

    def delivered() -> list[dict[str, Any]]:
        with webhook.lock:
            return [r for r in webhook.received if r["path"] == "/retrain" and r["answer"] == 204]

    until(lambda: bool(delivered()), timeout=30)
    ((received,),) = (delivered(),)
    message = received["message"]
    # From OK, or straight from INSUFFICIENT_DATA when its first evaluation already saw the drift.
    assert message["AlarmName"] == alarm and message["NewStateValue"] == "ALARM"
    assert message["OldStateValue"] in ("OK", "INSUFFICIENT_DATA")
    assert message["Trigger"]["MetricName"] == "feature_baseline_drift_f0" and message["Trigger"]["Threshold"] == 0.1
    assert {"value": shifted_name, "name": "ScheduleName"} in message["Trigger"]["Dimensions"]
    assert received["headers"]["X-Homeport-Notification-Id"]


def test_an_hourly_schedule_from_pending_to_stopped_updated_and_deleted(fsm: Any, monitored: dict[str, Any]) -> None:
    bucket, endpoint = monitored["bucket"], monitored["normal"]
    job_definition = definition(fsm, endpoint, bucket, monitored["baseline"])
    described = fsm.describe_data_quality_job_definition(JobDefinitionName=job_definition)
    assert described["DataQualityJobInput"]["EndpointInput"]["EndpointName"] == endpoint
    listed = fsm.list_data_quality_job_definitions(EndpointName=endpoint, NameContains=job_definition)
    assert [d["MonitoringJobDefinitionName"] for d in listed["JobDefinitionSummaries"]] == [job_definition]

    name = schedule(fsm, job_definition, HOURLY)
    until(
        lambda: fsm.describe_monitoring_schedule(MonitoringScheduleName=name)["MonitoringScheduleStatus"] == "Scheduled"
    )
    summaries = fsm.list_monitoring_schedules(EndpointName=endpoint, StatusEquals="Scheduled")[
        "MonitoringScheduleSummaries"
    ]
    mine = [s for s in summaries if s["MonitoringScheduleName"] == name]
    assert mine and mine[0]["MonitoringJobDefinitionName"] == job_definition
    assert fsm.list_monitoring_executions(MonitoringScheduleName=name)["MonitoringExecutionSummaries"] == []

    fsm.stop_monitoring_schedule(MonitoringScheduleName=name)
    assert fsm.describe_monitoring_schedule(MonitoringScheduleName=name)["MonitoringScheduleStatus"] == "Stopped"
    fsm.start_monitoring_schedule(MonitoringScheduleName=name)
    assert fsm.describe_monitoring_schedule(MonitoringScheduleName=name)["MonitoringScheduleStatus"] == "Scheduled"

    code, message = refused(fsm.delete_data_quality_job_definition, JobDefinitionName=job_definition)
    assert code == "ResourceInUse" and name in message

    # Updated to run once now: it does, over the window it names.
    fsm.update_monitoring_schedule(
        MonitoringScheduleName=name,
        MonitoringScheduleConfig={
            "ScheduleConfig": {
                "ScheduleExpression": "NOW",
                "DataAnalysisStartTime": "-PT2H",
                "DataAnalysisEndTime": "-PT0H",
            },
            "MonitoringJobDefinitionName": job_definition,
            "MonitoringType": "DataQuality",
        },
    )
    assert finished(fsm, name)["MonitoringExecutionStatus"] == "Completed"

    fsm.delete_monitoring_schedule(MonitoringScheduleName=name)
    assert refused(fsm.describe_monitoring_schedule, MonitoringScheduleName=name)[0] == "ResourceNotFound"
    assert fsm.list_monitoring_executions(MonitoringScheduleName=name)["MonitoringExecutionSummaries"] == []
    fsm.delete_data_quality_job_definition(JobDefinitionName=job_definition)
    assert refused(fsm.describe_data_quality_job_definition, JobDefinitionName=job_definition)[0] == "ResourceNotFound"


def test_a_model_quality_schedule_measures_replies_against_ground_truth(
    fsm: Any, fs3: Any, cw: Any, monitored: dict[str, Any]
) -> None:
    """Labels for the captured replies (each reply + 0.25, so the mean absolute error is 0.25), uploaded by eventId
    under the hour they were collected; a baseline that allows 0.1: the execution finds the mae too high."""
    bucket, endpoint = monitored["bucket"], monitored["normal"]
    labels = []
    for page in fs3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"capture/{endpoint}/"):
        for item in page["Contents"]:
            for line in fs3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().splitlines():
                record = json.loads(line)
                reply = base64.b64decode(record["captureData"]["endpointOutput"]["data"])  # CSV captured as base64
                truth = {"data": f"{float(reply) + 0.25}", "encoding": "CSV"}
                labels.append(
                    {"groundTruthData": truth, "eventMetadata": {"eventId": record["eventMetadata"]["eventId"]}}
                )
    hour = time.strftime("%Y/%m/%d/%H", time.gmtime())
    body = "".join(json.dumps(label) + "\n" for label in labels)
    fs3.put_object(Bucket=bucket, Key=f"groundtruth/{hour}/labels.jsonl", Body=body.encode())
    held = {"regression_constraints": {"mae": {"threshold": 0.1, "comparison_operator": "GreaterThanThreshold"}}}
    fs3.put_object(Bucket=bucket, Key="quality/constraints.json", Body=json.dumps(held).encode())
    name = unique("mq")
    fsm.create_model_quality_job_definition(
        JobDefinitionName=name,
        ModelQualityBaselineConfig={"ConstraintsResource": {"S3Uri": f"s3://{bucket}/quality/constraints.json"}},
        ModelQualityAppSpecification={"ImageUri": ANALYZER, "ProblemType": "Regression"},
        ModelQualityJobInput={
            "EndpointInput": {
                "EndpointName": endpoint,
                "LocalPath": "/opt/ml/processing/input",
                "InferenceAttribute": "0",
            },
            "GroundTruthS3Input": {"S3Uri": f"s3://{bucket}/groundtruth"},
        },
        ModelQualityJobOutputConfig={
            "MonitoringOutputs": [
                {"S3Output": {"S3Uri": f"s3://{bucket}/reports", "LocalPath": "/opt/ml/processing/output"}}
            ]
        },
        JobResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}},
        RoleArn=ROLE,
    )
    assert (
        fsm.describe_model_quality_job_definition(JobDefinitionName=name)["ModelQualityAppSpecification"]["ProblemType"]
        == "Regression"
    )
    listed = fsm.list_model_quality_job_definitions(EndpointName=endpoint)["JobDefinitionSummaries"]
    assert name in [d["MonitoringJobDefinitionName"] for d in listed]
    schedule_name = unique("mqs")
    fsm.create_monitoring_schedule(
        MonitoringScheduleName=schedule_name,
        MonitoringScheduleConfig={
            "ScheduleConfig": {
                "ScheduleExpression": "NOW",
                "DataAnalysisStartTime": "-PT1H",
                "DataAnalysisEndTime": "-PT0H",
            },
            "MonitoringJobDefinitionName": name,
            "MonitoringType": "ModelQuality",
        },
    )
    execution = finished(fsm, schedule_name)
    assert execution["MonitoringExecutionStatus"] == "CompletedWithViolations", execution.get("FailureReason")
    assert execution["MonitoringType"] == "ModelQuality"
    job = fsm.describe_processing_job(ProcessingJobName=execution["ProcessingJobArn"].rsplit("/", 1)[1])
    report = job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"].split("/", 3)[3]
    stats = read_json(fs3, bucket, f"{report}/statistics.json")
    assert stats["dataset"]["item_count"] == 100
    assert abs(stats["regression_metrics"]["mae"]["value"] - 0.25) < 1e-4
    (violation,) = read_json(fs3, bucket, f"{report}/constraint_violations.json")["violations"]
    assert violation["metric_name"] == "mae" and violation["constraint_check_type"] == "GreaterThanThreshold"
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "ScheduleName", "Value": schedule_name}]
    published = cw.list_metrics(Namespace="aws/sagemaker/Endpoints/model-metrics", Dimensions=dimensions)["Metrics"]
    assert {"mae", "rmse", "r2"} <= {m["MetricName"] for m in published}

    assert refused(fsm.delete_model_quality_job_definition, JobDefinitionName=name)[0] == "ResourceInUse"
    fsm.delete_monitoring_schedule(MonitoringScheduleName=schedule_name)
    fsm.delete_model_quality_job_definition(JobDefinitionName=name)


def test_a_window_with_nothing_captured_fails_saying_so(fsm: Any, monitored: dict[str, Any]) -> None:
    job_definition = definition(fsm, monitored["normal"], monitored["bucket"], monitored["baseline"])
    name = schedule(fsm, job_definition, DataAnalysisStartTime="-PT26H", DataAnalysisEndTime="-PT25H")
    execution = finished(fsm, name)
    assert execution["MonitoringExecutionStatus"] == "Failed"
    assert "had no data" in execution["FailureReason"] and "ProcessingJobArn" not in execution


def test_what_homeport_cannot_run_is_refused_saying_what_to_change(
    fsm: Any, fast_xgb: str, monitored: dict[str, Any]
) -> None:
    bucket, baseline, endpoint = monitored["bucket"], monitored["baseline"], monitored["normal"]
    job_definition = definition(fsm, endpoint, bucket, baseline)
    name = unique("bad")

    def create(config: dict[str, Any], **more: Any) -> tuple[str, str]:
        return refused(fsm.create_monitoring_schedule, MonitoringScheduleName=name, MonitoringScheduleConfig={
            "ScheduleConfig": config, **more})  # fmt: skip

    named = {"MonitoringJobDefinitionName": job_definition, "MonitoringType": "DataQuality"}
    for expression, fragment in (("cron(30 * ? * * *)", "not supported"), ("rate(1 hour)", "not supported"),
                                 ("cron(0 25 ? * * *)", "Invalid schedule")):  # fmt: skip
        code, message = create({"ScheduleExpression": expression}, **named)
        assert code == "ValidationException" and fragment in message, message
    for window, fragment in (
        ({}, "needs ScheduleConfig.DataAnalysisStartTime"),
        ({"DataAnalysisStartTime": "-PT1H"}, "both"),
        ({"DataAnalysisStartTime": "-PT1H", "DataAnalysisEndTime": "-PT2H"}, "must come before"),
        ({"DataAnalysisStartTime": "-PT25H", "DataAnalysisEndTime": "-PT0H"}, "24 hours"),
        ({"DataAnalysisStartTime": "-1 hour", "DataAnalysisEndTime": "-PT0H"}, "ISO 8601"),
        ({"DataAnalysisStartTime": "PT1H", "DataAnalysisEndTime": "PT2H"}, "negative"),
    ):
        code, message = create({"ScheduleExpression": "NOW", **window}, **named)
        assert code == "ValidationException" and fragment in message, message
    code, message = create({"ScheduleExpression": HOURLY})
    assert code == "ValidationException" and "exactly one" in message
    code, message = create({"ScheduleExpression": HOURLY}, MonitoringJobDefinitionName=job_definition)
    assert code == "ValidationException" and "MonitoringType is required" in message
    code, message = create({"ScheduleExpression": HOURLY}, **{**named, "MonitoringType": "ModelBias"})
    assert code == "ValidationException" and "ModelBias is not supported" in message
    code, message = create({"ScheduleExpression": HOURLY}, **{**named, "MonitoringType": "ModelQuality"})
    assert code == "ValidationException" and "does not exist" in message  # a data quality definition's name
    code, message = create({"ScheduleExpression": HOURLY}, **{**named, "MonitoringJobDefinitionName": "no-such"})
    assert code == "ValidationException" and "does not exist" in message

    # The endpoint must exist and capture data.
    not_capturing = deploy(fsm, fast_xgb, None)
    for target, fragment in ((not_capturing, "does not capture data"), ("no-such-endpoint", "Could not find")):
        other = definition(fsm, target, bucket, baseline)
        code, message = create(
            {"ScheduleExpression": HOURLY}, MonitoringJobDefinitionName=other, MonitoringType="DataQuality"
        )
        assert code == "ValidationException" and fragment in message, message

    # Definitions homeport cannot run.
    for image, app, fragment in (
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/mine:1", {}, "ContainerEntrypoint"),
        (ANALYZER, {"RecordPreprocessorSourceUri": f"s3://{bucket}/pre.py"}, "not supported yet"),
    ):
        with pytest.raises(ClientError) as info:
            definition(fsm, endpoint, bucket, baseline, image, **app)
        assert info.value.response["Error"]["Code"] == "ValidationException"
        assert fragment in info.value.response["Error"]["Message"]

    # Names are unique; what is not there is not found.
    schedule_name = schedule(fsm, job_definition, HOURLY)
    code, _ = refused(fsm.create_monitoring_schedule, MonitoringScheduleName=schedule_name, MonitoringScheduleConfig={
        "ScheduleConfig": {"ScheduleExpression": HOURLY}, **named})  # fmt: skip
    assert code == "ResourceInUse"
    fsm.delete_monitoring_schedule(MonitoringScheduleName=schedule_name)
    for call, key in (
        (fsm.describe_monitoring_schedule, "MonitoringScheduleName"),
        (fsm.delete_monitoring_schedule, "MonitoringScheduleName"),
        (fsm.start_monitoring_schedule, "MonitoringScheduleName"),
        (fsm.stop_monitoring_schedule, "MonitoringScheduleName"),
        (fsm.describe_data_quality_job_definition, "JobDefinitionName"),
        (fsm.delete_data_quality_job_definition, "JobDefinitionName"),
    ):
        assert refused(call, **{key: "not-there"})[0] == "ResourceNotFound"


SLOW_CHECK = (  # a container of one's own: two seconds, then one violation (an entry point takes 256 characters)
    "import json,os,time;time.sleep(2);open(os.environ['output_path']+'/constraint_violations.json','w')"
    ".write(json.dumps({'violations':[{'feature_name':'f0','constraint_check_type':'data_type_check'}]}))"
)


def test_an_execution_under_way_when_the_server_restarts_runs_again_and_ends(
    tmp_path: Path, xgb_model: dict[str, Any]
) -> None:
    """A container of one's own (ContainerEntrypoint) that takes two seconds: the server stops while it runs, and
    the next start runs the execution's job again, to its end."""
    data_dir = tmp_path / "data"
    env = {"HOMEPORT_LOG_LEVEL": "warning", "HOMEPORT_CAPTURE_FLUSH_S": "0.2", **KEYS}
    with ServerProcess(data_dir, env=env) as server:
        sm, rt, s3 = (boto_client(service, server.url) for service in ("sagemaker", "sagemaker-runtime", "s3"))
        s3.create_bucket(Bucket="kept")
        s3.upload_file(str(xgb_model["path"]), "kept", "model.tar.gz")
        endpoint = deploy(sm, create_model(sm, "s3://kept/model.tar.gz", image=XGBOOST_IMAGE), capture_config("kept"))
        rt.invoke_endpoint(EndpointName=endpoint, Body=b"1,2,3,4", ContentType="text/csv")
        until(lambda: s3.list_objects_v2(Bucket="kept", Prefix=f"capture/{endpoint}/").get("KeyCount", 0) > 0)
        own = {"ContainerEntrypoint": ["python3", "-c", SLOW_CHECK]}
        name = schedule(sm, definition(sm, endpoint, "kept", None, "example.com/my-check:1", **own))
        until(lambda: bool(sm.list_monitoring_executions(MonitoringScheduleName=name)["MonitoringExecutionSummaries"]))
        (running,) = sm.list_monitoring_executions(MonitoringScheduleName=name)["MonitoringExecutionSummaries"]
        assert running["MonitoringExecutionStatus"] == "InProgress"
        time.sleep(0.5)  # the job's process has started
    with ServerProcess(data_dir, env=env) as server:
        sm = boto_client("sagemaker", server.url)
        execution = finished(sm, name)
        assert execution["MonitoringExecutionStatus"] == "CompletedWithViolations", execution.get("FailureReason")
        assert execution["ProcessingJobArn"] == running["ProcessingJobArn"]


def test_homeport_monitor_shows_the_schedules_executions_and_drift_per_feature(
    fast: Any, fsm: Any, monitored: dict[str, Any], tmp_path: Path, monkeypatch: Any
) -> None:
    endpoint = monitored["shifted"]
    name = schedule(fsm, definition(fsm, endpoint, monitored["bucket"], monitored["baseline"]))
    assert finished(fsm, name)["MonitoringExecutionStatus"] == "CompletedWithViolations"

    doc = json.loads(homeport("monitor", endpoint, "--json", url=fast.url).stdout)
    assert name in [s["MonitoringScheduleName"] for s in doc["schedules"]]
    features = {f["name"]: f for f in doc["features"]}
    assert list(features) == ["f0", "f1", "f2", "f3"]
    f0 = features["f0"]
    assert f0["drift"] > f0["threshold"] and f0["violations"] == ["baseline_drift_check"]
    assert abs(sum(f0["baseline_shares"]) - 1) < 1e-9 and len(f0["current_shares"]) == 10
    assert sum(f0["current_shares"]) < 0.5  # shifted by 3: most of it lies beyond the baseline's buckets

    monkeypatch.setenv("COLUMNS", "200")  # rich's width: a whole row on one line
    png, html = tmp_path / "drift.png", tmp_path / "drift.html"
    shown = homeport("monitor", endpoint, "--png", str(png), "--html", str(html), url=fast.url)
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if line.lstrip("│ ").startswith("f0 "))
    assert "Fractional" in row and "baseline_drift_check" in row and "→" in row
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = html.read_text()
    assert page.startswith("<!doctype html>") and page.count("<svg") == 4  # a chart per feature
    assert f"<td>{name}</td>" in page and "<span class='bad'>baseline_drift_check</span>" in page
