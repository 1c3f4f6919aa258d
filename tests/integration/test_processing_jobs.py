"""Processing jobs driven with boto3 against a real `homeport serve`: the command runs with its inputs at their
/opt/ml/processing paths, its outputs land in S3, its output in CloudWatch Logs; failures, stops, timeouts and
the requests refused."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.conftest import ROLE, SKLEARN_IMAGE, boto_client, state_events, unique
from tests.integration.test_lifecycle import until

PREPROCESS = r"""
import argparse
import glob
import os
import time

parser = argparse.ArgumentParser()
parser.add_argument("--scale", type=float, default=1.0)
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--fail", action="store_true")
args = parser.parse_args()
rows = []
for path in sorted(glob.glob(os.path.join(os.environ["BASE"], "input/data/**/*.csv"), recursive=True)):
    rows += [float(v) * args.scale for v in open(path).read().split()]
if args.fail:
    raise SystemExit("bad input, giving up")
os.makedirs(os.path.join(os.environ["BASE"], "output/train/nested"), exist_ok=True)
with open(os.path.join(os.environ["BASE"], "output/train/train.csv"), "w") as f:
    f.write("\n".join(str(r) for r in rows) + "\n")
with open(os.path.join(os.environ["BASE"], "output/train/nested/count.txt"), "w") as f:
    f.write(str(len(rows)))
