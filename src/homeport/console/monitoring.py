"""Model Monitor: the monitoring schedules, and each schedule's executions with, for one of them (the latest that
completed, or the one asked for), every feature's baseline against its current distribution, its drift and the
checks that failed — or, for model quality, each metric against its constraint. The same report `homeport monitor`
prints, read from the files the execution's processing job read and wrote."""

from __future__ import annotations

import functools
import json
import urllib.parse
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from homeport.console.charts import distribution
from homeport.console.context import Console
from homeport.console.pages import attempt, failure, newest_first, render, signed_in
from homeport.console.session import Viewer
from homeport.monitoring.report import FeatureReport, execution_features, execution_metrics, job_files, listed
from homeport.objects.locations import UnreachableObject

PAGE_SIZE = 100
EXECUTIONS = 20
COMPLETED = ("Completed", "CompletedWithViolations")
MAX_REPORT_BYTES = 32 * 1024 * 1024  # a report's file; statistics with their sketches are a few hundred KB


class UnreadableReport(Exception):
    """A report's file that is gone, too large or not JSON: the page says so instead of failing."""


def routes() -> list[Route]:
    return [
        Route("/console/monitoring", signed_in(_schedules)),
        Route("/console/monitoring/{schedule}", signed_in(_schedule)),
    ]


def schedule_path(name: str) -> str:
    return f"/console/monitoring/{urllib.parse.quote(name, safe='')}"


async def _schedules(request: Request, console: Console, who: Viewer) -> Response:
    params = newest_first(request, PAGE_SIZE)
    if endpoint := request.query_params.get("endpoint", "").strip():
        params["EndpointName"] = endpoint
    reply, error = attempt(console, "sagemaker", "ListMonitoringSchedules", params)
    return render(
        request,
        "monitoring.html",
        who=who,
        schedules=reply.get("MonitoringScheduleSummaries", []),
        next=reply.get("NextToken"),
        endpoint=endpoint,
        error=error,
    )


async def _schedule(request: Request, console: Console, who: Viewer) -> Response:
    name = request.path_params["schedule"]
    schedule, error = attempt(console, "sagemaker", "DescribeMonitoringSchedule", {"MonitoringScheduleName": name})
    if error is not None:
        return failure(request, who, 404, "No such monitoring schedule", error)
    listed, _ = attempt(
        console,
        "sagemaker",
        "ListMonitoringExecutions",
        {
            "MonitoringScheduleName": name,
            "SortBy": "ScheduledTime",
            "SortOrder": "Descending",
            "MaxResults": EXECUTIONS,
        },
    )
    executions = [{**e, "job": _job_name(e)} for e in listed.get("MonitoringExecutionSummaries", [])]
    asked = request.query_params.get("execution")
    if asked is not None:
        shown = next((e for e in executions if e["job"] == asked), None)
        if shown is None:
            message = f"Schedule {name} has no recent execution run by processing job {asked}."
            return failure(request, who, 404, "No such execution", message)
    else:
        shown = next((e for e in executions if e["MonitoringExecutionStatus"] in COMPLETED), None)
    return render(
        request,
        "monitoring_schedule.html",
        who=who,
        schedule=schedule,
        expression=schedule["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"],
        executions=executions,
        shown=shown,
        path=schedule_path(name),
        **(report_view(console, shown) if shown and shown["MonitoringExecutionStatus"] in COMPLETED else {}),
    )


def report_view(console: Console, execution: dict[str, Any]) -> dict[str, Any]:
    """What the execution's report shows: its features (data quality) or metrics (model quality) and the violations,
    or why they could not be read."""
    job, error = attempt(console, "sagemaker", "DescribeProcessingJob", {"ProcessingJobName": execution["job"]})
    if error is not None:
        return {"report_error": error}
    read = functools.cache(lambda uri: _read_json(console, uri))
    try:
        violations = listed(read(f"{job_files(job)[1]}/constraint_violations.json"))
        if execution.get("MonitoringType") == "ModelQuality":
            return {"metrics": execution_metrics(job, read), "violations": violations}
        features = execution_features(job, read)
    except UnreadableReport as exc:
        return {"report_error": str(exc)}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # files a custom image wrote otherwise
        return {"report_error": f"The report is not in Model Monitor's format ({type(exc).__name__}: {exc})."}
    return {"features": [_feature_row(f) for f in features], "violations": violations}


def _feature_row(f: FeatureReport) -> dict[str, Any]:
    numeric = f.kind != "String" and bool(f.current_shares)
    outside = 1 - sum(f.current_shares) if numeric else 0.0
    return {
        "report": f,
        "drifted": f.drift is not None and f.drift > f.threshold,
        "outside": outside if outside > 0.005 else None,  # what lies beyond the baseline's buckets
        "chart": distribution(f"{f.name}: baseline and current", f.labels, f.baseline_shares, f.current_shares),
    }


def _read_json(console: Console, uri: str) -> dict[str, Any]:
    try:
        with console.objects.open(uri) as stream:
            data = stream.read(MAX_REPORT_BYTES + 1)
    except (UnreachableObject, OSError, ValueError) as exc:
        raise UnreadableReport(f"Could not read {uri}: {exc}") from exc
    if len(data) > MAX_REPORT_BYTES:
        raise UnreadableReport(f"{uri} is over {MAX_REPORT_BYTES // 2**20} MiB: read it with `homeport monitor`.")
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise UnreadableReport(f"{uri} is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise UnreadableReport(f"{uri} is not a JSON object.")
    return document


def _job_name(execution: dict[str, Any]) -> str:
    return str(execution.get("ProcessingJobArn", "")).rsplit("/", 1)[-1]
