"""Training jobs driven with boto3 against a real `homeport serve`: the built-in XGBoost algorithm, script mode,
stops and timeouts, the logs and metrics they leave, and the requests refused."""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.conftest import (
    ROLE,
    SKLEARN_IMAGE,
    XGBOOST_IMAGE,
    boto_client,
    csv_rows,
    state_events,
    synthetic_regression,
    unique,
)

TRAIN_SCRIPT = r"""
import argparse
import json
import os
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--scale", type=float, default=1.0)
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
args = parser.parse_args()
rows = open(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "rows.csv")).read().split()
with open(os.path.join(args.model_dir, "model.json"), "w") as f:
    json.dump({"rows": len(rows), "scale": args.scale, "hosts": json.loads(os.environ["SM_HOSTS"])}, f)
with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "report.txt"), "w") as f:
    f.write("trained\n")
print(f"loss: {0.25 * args.scale}", flush=True)
print("epoch done", file=sys.stderr, flush=True)
time.sleep(args.sleep)
"""


@pytest.fixture(scope="module")
def logs(server: Any) -> Any:
    return boto_client("logs", server.url)


@pytest.fixture(scope="module")
def regression() -> dict[str, Any]:
    x, y = synthetic_regression(rows=400, features=4)
    return {"x": x, "y": y, "csv": csv_rows(np.column_stack([y, x]))}


def channel(name: str, uri: str, content_type: str | None = "text/csv") -> dict[str, Any]:
    found: dict[str, Any] = {
        "ChannelName": name,
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}},
    }
    if content_type:
        found["ContentType"] = content_type
    return found


def create(sm: Any, bucket: str, **overrides: Any) -> str:
    name = overrides.pop("name", None) or unique("training")
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "HyperParameters": {"num_round": "20", "max_depth": "3", "eta": "0.3", "objective": "reg:squarederror"},
        "InputDataConfig": [channel("train", f"s3://{bucket}/train/")],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/models/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    request.update(overrides)
    sm.create_training_job(**request)
    return name


def wait(sm: Any, name: str) -> dict[str, Any]:
    with contextlib.suppress(WaiterError):  # the waiter raises on Failed, which some tests expect
        sm.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 1500}
        )
    return dict(sm.describe_training_job(TrainingJobName=name))


def until_status(sm: Any, name: str, secondary: str) -> None:
    import time

    for _ in range(600):
        if sm.describe_training_job(TrainingJobName=name)["SecondaryStatus"] == secondary:
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} never reached {secondary}")


def untar(s3: Any, url: str) -> dict[str, bytes]:
    bucket, key = url[len("s3://") :].split("/", 1)
    raw = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_xgboost_trains_as_the_built_in_algorithm(
    sm: Any, s3: Any, logs: Any, bucket: str, regression: dict[str, Any]
) -> None:
    import xgboost

    s3.put_object(Bucket=bucket, Key="train/part-1.csv", Body=regression["csv"])
    s3.put_object(Bucket=bucket, Key="validation/rows.csv", Body=regression["csv"][:4000].rsplit(b"\n", 1)[0])
    name = create(
        sm,
        bucket,
        InputDataConfig=[
            channel("train", f"s3://{bucket}/train/"),
            channel("validation", f"s3://{bucket}/validation/"),
        ],
    )
    job = wait(sm, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    steps = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert steps == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert all("EndTime" in t for t in job["SecondaryStatusTransitions"])
    assert job["TrainingTimeInSeconds"] >= 1 and job["BillableTimeInSeconds"] == job["TrainingTimeInSeconds"]
    metrics = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    assert set(metrics) == {"train:rmse", "validation:rmse"} and 0 < metrics["train:rmse"] < 2
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://{bucket}/models/{name}/output/model.tar.gz"

    files = untar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])
    assert list(files) == ["xgboost-model"]
    booster = xgboost.Booster()
    booster.load_model(bytearray(files["xgboost-model"]))
    local = xgboost.train(
        {"max_depth": 3, "eta": 0.3, "objective": "reg:squarederror"},
        xgboost.DMatrix(regression["x"], label=regression["y"]),
        num_boost_round=20,
    )
    np.testing.assert_allclose(
        booster.inplace_predict(regression["x"]), local.inplace_predict(regression["x"]), rtol=1e-5
    )

    group = "/aws/sagemaker/TrainingJobs"
    stream = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{name}/")["logStreams"][0]
    assert stream["logStreamName"].startswith(f"{name}/algo-1-")
    lines = [
        e["message"]
        for e in logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True)[
            "events"
        ]
    ]
    assert lines[0].startswith("[0]#011train-rmse:") and "#011validation-rmse:" in lines[0]
    assert len([line for line in lines if line.startswith("[")]) == 20

    listed = sm.list_training_jobs(NameContains=name, StatusEquals="Completed")["TrainingJobSummaries"]
    assert [j["TrainingJobName"] for j in listed] == [name] and listed[0]["SecondaryStatus"] == "Completed"

    # "SageMaker Training Job State Change" on each status and secondary status, times as epoch-ms strings.
    changes = state_events(logs, "training-job", "TrainingJobName", name)
    assert [(e["detail"]["TrainingJobStatus"], e["detail"]["SecondaryStatus"]) for e in changes] == [
        ("InProgress", "Starting"),
        ("InProgress", "Downloading"),
        ("InProgress", "Training"),
        ("InProgress", "Uploading"),
        ("Completed", "Completed"),
    ]
    last = changes[-1]
    assert last["detail-type"] == "SageMaker Training Job State Change" and last["resources"] == [job["TrainingJobArn"]]
    assert last["detail"]["TrainingEndTime"].isdigit() and last["detail"]["FinalMetricDataList"]


