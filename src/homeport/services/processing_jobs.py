"""CreateProcessingJob, DescribeProcessingJob, ListProcessingJobs, StopProcessingJob.

A processing job runs the command its AppSpecification names (the SDK's `ScriptProcessor` and `SKLearnProcessor`:
`python3 /opt/ml/processing/input/code/<script>`) with its S3 inputs downloaded to their `/opt/ml/processing/…`
paths, and uploads what it leaves in its outputs' paths. Those paths are the job's own directory on this machine.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from homeport.core.states import ProcessingJobStatus
from homeport.errors import ValidationError
from homeport.services.ml_jobs import JobService
from homeport.store import Kind

PROCESSING_ROOT = "/opt/ml/processing/"  # every input's and output's LocalPath is under it, as in SageMaker
SUMMARY_FIELDS = (
    "ProcessingJobName",
    "ProcessingJobArn",
    "CreationTime",
    "ProcessingEndTime",
    "LastModifiedTime",
    "ProcessingJobStatus",
    "FailureReason",
    "ExitMessage",
)
KEPT = (
    "ProcessingInputs",
    "ProcessingOutputConfig",
    "ProcessingResources",
    "AppSpecification",
    "Environment",
    "NetworkConfig",
    "RoleArn",
    "ExperimentConfig",
)


class ProcessingJobService(JobService):
    kind = Kind.PROCESSING_JOB
    label = "ProcessingJob"
    status = ProcessingJobStatus
    summary = SUMMARY_FIELDS

    def check(self, params: dict[str, Any]) -> None:
        check_request(params)

    def record(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        return {k: params[k] for k in KEPT if k in params}


ANALYZER = "sagemaker-model-monitor-analyzer"  # Model Monitor's image: homeport runs `homeport.monitoring` for it


def is_analyzer(image: str) -> bool:
    """Whether an image URI names Model Monitor's analyzer (any account, region or tag)."""
    repository = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    return repository == ANALYZER


def is_monitoring(doc: dict[str, Any]) -> bool:
    """Whether a processing job is a monitoring schedule's execution (which can run again after a restart)."""
    return "sagemaker_monitoring_schedule_name" in doc.get("Environment", {})


def local_path(path: str) -> PurePosixPath:
    """A LocalPath relative to /opt/ml/processing/ (where it goes in the job's directory)."""
    return PurePosixPath(path[len(PROCESSING_ROOT) :])


def check_request(params: dict[str, Any]) -> None:
    """The rules CreateProcessingJob enforces, and what homeport cannot do yet, refused with what to do instead."""
    app = params["AppSpecification"]
    if not app.get("ContainerEntrypoint") and not is_analyzer(app["ImageUri"]):
        raise ValidationError(
            'homeport runs a processing job\'s AppSpecification.ContainerEntrypoint (such as ["python3", '
            "\"/opt/ml/processing/input/code/preprocess.py\"], which the SDK's ScriptProcessor sets); an image's "
            "own entry point is not known here. Give one."
        )
    cluster = params["ProcessingResources"]["ClusterConfig"]
    if cluster["InstanceCount"] != 1:
        raise ValidationError(
            f"ProcessingResources asks for {cluster['InstanceCount']} instances; homeport runs processing jobs on "
            "one instance (InstanceCount 1) for now."
        )
    paths: list[str] = []
    for item in params.get("ProcessingInputs", []):
        source = item.get("S3Input")
        if source is None:
            raise ValidationError(
                f"Processing input {item['InputName']}: homeport reads inputs from S3Input only (not "
                "DatasetDefinition)."
            )
        if source.get("S3InputMode") == "Pipe":
            raise ValidationError(f"Processing input {item['InputName']}: S3InputMode Pipe is not supported; use File.")
        paths.append(_checked_path(source.get("LocalPath"), f"input {item['InputName']}"))
    outputs = params.get("ProcessingOutputConfig", {}).get("Outputs", [])
    for item in outputs:
        target = item.get("S3Output")
        if target is None:
            raise ValidationError(
                f"Processing output {item['OutputName']}: homeport writes outputs to S3Output only (not "
                "FeatureStoreOutput)."
            )
        if not target["S3Uri"].startswith("s3://"):
            raise ValidationError(f"Processing output {item['OutputName']}: S3Uri must be an s3:// URI.")
        paths.append(_checked_path(target.get("LocalPath"), f"output {item['OutputName']}"))
    names = [i["InputName"] for i in params.get("ProcessingInputs", [])] + [o["OutputName"] for o in outputs]
    if len(set(names)) != len(names):
        raise ValidationError(f"Input and output names must be unique; the job has {names}.")


def _checked_path(path: str | None, what: str) -> str:
    if not path or not path.startswith(PROCESSING_ROOT) or ".." in PurePosixPath(path).parts:
        raise ValidationError(f"The {what}'s LocalPath {path!r} must be a path under {PROCESSING_ROOT}.")
    return path
