"""CreateModelPackage, Describe…, List…, Update…, Delete…: the model registry's versions.

A package created in a group (`ModelPackageGroupName`) is that group's next version, numbered from 1 and never
reused, with the ARN `model-package/<group>/<version>`; one created with a `ModelPackageName` is unversioned. A
package holds what to deploy (`InferenceSpecification`), where its quality reports are (`ModelMetrics`,
`DriftCheckBaselines`), and its approval (`ModelApprovalStatus`, PendingManualApproval unless given). CreateModel
takes a package where it takes a container (`ModelPackageName`): the model gets the package's containers.
"""

from __future__ import annotations

from typing import Any

from homeport.core.arns import arn
from homeport.errors import ValidationError
from homeport.services import events, listing
from homeport.services.context import Context, insert_new, public
from homeport.services.model_package_groups import ModelPackageGroupService
from homeport.store import Kind

KIND = Kind.MODEL_PACKAGE
APPROVALS = ("Approved", "Rejected", "PendingManualApproval")
KEPT = (
    "ModelPackageDescription",
    "InferenceSpecification",
    "SourceAlgorithmSpecification",
    "ValidationSpecification",
    "ModelMetrics",
    "MetadataProperties",
    "CustomerMetadataProperties",
    "DriftCheckBaselines",
    "Domain",
    "Task",
    "SamplePayloadUrl",
    "AdditionalInferenceSpecifications",
    "SkipModelValidation",
    "SourceUri",
    "ModelCard",
    "ModelLifeCycle",
    "ModelPackageRegistrationType",
)
SUMMARY = (
    "ModelPackageName",
    "ModelPackageGroupName",
    "ModelPackageVersion",
    "ModelPackageArn",
    "ModelPackageDescription",
    "CreationTime",
    "ModelPackageStatus",
    "ModelApprovalStatus",
    "ModelLifeCycle",
    "ModelPackageRegistrationType",
)
UPDATABLE = (
    "ApprovalDescription",
    "InferenceSpecification",
    "SourceUri",
    "ModelCard",
    "ModelLifeCycle",
    "ModelPackageRegistrationType",
)


