"""Create…, Describe…, List… and Delete… of data quality and model quality job definitions; and the checks every
monitoring job definition passes, inline in a schedule or named.

Either kind is a monitoring job definition in other words: `as_monitoring` turns it into the inline
`MonitoringJobDefinition` shape, which is what an execution runs (a model quality one keeps its ProblemType in the
environment, as `problem_type`, and its `GroundTruthS3Input`). homeport runs endpoint inputs (captured data) with
Model Monitor's analyzer image, or with a ContainerEntrypoint of your own (bring your own container).
"""

from __future__ import annotations

from typing import Any

from homeport.core.arns import arn
from homeport.core.monitoring_schedule import offsets
from homeport.core.schedules import ScheduleError
from homeport.errors import ResourceInUse, ResourceNotFound, ValidationError
from homeport.services import listing
from homeport.services.context import Context, public
from homeport.services.processing_jobs import PROCESSING_ROOT, is_analyzer
from homeport.store import Kind
from homeport.store.db import Duplicate

KINDS = {"DataQuality": Kind.DATA_QUALITY_JOB_DEFINITION, "ModelQuality": Kind.MODEL_QUALITY_JOB_DEFINITION}
SHARED = ("JobResources", "NetworkConfig", "RoleArn", "StoppingCondition")
OWN = ("BaselineConfig", "AppSpecification", "JobInput", "JobOutputConfig")  # each after its kind's prefix
SUMMARY = ("MonitoringJobDefinitionName", "MonitoringJobDefinitionArn", "CreationTime", "EndpointName")
DEFAULT_MAX_RUNTIME_S = 3600  # what SageMaker gives a monitoring job that names none (its cap on hourly schedules)


class JobDefinitionService:
    """The job definitions of one MonitoringType: "DataQuality" or "ModelQuality"."""

    def __init__(self, ctx: Context, monitoring_type: str) -> None:
        self.ctx = ctx
        self.type = monitoring_type
        self.kind = KINDS[monitoring_type]

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["JobDefinitionName"]
        if self.type == "ModelQuality" and "ProblemType" not in params["ModelQualityAppSpecification"]:
            raise ValidationError(
                "ModelQualityAppSpecification.ProblemType is required: Regression, BinaryClassification or "
                "MulticlassClassification."
            )
        check(as_monitoring(params, self.type))
        resource = "".join(f"-{c.lower()}" if c.isupper() else c for c in self.type).lstrip("-")
        definition_arn = arn(self.ctx.settings, f"{resource}-job-definition", name)
        kept = [f"{self.type}{field}" for field in OWN] + list(SHARED)
        doc = {
            "JobDefinitionName": name,
            "JobDefinitionArn": definition_arn,
            "CreationTime": self.ctx.clock.now(),
            **{k: params[k] for k in kept if k in params},
        }
        store = self.ctx.store
        with store.transaction() as conn:
            try:
                store.insert(conn, self.kind, doc, name=name, arn=definition_arn)
            except Duplicate:
                raise ResourceInUse(f"Job definition {name} already exists ({definition_arn}).") from None
            store.put_tags(conn, definition_arn, params.get("Tags", []))
        return {"JobDefinitionArn": definition_arn}

    def get(self, conn: Any, name: str) -> dict[str, Any]:
        doc = self.ctx.store.get(conn, self.kind, name)
        if doc is None:
            raise ResourceNotFound(f"Job definition {name} does not exist.")
        return doc

    def describe(self, name: str) -> dict[str, Any]:
        with self.ctx.store.reading() as conn:
            return public(self.get(conn, name))

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.store.reading() as conn:
            docs = self.ctx.store.all(conn, self.kind)
        summaries = [
            {
                "MonitoringJobDefinitionName": d["JobDefinitionName"],
                "MonitoringJobDefinitionArn": d["JobDefinitionArn"],
                "CreationTime": d["CreationTime"],
                "EndpointName": endpoint_of(as_monitoring(d, self.type)) or "",
            }
            for d in docs
        ]
        if "EndpointName" in params:
            summaries = [s for s in summaries if s["EndpointName"] == params["EndpointName"]]
        return listing.filtered_reply(summaries, params, "JobDefinitionSummaries", "MonitoringJobDefinitionName")

    def delete(self, name: str) -> dict[str, Any]:
        store = self.ctx.store
        with store.transaction() as conn:
            self.get(conn, name)
            users = [
                s["MonitoringScheduleName"]
                for s in store.all(conn, Kind.MONITORING_SCHEDULE)
                if s["MonitoringScheduleConfig"].get("MonitoringJobDefinitionName") == name
                and s["MonitoringScheduleConfig"].get("MonitoringType") == self.type
            ]
            if users:
                raise ResourceInUse(
                    f"Job definition {name} is used by the monitoring schedule {users[0]}; delete the schedule first."
                )
            store.delete(conn, self.kind, name)
        return {}


