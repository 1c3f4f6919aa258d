"""CreateTrainingJob, DescribeTrainingJob, ListTrainingJobs, StopTrainingJob.

homeport trains what the SageMaker chapter trains: the built-in XGBoost algorithm, and script mode (a
`sagemaker_program` hyperparameter: the user's script, with any framework image, run with the training
toolkit's environment). The service checks the request and records the job; the training runner does the work.
"""

from __future__ import annotations

from typing import Any

from homeport.core.arns import arn
from homeport.core.states import TRAINING_JOB_ENDED, SecondaryStatus, TrainingJobStatus, move
from homeport.errors import HomeportError, ResourceInUse, ResourceNotFound, ValidationError
from homeport.runtime import images
from homeport.services import listing
from homeport.services.context import Context, public
from homeport.store import Kind
from homeport.store.db import Duplicate

DEFAULT_MAX_RUNTIME_S = 86_400  # SageMaker's default StoppingCondition
SUMMARY_FIELDS = (
    "TrainingJobName",
    "TrainingJobArn",
    "CreationTime",
    "TrainingEndTime",
    "LastModifiedTime",
    "TrainingJobStatus",
    "SecondaryStatus",
)
KEPT = (  # request fields DescribeTrainingJob echoes
    "HyperParameters",
    "AlgorithmSpecification",
    "RoleArn",
    "InputDataConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "VpcConfig",
    "EnableNetworkIsolation",
    "EnableInterContainerTrafficEncryption",
    "EnableManagedSpotTraining",
    "CheckpointConfig",
    "DebugHookConfig",
    "ExperimentConfig",
    "TensorBoardOutputConfig",
    "ProfilerConfig",
    "Environment",
    "RetryStrategy",
)


class TrainingJobService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TrainingJobName"]
        job_arn = arn(self.ctx.settings, "training-job", name)
        check_request(params)
        now = self.ctx.clock.now()
        stopping = {"MaxRuntimeInSeconds": DEFAULT_MAX_RUNTIME_S, **params.get("StoppingCondition", {})}
        doc: dict[str, Any] = {
            "TrainingJobName": name,
            "TrainingJobArn": job_arn,
            "TrainingJobStatus": TrainingJobStatus.IN_PROGRESS.value,
            "SecondaryStatus": SecondaryStatus.STARTING.value,
            "SecondaryStatusTransitions": [
                {
                    "Status": SecondaryStatus.STARTING.value,
                    "StartTime": now,
                    "StatusMessage": "Starting the training job.",
                }
            ],
            **{k: params[k] for k in KEPT if k in params},
            "HyperParameters": params.get("HyperParameters", {}),
            "StoppingCondition": stopping,
            "CreationTime": now,
            "LastModifiedTime": now,
        }
        store = self.ctx.store
        with store.transaction() as conn:
            try:
                store.insert(conn, Kind.TRAINING_JOB, doc, name=name, arn=job_arn, status=doc["TrainingJobStatus"])
            except Duplicate:
                raise ResourceInUse(
                    f"Training job names must be unique within an AWS account and region, and a "
                    f"training job with this name already exists ({job_arn})."
                ) from None
            store.put_tags(conn, job_arn, params.get("Tags", []))
        self.ctx.wake()
        return {"TrainingJobArn": job_arn}

    def get(self, conn: Any, name: str) -> dict[str, Any]:
        doc = self.ctx.store.get(conn, Kind.TRAINING_JOB, name)
        if doc is None:
            raise ResourceNotFound(f"Requested resource not found: Training job {name} does not exist.")
        return doc

    def describe(self, name: str) -> dict[str, Any]:
        with self.ctx.store.reading() as conn:
            return public(self.get(conn, name))

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        return listing.list_reply(
            self.ctx.store, Kind.TRAINING_JOB, params, "TrainingJobSummaries", SUMMARY_FIELDS, "StatusEquals"
        )

    def stop(self, name: str) -> dict[str, Any]:
        store = self.ctx.store
        with store.transaction() as conn:
            doc = self.get(conn, name)
            status = TrainingJobStatus(doc["TrainingJobStatus"])
            if status in TRAINING_JOB_ENDED:
                raise ValidationError(
                    f"The training job {name} has already ended ({status.value}); only a job that is InProgress "
                    "can be stopped."
                )
            if status is TrainingJobStatus.IN_PROGRESS:
                now = self.ctx.clock.now()
                move(doc, "TrainingJobStatus", TrainingJobStatus.STOPPING)
                enter(doc, SecondaryStatus.STOPPING, "Stopping the training job.", now)
                doc["LastModifiedTime"] = now
                store.replace(conn, Kind.TRAINING_JOB, name, doc, status=doc["TrainingJobStatus"])
        self.ctx.wake()
        return {}


