"""Batch transform jobs: the list with each running job's progress (records, bytes, rate, time left), failure
reasons, and Stop."""

from __future__ import annotations

import urllib.parse
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from homeport.console.context import Console
from homeport.console.pages import attempt, change_form, failure, newest_first, render, signed_in
from homeport.console.session import Viewer

PAGE_SIZE = 50
STATUSES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped")


def routes() -> list[Route]:
    return [
        Route("/console/transform-jobs", signed_in(_list)),
        Route("/console/transform-jobs/{name}/stop", signed_in(_stop), methods=["POST"]),
    ]


async def _list(request: Request, console: Console, who: Viewer) -> Response:
    params = newest_first(request, PAGE_SIZE)
    status = request.query_params.get("status", "")
    if status in STATUSES:
        params["StatusEquals"] = status
    reply, error = attempt(console, "sagemaker", "ListTransformJobs", params)
    now = console.clock.now()
    rows = [job_row(console, summary, now) for summary in reply.get("TransformJobSummaries", [])]
    fragment = bool(request.headers.get("hx-request"))
    query = urllib.parse.urlencode({k: v for k, v in request.query_params.items() if k in ("status", "next")})
    return render(
        request,
        "_transform_rows.html" if fragment else "transform_jobs.html",
        who=who,
        jobs=rows,
        next=reply.get("NextToken"),
        status=status,
        statuses=STATUSES,
        error=error,
        query=query,
    )


async def _stop(request: Request, console: Console, who: Viewer) -> Response:
    form = await change_form(request, who)
    if isinstance(form, Response):
        return form
    name = request.path_params["name"]
    _, error = attempt(console, "sagemaker", "StopTransformJob", {"TransformJobName": name})
    if error is not None:
        return failure(request, who, 400, "Could not stop the job", error)
    return RedirectResponse("/console/transform-jobs", status_code=303)


def job_row(console: Console, summary: dict[str, Any], now: float) -> dict[str, Any]:
    """A job's line: a running one's progress comes from its description (HomeportProgress)."""
    row: dict[str, Any] = {**summary, "progress": None}
    if summary["TransformJobStatus"] not in ("InProgress", "Stopping"):
        return row
    doc, error = attempt(
        console, "sagemaker", "DescribeTransformJob", {"TransformJobName": summary["TransformJobName"]}
    )
    progress = doc.get("HomeportProgress")
    if error is not None or not progress:
        return row
    row["progress"] = progress_of(progress, doc.get("TransformStartTime"), now)
    return row


def progress_of(progress: dict[str, int], started: float | None, now: float) -> dict[str, Any]:
    total, done = progress.get("BytesTotal", 0), progress.get("BytesDone", 0)
    elapsed = max(now - started, 1e-3) if started else None
    rate = done / elapsed if elapsed else 0.0
    left = (total - done) / rate if rate > 0 and total >= done else None
    return {
        "percent": 100.0 * done / total if total else 0.0,
        "records": progress.get("RecordsDone", 0),
        "bytes": f"{_size(done)} of {_size(total)}",
        "files": f"{progress.get('FilesDone', 0)} of {progress.get('Files', 0)} files",
        "rate": f"{_size(rate)}/s" if elapsed else "",
        "left": "" if left is None else f"{left:.0f} s left",
    }


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