def test_libsvm_is_the_default_content_type(sm: Any, s3: Any, bucket: str, regression: dict[str, Any]) -> None:
    rows = [
        f"{label} " + " ".join(f"{i}:{v}" for i, v in enumerate(row))
        for label, row in zip(regression["y"], regression["x"], strict=True)
    ]
    s3.put_object(Bucket=bucket, Key="train/rows.libsvm", Body="\n".join(rows).encode())
    job = wait(sm, create(sm, bucket, InputDataConfig=[channel("train", f"s3://{bucket}/train/", None)]))
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert {m["MetricName"] for m in job["FinalMetricDataList"]} == {"train:rmse"}


@pytest.mark.parametrize(
    ("hyperparameters", "body", "reason"),
    [
        ({"max_depth": "3"}, None, "Missing required hyperparameter: num_round"),
        ({"num_round": "ten"}, None, "num_round must be an integer"),
        ({"num_round": "5", "objective": "no:such"}, None, "XGBoost refused the job"),
        ({"num_round": "5"}, b"1,2,x\n3,4,5\n", "not numeric csv"),
        ({"num_round": "5"}, b"7\n8\n", "need the label first, then the features"),
        ({"num_round": "5", "early_stopping_rounds": "2"}, None, "needs a 'validation' channel"),
    ],
)
def test_a_job_the_algorithm_cannot_train_fails_saying_why(
    sm: Any,
    s3: Any,
    bucket: str,
    regression: dict[str, Any],
    hyperparameters: dict[str, str],
    body: bytes | None,
    reason: str,
) -> None:
    s3.put_object(Bucket=bucket, Key="train/rows.csv", Body=body or regression["csv"])
    job = wait(sm, create(sm, bucket, HyperParameters=hyperparameters))
    assert job["TrainingJobStatus"] == "Failed" and job["SecondaryStatus"] == "Failed"
    assert reason in job["FailureReason"]


def test_a_channel_with_no_data_fails_the_job(sm: Any, bucket: str) -> None:
    job = wait(sm, create(sm, bucket, InputDataConfig=[channel("train", f"s3://{bucket}/nothing-here/")]))
    assert job["TrainingJobStatus"] == "Failed" and "No S3 objects found" in job["FailureReason"]


def script_job(sm: Any, s3: Any, bucket: str, **overrides: Any) -> str:
    source = io.BytesIO()
    with tarfile.open(fileobj=source, mode="w:gz") as tar:
        info = tarfile.TarInfo("train.py")
        info.size = len(TRAIN_SCRIPT.encode())
        tar.addfile(info, io.BytesIO(TRAIN_SCRIPT.encode()))
    s3.put_object(Bucket=bucket, Key="code/sourcedir.tar.gz", Body=source.getvalue())
    s3.put_object(Bucket=bucket, Key="train/rows.csv", Body=b"1,2\n3,4\n5,6\n")
    hyperparameters = {
        "sagemaker_program": json.dumps("train.py"),
        "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/code/sourcedir.tar.gz"),
        "scale": "2",
        **overrides.pop("hyperparameters", {}),
    }
    spec = {
        "TrainingImage": SKLEARN_IMAGE,
        "TrainingInputMode": "File",
        "MetricDefinitions": [{"Name": "loss", "Regex": r"loss: ([0-9.]+)"}],
    }
    return create(sm, bucket, AlgorithmSpecification=spec, HyperParameters=hyperparameters, **overrides)


