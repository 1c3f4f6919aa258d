"""CreateTrainingJob, DescribeTrainingJob, ListTrainingJobs, StopTrainingJob.

homeport trains what the SageMaker chapter trains: the built-in XGBoost algorithm, and script mode (a
`sagemaker_program` hyperparameter: the user's script, with any framework image, run with the training
toolkit's environment). The service checks the request and records the job; the training runner does the work.
"""

from __future__ import annotations

from typing import Any

from homeport.core.states import SecondaryStatus, TrainingJobStatus
from homeport.errors import HomeportError, ValidationError
from homeport.runtime import images
from homeport.services.ml_jobs import JobService
from homeport.store import Kind

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


class TrainingJobService(JobService):
    kind = Kind.TRAINING_JOB
    label = "TrainingJob"
    status = TrainingJobStatus
    summary = SUMMARY_FIELDS

    def check(self, params: dict[str, Any]) -> None:
        check_request(params)

    def record(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        started = {
            "Status": SecondaryStatus.STARTING.value,
            "StartTime": now,
            "StatusMessage": "Starting the training job.",
        }
        return {
            "SecondaryStatus": SecondaryStatus.STARTING.value,
            "SecondaryStatusTransitions": [started],
            **{k: params[k] for k in KEPT if k in params},
            "HyperParameters": params.get("HyperParameters", {}),
        }

    def stopping(self, doc: dict[str, Any], now: float) -> None:
        enter(doc, SecondaryStatus.STOPPING, "Stopping the training job.", now)


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
