"""CreateTransformJob, DescribeTransformJob, ListTransformJobs, StopTransformJob.

The service checks the request, records the job (with the model's container copied in, so deleting the model
later changes nothing) and wakes the transform runner, which does the work and moves the status on.
"""

from __future__ import annotations

from typing import Any

from homeport.batch.capture import CaptureError, output_format
from homeport.batch.dataprocessing import DataProcessing, DataProcessingError
from homeport.core.arns import arn
from homeport.core.states import TRANSFORM_JOB_ENDED, TransformJobStatus, move
from homeport.errors import ResourceInUse, ResourceLimitExceeded, ResourceNotFound, ValidationError
from homeport.services import events, listing
from homeport.services.context import Context, public
from homeport.services.endpoint_configs import check_capture_destination
from homeport.services.models import ModelService, deployable
from homeport.store import Kind
from homeport.store import transform_progress as progress
from homeport.store.db import Duplicate

MAX_PAYLOAD_MB = 100
MAX_PAYLOAD_TIMES_CONCURRENCY_MB = 100  # MaxConcurrentTransforms x MaxPayloadInMB [BC-SM]
SUMMARY_FIELDS = (
    "TransformJobName",
    "TransformJobArn",
    "CreationTime",
    "TransformEndTime",
    "LastModifiedTime",
    "TransformJobStatus",
    "FailureReason",
)


class TransformJobService:
    def __init__(self, ctx: Context, models: ModelService) -> None:
        self.ctx = ctx
        self.models = models

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TransformJobName"]
        job_arn = arn(self.ctx.settings, "transform-job", name)
        check_request(params, self.ctx.settings.max_instances_per_variant)
        store = self.ctx.store
        now = self.ctx.clock.now()
        with store.transaction() as conn:
            model = self.models.deployable_model(conn, params["ModelName"])
            container, runtime = deployable(model)
            if container.get("Mode") == "MultiModel":
                raise ValidationError(
                    f"Model {params['ModelName']} is a multi-model container (Mode=MultiModel); batch transform "
                    "runs a single model: create a model whose ModelDataUrl is that model's archive."
                )
            doc: dict[str, Any] = {
                "TransformJobName": name,
                "TransformJobArn": job_arn,
                "TransformJobStatus": TransformJobStatus.IN_PROGRESS.value,
                "ModelName": params["ModelName"],
                **{
                    k: params[k]
                    for k in (
                        "MaxConcurrentTransforms",
                        "ModelClientConfig",
                        "MaxPayloadInMB",
                        "BatchStrategy",
                        "Environment",
                        "TransformOutput",
                        "TransformResources",
                        "DataProcessing",
                        "DataCaptureConfig",
                        "ExperimentConfig",
                    )
                    if k in params
                },
                "TransformInput": {"CompressionType": "None", "SplitType": "None", **params["TransformInput"]},
                "CreationTime": now,
                "LastModifiedTime": now,
                "_container": container,
                "_runtime": runtime,
            }
            try:
                store.insert(conn, Kind.TRANSFORM_JOB, doc, name=name, arn=job_arn, status=doc["TransformJobStatus"])
            except Duplicate:
                raise ResourceInUse(
                    f"Transform job names must be unique within an AWS account and region, and a transform job "
                    f'with the name "{name}" already exists ({job_arn}). Choose another TransformJobName.'
                ) from None
            store.put_tags(conn, job_arn, params.get("Tags", []))
            events.transform_job(conn, self.ctx.settings, doc, now)
        self.ctx.wake()
        return {"TransformJobArn": job_arn}

    def get(self, conn: Any, name: str) -> dict[str, Any]:
        doc = self.ctx.store.get(conn, Kind.TRANSFORM_JOB, name)
        if doc is None:
            raise ResourceNotFound(f"Could not find requested job with name {name}.")
        return doc

    def describe(self, name: str) -> dict[str, Any]:
        with self.ctx.store.reading() as conn:
            doc = public(self.get(conn, name))
            # homeport's own field (boto3 ignores it): what the runner has recorded, for `homeport jobs watch`.
            doc["HomeportProgress"] = progress.progress(conn, name).to_json()
        doc.pop("LastModifiedTime", None)  # not part of DescribeTransformJob's reply
        return doc

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        return listing.list_reply(
            self.ctx.store, Kind.TRANSFORM_JOB, params, "TransformJobSummaries", SUMMARY_FIELDS, "StatusEquals"
        )

    def stop(self, name: str) -> dict[str, Any]:
        store = self.ctx.store
        with store.transaction() as conn:
            doc = self.get(conn, name)
            status = TransformJobStatus(doc["TransformJobStatus"])
            if status in TRANSFORM_JOB_ENDED:
                raise ValidationError(
                    f"The transform job {name} has already ended ({status.value}); only a job that is "
                    "InProgress can be stopped."
                )
            if status is TransformJobStatus.IN_PROGRESS:
                move(doc, "TransformJobStatus", TransformJobStatus.STOPPING)
                now = doc["LastModifiedTime"] = self.ctx.clock.now()
                store.replace(conn, Kind.TRANSFORM_JOB, name, doc, status=doc["TransformJobStatus"])
                events.transform_job(conn, self.ctx.settings, doc, now)
        self.ctx.wake()
        return {}