def test_script_mode_runs_the_entry_point_with_the_toolkit_environment(sm: Any, s3: Any, bucket: str) -> None:
    job = wait(sm, script_job(sm, s3, bucket))
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    model = json.loads(untar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])["model.json"])
    assert model == {"rows": 3, "scale": 2.0, "hosts": ["algo-1"]}
    output = job["ModelArtifacts"]["S3ModelArtifacts"].replace("model.tar.gz", "output.tar.gz")
    assert untar(s3, output) == {"report.txt": b"trained\n"}
    assert [(m["MetricName"], m["Value"]) for m in job["FinalMetricDataList"]] == [("loss", 0.5)]


def test_a_failing_script_fails_the_job_with_its_exit_code(sm: Any, s3: Any, bucket: str) -> None:
    job = wait(sm, script_job(sm, s3, bucket, hyperparameters={"sleep": "not-a-number"}))
    assert job["TrainingJobStatus"] == "Failed"
    assert "ExecuteUserScriptError" in job["FailureReason"] and "code 2" in job["FailureReason"]


def printed(logs: Any, name: str, text: str) -> bool:
    """Whether the job's output has `text` in it yet."""
    try:
        found = logs.filter_log_events(
            logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{name}/", filterPattern=f'"{text}"'
        )
    except logs.exceptions.ResourceNotFoundException:
        return False
    return bool(found["events"])


