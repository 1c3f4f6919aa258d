"""CreateModelPackageGroup, Describe…, List…, Delete…: the model registry's groups, each holding the numbered
versions of one model (`services/model_packages.py`)."""

from __future__ import annotations

from typing import Any

from homeport.core.arns import arn
from homeport.errors import ValidationError
from homeport.services import listing
from homeport.services.context import Context, insert_new, public
from homeport.store import Kind

SUMMARY = (
    "ModelPackageGroupName",
    "ModelPackageGroupArn",
    "ModelPackageGroupDescription",
    "CreationTime",
    "ModelPackageGroupStatus",
)


class ModelPackageGroupService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["ModelPackageGroupName"]
        group_arn = arn(self.ctx.settings, "model-package-group", name)
        doc = {
            "ModelPackageGroupName": name,
            "ModelPackageGroupArn": group_arn,
            "CreationTime": self.ctx.clock.now(),
            "CreatedBy": {},
            "ModelPackageGroupStatus": "Completed",
            "_versions": 0,  # the last version given: numbers are never reused, even after a delete
        }
        if "ModelPackageGroupDescription" in params:
            doc["ModelPackageGroupDescription"] = params["ModelPackageGroupDescription"]
        with self.ctx.store.transaction() as conn:
            insert_new(
                self.ctx,
                conn,
                Kind.MODEL_PACKAGE_GROUP,
                doc,
                name=name.lower(),
                arn=group_arn,
                label="model package group",
                tags=params.get("Tags", []),
                status="Completed",
            )
        return {"ModelPackageGroupArn": group_arn}

    def get(self, conn: Any, name_or_arn: str) -> dict[str, Any]:
        name = name_or_arn.rsplit(":model-package-group/", 1)[-1]
        doc = self.ctx.store.get(conn, Kind.MODEL_PACKAGE_GROUP, name.lower())
        if doc is None:
            raise ValidationError(
                f"Model Package Group {arn(self.ctx.settings, 'model-package-group', name)} does not exist."
            )
        return doc

    def describe(self, name: str) -> dict[str, Any]:
        with self.ctx.store.reading() as conn:
            return public(self.get(conn, name))

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.store.reading() as conn:
            docs = self.ctx.store.all(conn, Kind.MODEL_PACKAGE_GROUP)
        summaries = [{k: d[k] for k in SUMMARY if k in d} for d in docs]
        return listing.filtered_reply(summaries, params, "ModelPackageGroupSummaryList", "ModelPackageGroupName")

    def delete(self, name: str) -> dict[str, Any]:
        store = self.ctx.store
        with store.transaction() as conn:
            doc = self.get(conn, name)
            group = doc["ModelPackageGroupName"]
            if any(p.get("ModelPackageGroupName") == group for p in store.all(conn, Kind.MODEL_PACKAGE)):
                raise ValidationError(
                    f"Model Package Group {group} still holds model packages; delete them (DeleteModelPackage) first."
                )
            store.delete(conn, Kind.MODEL_PACKAGE_GROUP, group.lower())
        return {}