print(f"processed {len(rows)} rows", flush=True)
time.sleep(args.sleep)
"""


@pytest.fixture(scope="module")
def logs(server: Any) -> Any:
    return boto_client("logs", server.url)


def create(sm: Any, s3: Any, bucket: str, arguments: list[str] | None = None, **overrides: Any) -> str:
    s3.put_object(Bucket=bucket, Key="code/preprocess.py", Body=PREPROCESS.encode())
    s3.put_object(Bucket=bucket, Key="raw/a.csv", Body=b"1\n2\n")
    s3.put_object(Bucket=bucket, Key="raw/more/b.csv", Body=b"3\n")
    name = overrides.pop("name", None) or unique("processing")
    request: dict[str, Any] = {
        "ProcessingJobName": name,
        "RoleArn": ROLE,
        "AppSpecification": {
            "ImageUri": SKLEARN_IMAGE,
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/preprocess.py"],
            "ContainerArguments": arguments or ["--scale", "2"],
        },
        # The script finds its paths from BASE: /opt/ml/processing/ in ContainerEntrypoint, ContainerArguments and
        # Environment values is rewritten to the job's directory, a path written in the script itself is not.
        "Environment": {"BASE": "/opt/ml/processing/"},
        "ProcessingInputs": [
            {
                "InputName": "code",
                "S3Input": {
                    "S3Uri": f"s3://{bucket}/code/preprocess.py",
                    "LocalPath": "/opt/ml/processing/input/code",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            },
            {
                "InputName": "data",
                "S3Input": {
                    "S3Uri": f"s3://{bucket}/raw/",
                    "LocalPath": "/opt/ml/processing/input/data",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            },
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "train",
                    "S3Output": {
                        "S3Uri": f"s3://{bucket}/processed/train",
                        "LocalPath": "/opt/ml/processing/output/train",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 10}
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    request.update(overrides)
    sm.create_processing_job(**request)
    return name


def wait(sm: Any, name: str) -> dict[str, Any]:
    with contextlib.suppress(WaiterError):
        sm.get_waiter("processing_job_completed_or_stopped").wait(
            ProcessingJobName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 1500}
        )
    return dict(sm.describe_processing_job(ProcessingJobName=name))


def test_the_command_runs_on_its_inputs_and_its_outputs_land_in_s3(sm: Any, s3: Any, logs: Any, bucket: str) -> None:
    name = create(sm, s3, bucket)
    job = wait(sm, name)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ProcessingEndTime"] >= job["ProcessingStartTime"]
    body = s3.get_object(Bucket=bucket, Key="processed/train/train.csv")["Body"].read()
    assert body.split() == [b"2.0", b"4.0", b"6.0"]
    assert s3.get_object(Bucket=bucket, Key="processed/train/nested/count.txt")["Body"].read() == b"3"
    group = "/aws/sagemaker/ProcessingJobs"
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{name}/")["logStreams"]
    events = logs.filter_log_events(logGroupName=group, logStreamNames=[streams[0]["logStreamName"]])["events"]
    assert [e["message"] for e in events] == ["processed 3 rows"]
    listed = sm.list_processing_jobs(NameContains=name)["ProcessingJobSummaries"]
    assert [(j["ProcessingJobName"], j["ProcessingJobStatus"]) for j in listed] == [(name, "Completed")]
    changes = state_events(logs, "processing-job", "ProcessingJobName", name)
    assert [e["detail"]["ProcessingJobStatus"] for e in changes] == ["InProgress", "Completed"]
    assert changes[-1]["detail-type"] == "SageMaker Processing Job State Change"
    assert abs(changes[-1]["detail"]["ProcessingEndTime"] - job["ProcessingEndTime"].timestamp() * 1000) <= 1


def test_a_failing_command_fails_the_job_with_its_output(sm: Any, s3: Any, bucket: str) -> None:
    job = wait(sm, create(sm, s3, bucket, ["--fail"]))
    assert job["ProcessingJobStatus"] == "Failed"
    assert "exited with code 1" in job["FailureReason"] and "bad input, giving up" in job["FailureReason"]
    missing = {"ImageUri": SKLEARN_IMAGE, "ContainerEntrypoint": ["no-such-command-here"]}
    job = wait(sm, create(sm, s3, bucket, AppSpecification=missing))
    assert job["ProcessingJobStatus"] == "Failed" and "not installed" in job["FailureReason"]


def test_stop_and_timeout_end_the_job(sm: Any, s3: Any, logs: Any, bucket: str) -> None:
    name = create(sm, s3, bucket, ["--sleep", "60"])
    until(lambda: "ProcessingStartTime" in sm.describe_processing_job(ProcessingJobName=name))
    sm.stop_processing_job(ProcessingJobName=name)
    assert wait(sm, name)["ProcessingJobStatus"] == "Stopped"
    changes = state_events(logs, "processing-job", "ProcessingJobName", name)
    assert [e["detail"]["ProcessingJobStatus"] for e in changes] == ["InProgress", "Stopping", "Stopped"]
    with pytest.raises(ClientError) as err:
        sm.stop_processing_job(ProcessingJobName=name)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    timed_out = wait(sm, create(sm, s3, bucket, ["--sleep", "60"], StoppingCondition={"MaxRuntimeInSeconds": 2}))
    assert timed_out["ProcessingJobStatus"] == "Stopped" and "MaxRuntimeInSeconds" in timed_out["ExitMessage"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"AppSpecification": {"ImageUri": SKLEARN_IMAGE}}, "ContainerEntrypoint"),
        (
            {
                "ProcessingResources": {
                    "ClusterConfig": {"InstanceCount": 2, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}
                }
            },
            "one instance",
        ),
        (
            {
                "ProcessingInputs": [
                    {
                        "InputName": "x",
                        "S3Input": {"S3Uri": "s3://b/x", "LocalPath": "/etc/x", "S3DataType": "S3Prefix"},
                    }
                ]
            },
            "must be a path under /opt/ml/processing/",
        ),
        (
            {
                "ProcessingInputs": [
                    {
                        "InputName": "x",
                        "S3Input": {
                            "S3Uri": "s3://b/x",
                            "LocalPath": "/opt/ml/processing/x",
                            "S3DataType": "S3Prefix",
                            "S3InputMode": "Pipe",
                        },
                    }
                ]
            },
            "Pipe",
        ),
    ],
)
def test_requests_homeport_cannot_run_are_refused(
    sm: Any, s3: Any, bucket: str, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ClientError) as err:
        create(sm, s3, bucket, **change)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert message in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        sm.describe_processing_job(ProcessingJobName=unique("missing"))
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"


def test_the_cli_follows_and_lists_processing_jobs(server: Any, sm: Any, s3: Any, bucket: str) -> None:
    from tests.integration.test_cli import homeport

    name = create(sm, s3, bucket)
    followed = homeport("processing", name, "--follow", "--interval", "0.2", url=server.url)
    assert followed.returncode == 0, followed.stderr
    assert "processed 3 rows" in followed.stdout and f"{name}: Completed" in followed.stdout
    assert f"output train: /opt/ml/processing/output/train -> s3://{bucket}/processed/train" in followed.stdout
    listed = homeport("processing", url=server.url)
    assert listed.returncode == 0 and name in listed.stdout
