"""CreateModel, DescribeModel, ListModels, DeleteModel."""

from __future__ import annotations

from typing import Any

from homeport.core.arns import arn
from homeport.errors import ValidationError
from homeport.objects import archives as artifacts
from homeport.objects.locations import UnreachableObject
from homeport.runtime import images
from homeport.services import listing
from homeport.services.context import Context, insert_new, public
from homeport.store import Kind

UNSUPPORTED_CONTAINER_KEYS = ("ModelPackageName", "InferenceSpecificationName", "ModelDataSource")


class ModelService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["ModelName"]
        containers = _containers(params)
        for container in containers:
            images.runtime_for(container.get("Image", ""))
            url = container.get("ModelDataUrl")
            if url and container.get("Mode") != "MultiModel":  # a prefix: its models are fetched when invoked
                try:
                    where = self.ctx.objects.locate(url)
                    artifacts.check_exists(where.url, where.storage_options)
                except UnreachableObject as exc:
                    raise ValidationError(f"Could not access model data at {exc}") from None
                except artifacts.ArtifactError as exc:
                    raise ValidationError(str(exc)) from exc
        model_arn = arn(self.ctx.settings, "model", name)
        now = self.ctx.clock.now()
        doc: dict[str, Any] = {"ModelName": name}
        for key in (
            "PrimaryContainer",
            "Containers",
            "InferenceExecutionConfig",
            "ExecutionRoleArn",
            "VpcConfig",
            "EnableNetworkIsolation",
        ):
            if key in params:
                doc[key] = params[key]
        doc.update(
            CreationTime=now, ModelArn=model_arn, EnableNetworkIsolation=params.get("EnableNetworkIsolation", False)
        )
        store = self.ctx.store
        with store.transaction() as conn:
            insert_new(
                self.ctx, conn, Kind.MODEL, doc, name=name, arn=model_arn, label="model", tags=params.get("Tags", [])
            )
        return {"ModelArn": model_arn}

    def get(self, conn: Any, name: str) -> dict[str, Any]:
        doc = self.ctx.store.get(conn, Kind.MODEL, name)
        if doc is None:
            raise ValidationError(f'Could not find model "{arn(self.ctx.settings, "model", name)}".')
        return doc

    def describe(self, name: str) -> dict[str, Any]:
        with self.ctx.store.reading() as conn:
            return public(self.get(conn, name))

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        return listing.list_reply(
            self.ctx.store, Kind.MODEL, params, "Models", ("ModelName", "ModelArn", "CreationTime")
        )

    def delete(self, name: str) -> dict[str, Any]:
        # SageMaker lets a model be deleted while endpoints use it: they keep running their instances.
        with self.ctx.store.transaction() as conn:
            self.get(conn, name)
            self.ctx.store.delete(conn, Kind.MODEL, name)
        return {}


def _containers(params: dict[str, Any]) -> list[dict[str, Any]]:
    primary = params.get("PrimaryContainer")
    containers = params.get("Containers")
    if primary and containers:
        raise ValidationError("Specify either PrimaryContainer or Containers, not both.")
    if not primary and not containers:
        raise ValidationError("A model needs a container: specify PrimaryContainer or Containers.")
    listed = [primary] if primary else list(containers or [])
    if len(listed) > 1:
        raise ValidationError(
            "homeport serves one container per model so far; multi-container models and serial "
            "inference pipelines are not supported yet. Pass a single container."
        )
    for container in listed:
        for key in UNSUPPORTED_CONTAINER_KEYS:
            if key in container:
                raise ValidationError(f"homeport does not support {key} in a container definition yet.")
        if not container.get("Image"):
            raise ValidationError("The container needs an Image; homeport maps it to a built-in runtime.")
        if container.get("Mode", "SingleModel") == "MultiModel":
            if not container.get("ModelDataUrl"):
                raise ValidationError(
                    "A multi-model container (Mode=MultiModel) needs ModelDataUrl: the S3 prefix its models are "
                    "under, such as s3://bucket/models/."
                )
        elif "MultiModelConfig" in container:
            raise ValidationError("MultiModelConfig applies only to a container with Mode=MultiModel.")
    return listed


def primary_container(model: dict[str, Any]) -> dict[str, Any]:
    return model.get("PrimaryContainer") or model["Containers"][0]