def as_monitoring(definition: dict[str, Any], monitoring_type: str) -> dict[str, Any]:
    """A data or model quality job definition (request or record) in the inline MonitoringJobDefinition shape."""
    own = {field: definition.get(f"{monitoring_type}{field}") for field in OWN}
    app = dict(own["AppSpecification"] or {})
    environment = dict(app.pop("Environment", {}))
    if "ProblemType" in app:
        environment.setdefault("problem_type", app.pop("ProblemType"))
    job_input = dict(own["JobInput"] or {})
    ground_truth = job_input.pop("GroundTruthS3Input", None)
    shaped: dict[str, Any] = {
        "MonitoringInputs": [job_input],
        "MonitoringOutputConfig": own["JobOutputConfig"],
        "MonitoringResources": definition["JobResources"],
        "MonitoringAppSpecification": app,
        "RoleArn": definition["RoleArn"],
        "Environment": environment,
    }
    if ground_truth is not None:
        shaped["GroundTruthS3Input"] = ground_truth
    if own["BaselineConfig"] is not None:
        shaped["BaselineConfig"] = own["BaselineConfig"]
    for field in ("StoppingCondition", "NetworkConfig"):
        if field in definition:
            shaped[field] = definition[field]
    return shaped


def endpoint_of(definition: dict[str, Any]) -> str | None:
    return definition["MonitoringInputs"][0].get("EndpointInput", {}).get("EndpointName")


def data_input(definition: dict[str, Any]) -> dict[str, Any]:
    """The job's EndpointInput or BatchTransformInput: what it reads, and its window's offsets."""
    source = definition["MonitoringInputs"][0]
    found: dict[str, Any] = source.get("EndpointInput") or source.get("BatchTransformInput") or {}
    return found


def dataset_format(batch_input: dict[str, Any]) -> dict[str, Any]:
    """A BatchTransformInput's DatasetFormat as the analyzer's `dataset_format`."""
    given = batch_input["DatasetFormat"]
    if len(given) != 1:
        raise ValidationError("BatchTransformInput.DatasetFormat must name one format: Csv, Json or Parquet.")
    ((kind, options),) = given.items()
    if kind == "Csv":
        return {"csv": {"header": bool(options.get("Header", False))}}
    if kind == "Json":
        return {"json": {"lines": bool(options.get("Line", False))}}
    return {"parquet": {}}


def check(definition: dict[str, Any]) -> None:
    """What a monitoring job definition must hold for homeport to run it; ValidationError saying what to change."""
    (source,) = definition["MonitoringInputs"]
    fields = [field for field in ("EndpointInput", "BatchTransformInput") if field in source]
    if len(fields) != 1:
        raise ValidationError(
            "The monitoring job's input needs one of EndpointInput (an endpoint's captured data) or "
            "BatchTransformInput (what transform jobs captured)."
        )
    (field,) = fields
    given = source[field]
    _under_root(given["LocalPath"], f"{field}.LocalPath")
    if given.get("S3InputMode") == "Pipe":
        raise ValidationError(f"{field}.S3InputMode Pipe is not supported; use File.")
    if field == "BatchTransformInput":
        if not given["DataCapturedDestinationS3Uri"].startswith("s3://"):
            raise ValidationError(
                "BatchTransformInput.DataCapturedDestinationS3Uri must be the s3:// URI the transform jobs' "
                "DataCaptureConfig.DestinationS3Uri names."
            )
        dataset_format(given)
    try:
        offsets({"ScheduleExpression": "cron(0 * ? * * *)"}, given)
    except ScheduleError as exc:
        raise ValidationError(str(exc)) from None
    outputs = definition["MonitoringOutputConfig"]["MonitoringOutputs"]
    if len(outputs) != 1:
        raise ValidationError(f"A monitoring job writes exactly one MonitoringOutput; this one has {len(outputs)}.")
    target = outputs[0]["S3Output"]
    if not target["S3Uri"].startswith("s3://"):
        raise ValidationError(f"MonitoringOutput S3Uri {target['S3Uri']!r} must be an s3:// URI.")
    _under_root(target["LocalPath"], "S3Output.LocalPath")
    cluster = definition["MonitoringResources"]["ClusterConfig"]
    if cluster["InstanceCount"] != 1:
        raise ValidationError(
            f"The monitoring job asks for {cluster['InstanceCount']} instances; homeport runs it on one "
            "(InstanceCount 1)."
        )
    app = definition["MonitoringAppSpecification"]
    if not is_analyzer(app["ImageUri"]) and not app.get("ContainerEntrypoint"):
        raise ValidationError(
            f"The image {app['ImageUri']} is not Model Monitor's analyzer (sagemaker-model-monitor-analyzer), and "
            "homeport cannot know another image's entry point: give its ContainerEntrypoint."
        )
    for key in ("RecordPreprocessorSourceUri", "PostAnalyticsProcessorSourceUri"):
        if app.get(key):
            raise ValidationError(f"MonitoringAppSpecification.{key} is not supported yet: leave it out.")
    for key in ("ConstraintsResource", "StatisticsResource"):
        uri = definition.get("BaselineConfig", {}).get(key, {}).get("S3Uri")
        if uri is not None and not uri.startswith("s3://"):
            raise ValidationError(f"BaselineConfig.{key}.S3Uri {uri!r} must be an s3:// URI.")
    ground_truth = definition.get("GroundTruthS3Input", {}).get("S3Uri")
    if "GroundTruthS3Input" in definition and not (ground_truth or "").startswith("s3://"):
        raise ValidationError("GroundTruthS3Input.S3Uri must be the s3:// URI your ground truth labels are under.")
    runtime = definition.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_S)
    if not 1 <= runtime <= 86_400:
        raise ValidationError("StoppingCondition.MaxRuntimeInSeconds must be between 1 and 86400.")


def _under_root(path: str, what: str) -> None:
    if not path.startswith(PROCESSING_ROOT) or ".." in path.split("/"):
        raise ValidationError(f"{what} {path!r} must be a path under {PROCESSING_ROOT}.")