def enter(doc: dict[str, Any], status: SecondaryStatus, message: str, now: float) -> None:
    """Move the job's SecondaryStatus on, closing the transition it was in."""
    transitions = doc.setdefault("SecondaryStatusTransitions", [])
    if transitions and "EndTime" not in transitions[-1]:
        transitions[-1]["EndTime"] = now
    transitions.append({"Status": status.value, "StartTime": now, "StatusMessage": message})
    doc["SecondaryStatus"] = status.value


def is_script_mode(doc: dict[str, Any]) -> bool:
    return "sagemaker_program" in doc.get("HyperParameters", {})


def check_request(params: dict[str, Any]) -> None:
    """The rules CreateTrainingJob enforces, and what homeport cannot do yet, refused with what to do instead."""
    spec = params.get("AlgorithmSpecification")
    if spec is None:
        raise ValidationError("AlgorithmSpecification is required: its TrainingImage and TrainingInputMode.")
    if "AlgorithmName" in spec or "TrainingImage" not in spec:
        raise ValidationError(
            "homeport trains with a TrainingImage (the built-in XGBoost image, or any framework image in script "
            "mode); AlgorithmName (a Marketplace algorithm or algorithm resource) is not supported."
        )
    if spec["TrainingInputMode"] == "Pipe" or any(
        c.get("InputMode") == "Pipe" for c in params.get("InputDataConfig", [])
    ):
        raise ValidationError("TrainingInputMode Pipe is not supported by homeport; use File or FastFile.")
    if not is_script_mode(params):
        try:
            runtime = images.runtime_for(spec["TrainingImage"])
        except HomeportError:
            runtime = None
        if runtime is not images.Runtime.XGBOOST:
            raise ValidationError(
                f"homeport trains {spec['TrainingImage']} only in script mode (a sagemaker_program hyperparameter "
                "naming the entry point); without one it runs the built-in XGBoost algorithm "
                "(683313688378.dkr.ecr.<region>.amazonaws.com/sagemaker-xgboost:<version>)."
            )
    resources = params.get("ResourceConfig", {})
    count = resources.get("InstanceCount", 1)
    if count != 1 or resources.get("InstanceGroups"):
        raise ValidationError(
            f"ResourceConfig asks for {count} instances; homeport trains on one instance (InstanceCount 1) for now."
        )
    for channel in params.get("InputDataConfig", []):
        source = channel["DataSource"].get("S3DataSource")
        if source is None:
            raise ValidationError(
                f"Channel {channel['ChannelName']}: homeport reads channels from S3DataSource only (not "
                "FileSystemDataSource or DatasetSource)."
            )
        if source["S3DataType"] not in ("S3Prefix", "ManifestFile"):
            raise ValidationError(
                f"Channel {channel['ChannelName']}: S3DataType {source['S3DataType']} is not supported; use S3Prefix "
                "or ManifestFile."
            )
    names = [c["ChannelName"] for c in params.get("InputDataConfig", [])]
    if len(set(names)) != len(names):
        raise ValidationError(f"Channel names must be unique; InputDataConfig has {names}.")
    if not params["OutputDataConfig"]["S3OutputPath"].startswith("s3://"):
        raise ValidationError(f"S3OutputPath must be an s3:// URI, not {params['OutputDataConfig']['S3OutputPath']!r}.")
