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
from homeport.services.model_packages import ModelPackageService
from homeport.store import Kind

UNSUPPORTED_CONTAINER_KEYS = ("InferenceSpecificationName", "ModelDataSource")


class ModelService:
    def __init__(self, ctx: Context, packages: ModelPackageService | None = None) -> None:
        self.ctx = ctx
        self.packages = packages

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["ModelName"]
        params = self._from_packages(params)
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

    def _from_packages(self, params: dict[str, Any]) -> dict[str, Any]:
        """The request with each container that names a model package (ModelPackageName) replaced by the package's
        containers: one stays a PrimaryContainer, several become Containers."""
        given = [params["PrimaryContainer"]] if params.get("PrimaryContainer") else list(params.get("Containers") or [])
        if self.packages is None or not any("ModelPackageName" in c for c in given):
            return params
        with self.ctx.store.reading() as conn:
            self._check_approved(conn, given)
            resolved = [
                r for c in given for r in (self.packages.containers(conn, c) if "ModelPackageName" in c else [c])
            ]
        params = {k: v for k, v in params.items() if k not in ("PrimaryContainer", "Containers")}
        if len(resolved) == 1 and len(given) == 1:
            return {**params, "PrimaryContainer": resolved[0]}
        return {**params, "Containers": resolved}

    def deployable_model(self, conn: Any, name: str) -> dict[str, Any]:
        """The model, to deploy now: with HOMEPORT_REQUIRE_APPROVED_MODELS, each model package it was made from must
        be Approved at this moment (an endpoint already serving it keeps serving it)."""
        doc = self.get(conn, name)
        self._check_approved(conn, [doc["PrimaryContainer"]] if doc.get("PrimaryContainer") else doc["Containers"])
        return doc

    def _check_approved(self, conn: Any, containers: list[dict[str, Any]]) -> None:
        if not self.ctx.settings.require_approved_models or self.packages is None:
            return
        for container in containers:
            if "ModelPackageName" not in container:
                continue
            package = self.packages.get(conn, container["ModelPackageName"])
            if package["ModelApprovalStatus"] != "Approved":
                raise ValidationError(
                    f"Model package {package['ModelPackageArn']} is {package['ModelApprovalStatus']}: this server "
                    "deploys only Approved versions (HOMEPORT_REQUIRE_APPROVED_MODELS). Approve it with "
                    "UpdateModelPackage ModelApprovalStatus=Approved first."
                )

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
    if primary and "InferenceExecutionConfig" in params:
        raise ValidationError("InferenceExecutionConfig applies to a model with Containers, not PrimaryContainer.")
    listed = [primary] if primary else list(containers or [])
    for container in listed:
        for key in UNSUPPORTED_CONTAINER_KEYS:
            if key in container:
                raise ValidationError(f"homeport does not support {key} in a container definition yet.")
        if not container.get("Image"):
            raise ValidationError("The container needs an Image; homeport maps it to a built-in runtime.")
        if container.get("Mode", "SingleModel") == "MultiModel":
            if len(listed) > 1:
                raise ValidationError(
                    "homeport does not serve a multi-model container (Mode=MultiModel) inside a multi-container "
                    "model yet; deploy it as a model of its own."
                )
            if not container.get("ModelDataUrl"):
                raise ValidationError(
                    "A multi-model container (Mode=MultiModel) needs ModelDataUrl: the S3 prefix its models are "
                    "under, such as s3://bucket/models/."
                )
        elif "MultiModelConfig" in container:
            raise ValidationError("MultiModelConfig applies only to a container with Mode=MultiModel.")
    _check_hostnames(listed, (params.get("InferenceExecutionConfig") or {}).get("Mode", "Serial"))
    return listed


def _check_hostnames(containers: list[dict[str, Any]], mode: str) -> None:
    names = [c.get("ContainerHostname") for c in containers]
    if mode == "Direct" and not all(names):
        raise ValidationError(
            "InferenceExecutionConfig Mode Direct needs a ContainerHostname on every container: "
            "InvokeEndpoint names the container with TargetContainerHostname."
        )
    if any(names) and not all(names):
        raise ValidationError("Give every container a ContainerHostname, or none of them.")
    seen = [n for n in names if n]
    if len(set(seen)) != len(seen):
        raise ValidationError("Each container of a model needs its own ContainerHostname.")


def hostnames(model: dict[str, Any]) -> list[str]:
    """Each container's hostname: its ContainerHostname, else `container-N` by position."""
    containers = [model["PrimaryContainer"]] if model.get("PrimaryContainer") else model["Containers"]
    return [c.get("ContainerHostname") or f"container-{i}" for i, c in enumerate(containers, 1)]


def deployable(model: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """What an instance of the model runs, and its runtime: the container (its image, data, environment and
    mode); for several containers, the first one's image with all of them under `Pipeline` and the
    `ExecutionMode`."""
    keys = ("Image", "ModelDataUrl", "Environment", "Mode", "MultiModelConfig")
    containers = [model["PrimaryContainer"]] if model.get("PrimaryContainer") else model["Containers"]
    runtime = images.runtime_for(containers[0]["Image"]).value
    if len(containers) == 1:
        return {k: containers[0][k] for k in keys if k in containers[0]}, runtime
    pipeline = [
        {
            "Hostname": hostname,
            "Runtime": images.runtime_for(c["Image"]).value,
            **{k: c[k] for k in ("Image", "ModelDataUrl", "Environment") if k in c},
        }
        for hostname, c in zip(hostnames(model), containers, strict=True)
    ]
    mode = (model.get("InferenceExecutionConfig") or {}).get("Mode", "Serial")
    return {"Image": containers[0]["Image"], "Pipeline": pipeline, "ExecutionMode": mode}, runtime
