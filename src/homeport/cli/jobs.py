"""`homeport jobs`: list transform jobs, watch one with a live progress bar, stop one.

Progress comes from what the server records per finished range (`HomeportProgress` in DescribeTransformJob's
reply, a field of homeport's own that boto3's parser drops, so it is read from the raw reply).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ENDED = ("Completed", "Failed", "Stopped")


@dataclass(frozen=True)
class Snapshot:
    status: str
    records: int
    bytes_done: int
    bytes_total: int
    files: int
    files_done: int
    files_failed: int
    failure: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "TransformJobStatus": self.status,
            "RecordsDone": self.records,
            "BytesDone": self.bytes_done,
            "BytesTotal": self.bytes_total,
            "Files": self.files,
            "FilesDone": self.files_done,
            "FilesFailed": self.files_failed,
            **({"FailureReason": self.failure} if self.failure else {}),
        }


def describer(client: Any) -> Callable[[str], Snapshot]:
    """A function that describes a job, with the progress boto3 would drop from the reply."""
    raw: dict[str, Any] = {}

    def keep(http_response: Any, **_: Any) -> None:
        try:
            raw["progress"] = json.loads(http_response.content).get("HomeportProgress") or {}
        except ValueError:
            raw["progress"] = {}

    client.meta.events.register("after-call.sagemaker.DescribeTransformJob", keep)

    def describe(name: str) -> Snapshot:
        doc = client.describe_transform_job(TransformJobName=name)
        p = raw.get("progress", {})
        return Snapshot(
            doc["TransformJobStatus"],
            p.get("RecordsDone", 0),
            p.get("BytesDone", 0),
            p.get("BytesTotal", 0),
            p.get("Files", 0),
            p.get("FilesDone", 0),
            p.get("FilesFailed", 0),
            doc.get("FailureReason"),
        )

    return describe


def cmd_jobs(args: argparse.Namespace, client: Any) -> int:
    if args.action == "watch":
        return watch(args, client)
    if args.action == "stop":
        if not args.name:
            raise SystemExit("homeport jobs stop: name the job to stop")
        client.stop_transform_job(TransformJobName=args.name)
        print(f"stopping {args.name}")
        return 0
    jobs: list[dict[str, Any]] = []
    for page in client.get_paginator("list_transform_jobs").paginate(SortBy="CreationTime", SortOrder="Descending"):
        jobs.extend(page["TransformJobSummaries"])
    if args.json:
        from homeport.cli.output import print_json

        print_json(jobs)
        return 0
    from rich.console import Console
    from rich.table import Table

    from homeport.cli.output import when

    table = Table(title=f"{len(jobs)} transform job(s)")
    for column in ("Name", "Status", "Created", "Ended", "Failure"):
        table.add_column(column)
    for job in jobs:
        table.add_row(
            job["TransformJobName"],
            job["TransformJobStatus"],
            when(job["CreationTime"]),
            when(job["TransformEndTime"]) if "TransformEndTime" in job else "",
            (job.get("FailureReason") or "")[:80],
        )
    Console().print(table)
    return 0


def watch(args: argparse.Namespace, client: Any) -> int:
    if not args.name:
        raise SystemExit("homeport jobs watch: name the job to watch")
    describe = describer(client)
    snapshot = describe(args.name)
    if args.json:
        while True:
            print(json.dumps(snapshot.to_json()), flush=True)
            if snapshot.status in ENDED:
                break
            time.sleep(args.interval)
            snapshot = describe(args.name)
        return 0 if snapshot.status == "Completed" else 1
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[records]:,} records  {task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    started = time.monotonic()
    first_records = snapshot.records
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(args.name, total=snapshot.bytes_total or None, records=snapshot.records, rate="")
        while True:
            elapsed = time.monotonic() - started
            rate = (snapshot.records - first_records) / elapsed if elapsed > 0 else 0.0
            bar.update(
                task,
                total=snapshot.bytes_total or None,
                completed=snapshot.bytes_done,
                records=snapshot.records,
                rate=f"{rate:,.0f} records/s" if rate else "",
                description=f"{args.name} {snapshot.status} ({snapshot.files_done}/{snapshot.files} files)",
            )
            if snapshot.status in ENDED:
                break
            time.sleep(args.interval)
            snapshot = describe(args.name)
    colour = "green" if snapshot.status == "Completed" else "red"
    console.print(f"[{colour}]{args.name}: {snapshot.status}[/{colour}]")
    if snapshot.failure:
        console.print(f"  FailureReason: {snapshot.failure}")
    return 0 if snapshot.status == "Completed" else 1


def add_arguments(jobs: argparse.ArgumentParser) -> None:
    jobs.add_argument("action", nargs="?", choices=["list", "watch", "stop"], default="list")
    jobs.add_argument("name", nargs="?", help="the transform job (watch, stop)")
    jobs.add_argument("--interval", type=float, default=1.0, help="seconds between looks (watch)")