def check_request(params: dict[str, Any], max_instances: int) -> None:
    """The rules CreateTransformJob enforces beyond the service model's shapes."""
    source = params["TransformInput"]["DataSource"]["S3DataSource"]
    if source["S3DataType"] == "AugmentedManifestFile":
        raise ValidationError(
            "S3DataType AugmentedManifestFile is not supported by batch transform; use S3Prefix or ManifestFile."
        )
    payload, concurrency = params.get("MaxPayloadInMB"), params.get("MaxConcurrentTransforms")
    if payload is not None and payload > MAX_PAYLOAD_MB:
        raise ValidationError(
            f"MaxPayloadInMB is {payload}; it must be at most {MAX_PAYLOAD_MB} (or 0 for no limit, sent chunked)."
        )
    if payload and concurrency and payload * concurrency > MAX_PAYLOAD_TIMES_CONCURRENCY_MB:
        raise ValidationError(
            f"MaxConcurrentTransforms ({concurrency}) x MaxPayloadInMB ({payload}) is {concurrency * payload} MB; "
            f"it must be at most {MAX_PAYLOAD_TIMES_CONCURRENCY_MB} MB. Lower one of them."
        )
    count = params["TransformResources"]["InstanceCount"]
    if count > max_instances:
        raise ResourceLimitExceeded(
            f"TransformResources.InstanceCount is {count}; this server allows at most {max_instances} "
            "instances per job (HOMEPORT_MAX_INSTANCES_PER_VARIANT)."
        )
    transform_input, output = params["TransformInput"], params["TransformOutput"]
    capture = params.get("DataCaptureConfig")
    if capture is not None:
        check_capture_destination(capture["DestinationS3Uri"])
        if capture.get("GenerateInferenceId"):
            try:
                output_format(output.get("Accept"))
            except CaptureError as exc:
                raise ValidationError(str(exc)) from None
    if not output["S3OutputPath"].startswith("s3://"):
        # Inputs may be local paths (as ModelDataUrl may); outputs may not, so a client cannot write files outside
        # the object store.
        raise ValidationError(
            f"S3OutputPath must be an s3:// URI (homeport's object store or the configured S3 store), not "
            f"{output['S3OutputPath']!r}."
        )
    split = transform_input.get("SplitType", "None")
    try:
        DataProcessing.from_request(
            params.get("DataProcessing"),
            transform_input.get("ContentType"),
            output.get("Accept"),
            split,
            output.get("AssembleWith", "None"),
        )
    except DataProcessingError as exc:
        raise ValidationError(str(exc)) from None
    if params.get("DataProcessing") and split not in ("Line", "None"):
        raise ValidationError(
            f"DataProcessing filters and joins work on CSV and JSON records; SplitType {split} frames binary "
            "records. Use SplitType Line (or None), or leave DataProcessing out."
        )