def test_stop_and_timeout_end_the_job_and_keep_what_it_saved(sm: Any, s3: Any, logs: Any, bucket: str) -> None:
    from tests.integration.test_lifecycle import until

    stopped = script_job(sm, s3, bucket, hyperparameters={"sleep": "60"})
    until(lambda: printed(logs, stopped, "loss:"))  # the model is saved: the script is sleeping
    sm.stop_training_job(TrainingJobName=stopped)
    job = wait(sm, stopped)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert "Stopping" in [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert "model.json" in untar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])
    with pytest.raises(ClientError) as err:
        sm.stop_training_job(TrainingJobName=stopped)
    assert err.value.response["Error"]["Code"] == "ValidationException"

    timed_out = script_job(
        sm, s3, bucket, hyperparameters={"sleep": "60"}, StoppingCondition={"MaxRuntimeInSeconds": 2}
    )
    job = wait(sm, timed_out)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"AlgorithmSpecification": {"AlgorithmName": "a", "TrainingInputMode": "File"}}, "AlgorithmName"),
        ({"AlgorithmSpecification": {"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "Pipe"}}, "Pipe"),
        ({"AlgorithmSpecification": {"TrainingImage": SKLEARN_IMAGE, "TrainingInputMode": "File"}}, "script mode"),
        ({"ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 1}}, "one instance"),
        ({"OutputDataConfig": {"S3OutputPath": "https://example.com/out/"}}, "must be an s3:// URI"),
        ({"InputDataConfig": [channel("train", "s3://b/a/"), channel("train", "s3://b/b/")]}, "unique"),
    ],
)
def test_requests_homeport_cannot_run_are_refused(sm: Any, bucket: str, change: dict[str, Any], message: str) -> None:
    with pytest.raises(ClientError) as err:
        create(sm, bucket, **change)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert message in err.value.response["Error"]["Message"]


def test_names_are_unique_and_unknown_jobs_are_not_found(
    sm: Any, s3: Any, bucket: str, regression: dict[str, Any]
) -> None:
    s3.put_object(Bucket=bucket, Key="train/rows.csv", Body=regression["csv"])
    name = create(sm, bucket)
    with pytest.raises(ClientError) as err:
        create(sm, bucket, name=name)
    assert err.value.response["Error"]["Code"] == "ResourceInUse"
    for call in (sm.describe_training_job, sm.stop_training_job):
        with pytest.raises(ClientError) as err:
            call(TrainingJobName=unique("missing"))
        assert err.value.response["Error"]["Code"] == "ResourceNotFound"
    wait(sm, name)


@pytest.mark.parametrize("how", ["stopped", "killed"])
def test_a_job_running_when_the_server_stops_ends_failed_at_the_next_start(tmp_path: Any, how: str) -> None:
    """A training run cannot pick up where it was: the next start ends it, saying why, and it is not left
    InProgress forever (transform jobs, which can, resume). Its process goes with the server, even a killed one."""
    import signal
    import time

    import psutil

    from homeport.server.process import ServerProcess
    from tests.conftest import KEYS

    data_dir = tmp_path / "data"
    env = {"HOMEPORT_LOG_LEVEL": "warning", **KEYS}
    server = ServerProcess(data_dir, env=env).start()
    try:
        sm, s3 = boto_client("sagemaker", server.url), boto_client("s3", server.url)
        s3.create_bucket(Bucket="restart")
        name = script_job(sm, s3, "restart", hyperparameters={"sleep": "60"})
        until_status(sm, name, "Training")
        time.sleep(0.5)  # the script is running
    finally:
        server.stop(signal.SIGKILL if how == "killed" else signal.SIGTERM)

    def training() -> list[Any]:
        return [p for p in psutil.process_iter(["cmdline"]) if str(data_dir) in " ".join(p.info["cmdline"] or [])]

    deadline = time.monotonic() + 10
    while training() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert training() == []
    with ServerProcess(data_dir, env=env) as server:
        job = boto_client("sagemaker", server.url).describe_training_job(TrainingJobName=name)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Failed", "Failed")
    assert "homeport stopped while the job was running" in job["FailureReason"]


def test_the_cli_lists_follows_and_stops_training_jobs(
    server: Any, sm: Any, s3: Any, bucket: str, regression: dict[str, Any]
) -> None:
    from tests.integration.test_cli import homeport

    s3.put_object(Bucket=bucket, Key="train/rows.csv", Body=regression["csv"])
    name = create(sm, bucket)
    followed = homeport("training", name, "--follow", "--interval", "0.2", url=server.url)
    assert followed.returncode == 0, followed.stderr
    assert "[19]#011train-rmse:" in followed.stdout and f"{name}: Completed (Completed)" in followed.stdout
    assert "train:rmse = " in followed.stdout and f"/{name}/output/model.tar.gz" in followed.stdout
    listed = homeport("training", url=server.url)
    assert listed.returncode == 0 and name in listed.stdout
    as_json = json.loads(homeport("training", name, "--json", url=server.url).stdout)
    assert as_json["TrainingJobStatus"] == "Completed"
    refused = homeport("training", name, "--stop", url=server.url)
    assert refused.returncode == 1 and "already ended" in refused.stderr

    running = script_job(sm, s3, bucket, hyperparameters={"sleep": "60"})
    assert homeport("training", running, "--stop", url=server.url).returncode == 0
    assert wait(sm, running)["TrainingJobStatus"] == "Stopped"


def test_script_mode_installs_the_source_directory_requirements(sm: Any, s3: Any, bucket: str, tmp_path: Any) -> None:
    from tests.conftest import probe_wheel

    wheel = probe_wheel(tmp_path, value=11)
    script = (
        "import json, os\nimport homeport_probe_dep\n"
        "model = os.path.join(os.environ['SM_MODEL_DIR'], 'm.json')\n"
        "json.dump({'value': homeport_probe_dep.VALUE}, open(model, 'w'))\n"
    )
    source = io.BytesIO()
    with tarfile.open(fileobj=source, mode="w:gz") as tar:
        for name, data in (
            ("train.py", script.encode()),
            ("requirements.txt", f"./{wheel}\n".encode()),
            (wheel, (tmp_path / wheel).read_bytes()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    s3.put_object(Bucket=bucket, Key="reqs/sourcedir.tar.gz", Body=source.getvalue())
    s3.put_object(Bucket=bucket, Key="train/rows.csv", Body=b"1\n")
    hyperparameters = {
        "sagemaker_program": json.dumps("train.py"),
        "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/reqs/sourcedir.tar.gz"),
    }
    spec = {"TrainingImage": SKLEARN_IMAGE, "TrainingInputMode": "File"}
    job = wait(sm, create(sm, bucket, AlgorithmSpecification=spec, HyperParameters=hyperparameters))
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert json.loads(untar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])["m.json"]) == {"value": 11}
