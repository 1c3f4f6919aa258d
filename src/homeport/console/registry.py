"""The model registry: package groups, each group's versions with their approval status, and Approve / Reject
(UpdateModelPackage, as Studio's buttons call it)."""

from __future__ import annotations

import urllib.parse
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from homeport.console.context import Console
from homeport.console.pages import attempt, change_form, failure, newest_first, render, signed_in
from homeport.console.session import Viewer

PAGE_SIZE = 100
DECISIONS = {"approve": "Approved", "reject": "Rejected"}


def routes() -> list[Route]:
    return [
        Route("/console/registry", signed_in(_groups)),
        Route("/console/registry/{group}", signed_in(_versions)),
        Route("/console/registry/{group}/{version:int}/{decision}", signed_in(_decide), methods=["POST"]),
    ]


def group_path(group: str) -> str:
    return f"/console/registry/{urllib.parse.quote(group, safe='')}"


async def _groups(request: Request, console: Console, who: Viewer) -> Response:
    params = newest_first(request, PAGE_SIZE)
    reply, error = attempt(console, "sagemaker", "ListModelPackageGroups", params)
    groups = reply.get("ModelPackageGroupSummaryList", [])
    return render(request, "registry.html", who=who, groups=groups, next=reply.get("NextToken"), error=error)


async def _versions(request: Request, console: Console, who: Viewer) -> Response:
    group = request.path_params["group"]
    described, error = attempt(console, "sagemaker", "DescribeModelPackageGroup", {"ModelPackageGroupName": group})
    if error is not None:
        return failure(request, who, 404, "No such model package group", error)
    return render(
        request,
        "registry_group.html",
        who=who,
        group=described,
        versions=versions_of(console, group),
        path=group_path(group),
    )


def versions_of(console: Console, group: str) -> list[dict[str, Any]]:
    """The group's versions, newest first, each described (its metrics, its inference image)."""
    listed, _ = attempt(
        console,
        "sagemaker",
        "ListModelPackages",
        {"ModelPackageGroupName": group, "SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": PAGE_SIZE},
    )
    found = []
    for summary in listed.get("ModelPackageSummaryList", []):
        doc, _ = attempt(console, "sagemaker", "DescribeModelPackage", {"ModelPackageName": summary["ModelPackageArn"]})
        containers = (doc.get("InferenceSpecification") or {}).get("Containers", [])
        found.append({**summary, **doc, "image": containers[0].get("Image", "") if containers else ""})
    return found


def version_arn(console: Console, group: str, version: int) -> str | None:
    """The version's ARN, derived from its group's (`model-package-group/G` → `model-package/G/V`) whatever the
    group's size, or None when the group or the version does not exist."""
    described, error = attempt(console, "sagemaker", "DescribeModelPackageGroup", {"ModelPackageGroupName": group})
    if error is not None:
        return None
    arn = str(described["ModelPackageGroupArn"]).replace(":model-package-group/", ":model-package/") + f"/{version}"
    _, missing = attempt(console, "sagemaker", "DescribeModelPackage", {"ModelPackageName": arn})
    return None if missing else arn


async def _decide(request: Request, console: Console, who: Viewer) -> Response:
    group, version, decision = (request.path_params[k] for k in ("group", "version", "decision"))
    form = await change_form(request, who)
    if isinstance(form, Response):
        return form
    if decision not in DECISIONS:
        return failure(request, who, 404, "No such decision", "A version is approved or rejected.")
    package = version_arn(console, group, version)
    if package is None:
        return failure(request, who, 404, "No such version", f"Group {group} has no version {version}.")
    params = {"ModelPackageArn": package, "ModelApprovalStatus": DECISIONS[decision]}
    if note := form.get("description", "").strip():
        params["ApprovalDescription"] = note
    _, error = attempt(console, "sagemaker", "UpdateModelPackage", params)
    if error is not None:
        return failure(request, who, 400, "Could not change the version's approval", error)
    return RedirectResponse(group_path(group), status_code=303)
