"""`homeport registry [GROUP]`: the model registry's groups with their newest version and its approval; for one
group, every version with its approval, description and metrics' locations."""

from __future__ import annotations

import argparse
from typing import Any

from homeport.cli.output import print_json, when
from homeport.cli.scaling import Clients


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("group", nargs="?", help="a model package group: its versions")


def cmd_registry(args: argparse.Namespace, clients: Clients) -> int:
    from rich.console import Console
    from rich.table import Table

    sm = clients("sagemaker")
    if args.group:
        versions = _all(sm, "list_model_packages", "ModelPackageSummaryList", ModelPackageGroupName=args.group)
        described = [sm.describe_model_package(ModelPackageName=v["ModelPackageArn"]) for v in versions]
        if args.json:
            print_json(described)
            return 0
        table = Table(title=f"{args.group}: {len(described)} version(s)")
        for column in ("Version", "Approval", "Created", "Description", "Metrics"):
            table.add_column(column)
        for v in described:
            table.add_row(
                str(v.get("ModelPackageVersion", "")),
                _approval(v["ModelApprovalStatus"]),
                when(v["CreationTime"]),
                v.get("ModelPackageDescription", ""),
                "\n".join(_metrics(v.get("ModelMetrics", {}))),
            )
        Console().print(table)
        return 0
    groups = _all(sm, "list_model_package_groups", "ModelPackageGroupSummaryList", SortBy="Name", SortOrder="Ascending")
    rows = []
    for g in groups:
        newest = sm.list_model_packages(
            ModelPackageGroupName=g["ModelPackageGroupName"],
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=1,
        )["ModelPackageSummaryList"]
        rows.append({**g, "Newest": newest[0] if newest else None})
    if args.json:
        print_json(rows)
        return 0
    table = Table(title=f"{len(rows)} model package group(s)")
    for column in ("Group", "Newest version", "Its approval", "Created", "Description"):
        table.add_column(column)
    for r in rows:
        newest = r["Newest"]
        table.add_row(
            r["ModelPackageGroupName"],
            str(newest["ModelPackageVersion"]) if newest else "",
            _approval(newest["ModelApprovalStatus"]) if newest else "",
            when(r["CreationTime"]),
            r.get("ModelPackageGroupDescription", ""),
        )
    Console().print(table)
    return 0


def _all(sm: Any, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in sm.get_paginator(operation).paginate(**params):
        found += page[key]
    return found


def _approval(status: str) -> str:
    style = {"Approved": "green", "Rejected": "red"}.get(status)
    return f"[{style}]{status}[/]" if style else status


def _metrics(metrics: dict[str, Any]) -> list[str]:
    """Each report the version points at: `ModelQuality.Statistics s3://…`."""
    return [
        f"{kind}.{name} {source['S3Uri']}"
        for kind, sources in metrics.items()
        for name, source in sources.items()
        if isinstance(source, dict) and "S3Uri" in source
    ]
