"""CreateProcessingJob, DescribeProcessingJob, ListProcessingJobs, StopProcessingJob.

A processing job runs the command its AppSpecification names (the SDK's `ScriptProcessor` and `SKLearnProcessor`:
`python3 /opt/ml/processing/input/code/<script>`) with its S3 inputs downloaded to their `/opt/ml/processing/…`
paths, and uploads what it leaves in its outputs' paths. Those paths are the job's own directory on this machine.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from homeport.core.arns import arn
from homeport.core.states import PROCESSING_JOB_ENDED, ProcessingJobStatus, move
from homeport.errors import ResourceInUse, ResourceNotFound, ValidationError
from homeport.services import listing
from homeport.services.context import Context, public
from homeport.store import Kind
from homeport.store.db import Duplicate

PROCESSING_ROOT = "/opt/ml/processing/"  # every input's and output's LocalPath is under it, as in SageMaker
DEFAULT_MAX_RUNTIME_S = 86_400
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


class ProcessingJobService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["ProcessingJobName"]
        job_arn = arn(self.ctx.settings, "processing-job", name)
        check_request(params)
        now = self.ctx.clock.now()
        doc: dict[str, Any] = {
            "ProcessingJobName": name,
            "ProcessingJobArn": job_arn,
            "ProcessingJobStatus": ProcessingJobStatus.IN_PROGRESS.value,
            **{k: params[k] for k in KEPT if k in params},
            "StoppingCondition": {"MaxRuntimeInSeconds": DEFAULT_MAX_RUNTIME_S, **params.get("StoppingCondition", {})},
            "CreationTime": now,
            "LastModifiedTime": now,
        }
        store = self.ctx.store
        with store.transaction() as conn:
            try:
                store.insert(conn, Kind.PROCESSING_JOB, doc, name=name, arn=job_arn, status=doc["ProcessingJobStatus"])
            except Duplicate:
                raise ResourceInUse(
                    f"Processing job names must be unique within an AWS account and region, and a processing job "
                    f"with this name already exists ({job_arn})."
                ) from None
            store.put_tags(conn, job_arn, params.get("Tags", []))
        self.ctx.wake()
        return {"ProcessingJobArn": job_arn}

    def get(self, conn: Any, name: str) -> dict[str, Any]:
        doc = self.ctx.store.get(conn, Kind.PROCESSING_JOB, name)
        if doc is None:
            raise ResourceNotFound(f"Processing job {name} does not exist.")
        return doc

    def describe(self, name: str) -> dict[str, Any]:
        with self.ctx.store.reading() as conn:
            return public(self.get(conn, name))

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        return listing.list_reply(
            self.ctx.store, Kind.PROCESSING_JOB, params, "ProcessingJobSummaries", SUMMARY_FIELDS, "StatusEquals"
        )

    def stop(self, name: str) -> dict[str, Any]:
        store = self.ctx.store
        with store.transaction() as conn:
            doc = self.get(conn, name)
            status = ProcessingJobStatus(doc["ProcessingJobStatus"])
            if status in PROCESSING_JOB_ENDED:
                raise ValidationError(
                    f"The processing job {name} has already ended ({status.value}); only a job that is InProgress "
                    "can be stopped."
                )
            if status is ProcessingJobStatus.IN_PROGRESS:
                move(doc, "ProcessingJobStatus", ProcessingJobStatus.STOPPING)
                doc["LastModifiedTime"] = self.ctx.clock.now()
                store.replace(conn, Kind.PROCESSING_JOB, name, doc, status=doc["ProcessingJobStatus"])
        self.ctx.wake()
        return {}


def local_path(path: str) -> PurePosixPath:
    """A LocalPath relative to /opt/ml/processing/ (where it goes in the job's directory)."""
    return PurePosixPath(path[len(PROCESSING_ROOT) :])


def check_request(params: dict[str, Any]) -> None:
    """The rules CreateProcessingJob enforces, and what homeport cannot do yet, refused with what to do instead."""
    app = params["AppSpecification"]
    if not app.get("ContainerEntrypoint"):
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