class ModelPackageService:
    def __init__(self, ctx: Context, groups: ModelPackageGroupService) -> None:
        self.ctx = ctx
        self.groups = groups

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        group_name, name = params.get("ModelPackageGroupName"), params.get("ModelPackageName")
        if (group_name is None) == (name is None):
            raise ValidationError(
                "Give ModelPackageGroupName (a new version in that group) or ModelPackageName (an unversioned "
                "package), not both."
            )
        if group_name is not None and "Tags" in params:
            raise ValidationError("A versioned model package takes its group's tags: leave Tags out.")
        spec = params.get("InferenceSpecification")
        if spec is None:
            raise ValidationError("InferenceSpecification is required: the containers that serve this model.")
        self._check_spec(spec)
        approval = params.get("ModelApprovalStatus", "PendingManualApproval")
        now = self.ctx.clock.now()
        store = self.ctx.store
        with store.transaction() as conn:
            token = params.get("ClientToken")
            if token:  # the same request again: the package it made
                for existing in store.all(conn, KIND):
                    if existing.get("_token") == token:
                        return {"ModelPackageArn": existing["ModelPackageArn"]}
            doc: dict[str, Any] = {k: params[k] for k in KEPT if k in params}
            tags = params.get("Tags", [])
            if group_name is not None:
                group = self.groups.get(conn, group_name)
                version = group["_versions"] + 1
                group["_versions"] = version
                store.replace(conn, Kind.MODEL_PACKAGE_GROUP, group["ModelPackageGroupName"].lower(), group)
                name = group["ModelPackageGroupName"]
                key = f"{name.lower()}/{version}"
                doc.update(ModelPackageGroupName=name, ModelPackageVersion=version)
                tags = store.get_tags(conn, group["ModelPackageGroupArn"])  # a version takes its group's tags
            else:
                assert name is not None
                key = name.lower()
            package_arn = arn(self.ctx.settings, "model-package", key)
            doc.update(
                ModelPackageName=name,
                ModelPackageArn=package_arn,
                CreationTime=now,
                LastModifiedTime=now,
                ModelPackageStatus="Completed",
                ModelPackageStatusDetails={"ValidationStatuses": [], "ImageScanStatuses": []},
                CertifyForMarketplace=bool(params.get("CertifyForMarketplace", False)),
                ModelApprovalStatus=approval,
                CreatedBy={},
                _token=token,
            )
            insert_new(
                self.ctx,
                conn,
                KIND,
                doc,
                name=key,
                arn=package_arn,
                label="model package",
                tags=tags,
                status="Completed",
            )
            events.model_package(conn, self.ctx.settings, doc, now)
        self.ctx.wake()  # the notifier, for the event
        return {"ModelPackageArn": package_arn}

    def _check_spec(self, spec: dict[str, Any]) -> None:
        for container in spec.get("Containers", []):
            if not container.get("Image"):
                raise ValidationError("Each InferenceSpecification container needs an Image.")

    def get(self, conn: Any, name_or_arn: str) -> dict[str, Any]:
        """A package by its ARN, or an unversioned one by its name."""
        key = name_or_arn.rsplit(":model-package/", 1)[-1].lower()
        doc = self.ctx.store.get(conn, KIND, key)
        if doc is None:
            raise ValidationError(f"Model Package {arn(self.ctx.settings, 'model-package', key)} does not exist.")
        return doc

    def describe(self, name: str) -> dict[str, Any]:
        with self.ctx.store.reading() as conn:
            return public(self.get(conn, name))

    def containers(self, conn: Any, container: dict[str, Any]) -> list[dict[str, Any]]:
        """A model's container that names a package, as the package's containers (the container's own Environment
        over theirs)."""
        package = self.get(conn, container["ModelPackageName"])
        found = []
        for given in package.get("InferenceSpecification", {}).get("Containers", []):
            resolved = {
                k: given[k] for k in ("Image", "ModelDataUrl", "Environment", "ContainerHostname") if k in given
            }
            environment = {**given.get("Environment", {}), **container.get("Environment", {})}
            if environment:
                resolved["Environment"] = environment
            found.append({"ModelPackageName": package["ModelPackageArn"], **resolved})
        if not found:
            raise ValidationError(f"Model package {package['ModelPackageArn']} has no containers to deploy.")
        return found

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = params.get("ModelPackageGroupName")
        kind = params.get("ModelPackageType", "Versioned" if group else "Unversioned")
        with self.ctx.store.reading() as conn:
            if group is not None:
                group = self.groups.get(conn, group)["ModelPackageGroupName"]
            docs = self.ctx.store.all(conn, KIND)
        kept = [
            d
            for d in docs
            if (group is None or d.get("ModelPackageGroupName") == group)
            and (kind == "Both" or ("ModelPackageVersion" in d) == (kind == "Versioned"))
            and params.get("ModelApprovalStatus", d["ModelApprovalStatus"]) == d["ModelApprovalStatus"]
        ]
        summaries = [{k: d[k] for k in SUMMARY if k in d} for d in kept]
        reply = listing.filtered_reply(
            summaries, {"SortOrder": "Ascending", **params}, "ModelPackageSummaryList", "ModelPackageArn"
        )
        return reply

    def update(self, params: dict[str, Any]) -> dict[str, Any]:
        store = self.ctx.store
        with store.transaction() as conn:
            doc = self.get(conn, params["ModelPackageArn"])
            approval, before = params.get("ModelApprovalStatus"), doc["ModelApprovalStatus"]
            if approval is not None:
                doc["ModelApprovalStatus"] = approval
            for key in UPDATABLE:
                if key in params:
                    doc[key] = params[key]
            if "InferenceSpecification" in params:
                self._check_spec(params["InferenceSpecification"])
            properties = dict(doc.get("CustomerMetadataProperties", {}))
            properties.update(params.get("CustomerMetadataProperties", {}))
            for key in params.get("CustomerMetadataPropertiesToRemove", []):
                properties.pop(key, None)
            if properties:
                doc["CustomerMetadataProperties"] = properties
            else:
                doc.pop("CustomerMetadataProperties", None)
            additional = params.get("AdditionalInferenceSpecificationsToAdd", [])
            if additional:
                doc["AdditionalInferenceSpecifications"] = [
                    *doc.get("AdditionalInferenceSpecifications", []),
                    *additional,
                ]
            now = doc["LastModifiedTime"] = self.ctx.clock.now()
            store.replace(conn, KIND, doc["ModelPackageArn"].rsplit(":model-package/", 1)[1], doc, status="Completed")
            if approval is not None and approval != before:
                events.model_package(conn, self.ctx.settings, doc, now)
        self.ctx.wake()
        return {"ModelPackageArn": doc["ModelPackageArn"]}

    def delete(self, name: str) -> dict[str, Any]:
        store = self.ctx.store
        with store.transaction() as conn:
            doc = self.get(conn, name)
            store.delete(conn, KIND, doc["ModelPackageArn"].rsplit(":model-package/", 1)[1])
        return {}
