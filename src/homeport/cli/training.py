"""`homeport training`: list training jobs; `training NAME`: one job's steps, metrics and model, and with
`--follow` its output until it ends (what the SDK's `fit(logs=True)` prints); `training NAME --stop`."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import Any

from homeport.cli.output import print_json, when

ENDED = ("Completed", "Failed", "Stopped")
GROUP = "/aws/sagemaker/TrainingJobs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", help="a training job: its steps, metrics, model (none: list them all)")
    p.add_argument("--stop", action="store_true", help="stop the job (StopTrainingJob)")
    p.add_argument("--follow", action="store_true", help="print the job's output until it ends")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between looks with --follow (default 1)")


def run(args: argparse.Namespace, sagemaker: Any, logs: Any) -> int:
    if args.name is None:
        return listing(args, sagemaker)
    if args.stop:
        sagemaker.stop_training_job(TrainingJobName=args.name)
        print(f"stopping {args.name}")
        return 0
    if args.follow:
        follow(args, sagemaker, logs)
    job = sagemaker.describe_training_job(TrainingJobName=args.name)
    if args.json:
        print_json(job)
        return 0
    show(job)
    return 1 if job["TrainingJobStatus"] == "Failed" else 0


def listing(args: argparse.Namespace, sagemaker: Any) -> int:
    jobs: list[dict[str, Any]] = []
    for page in sagemaker.get_paginator("list_training_jobs").paginate(SortBy="CreationTime", SortOrder="Descending"):
        jobs.extend(page["TrainingJobSummaries"])
    if args.json:
        print_json(jobs)
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(jobs)} training job(s)")
    for column in ("Name", "Status", "Step", "Created", "Ended"):
        table.add_column(column)
    for job in jobs:
        ended = when(job["TrainingEndTime"]) if "TrainingEndTime" in job else ""
        table.add_row(
            job["TrainingJobName"], job["TrainingJobStatus"], job["SecondaryStatus"], when(job["CreationTime"]), ended
        )
    Console().print(table)
    return 0


def show(job: dict[str, Any]) -> None:
    print(f"{job['TrainingJobName']}: {job['TrainingJobStatus']} ({job['SecondaryStatus']})")
    for step in job.get("SecondaryStatusTransitions", []):
        print(f"  {when(step['StartTime'])}  {step['Status']:<19} {step.get('StatusMessage', '')}")
    for metric in job.get("FinalMetricDataList", []):
        print(f"  {metric['MetricName']} = {metric['Value']:g}")
    if "ModelArtifacts" in job:
        print(f"  model: {job['ModelArtifacts']['S3ModelArtifacts']}")
    if "TrainingTimeInSeconds" in job:
        print(f"  training seconds: {job['TrainingTimeInSeconds']}")
    if job.get("FailureReason"):
        print(f"  failure: {job['FailureReason']}")


def follow(args: argparse.Namespace, sagemaker: Any, logs: Any) -> None:
    """Print the job's output as it comes, until the job has ended and its last lines are out."""
    from homeport.cli.logs import events

    seen: set[str] = set()
    start = 0
    while True:
        status = sagemaker.describe_training_job(TrainingJobName=args.name)["TrainingJobStatus"]
        try:
            for event in events(logs, GROUP, f"{args.name}/", start, "", False, 0):
                if event["eventId"] not in seen:
                    seen.add(event["eventId"])
                    start = max(start, event["timestamp"])
                    stamp = when(datetime.fromtimestamp(event["timestamp"] / 1000, UTC))
                    print(f"{stamp} {event['message']}", flush=True)
        except logs.exceptions.ResourceNotFoundException:
            pass  # nothing logged yet
        if status in ENDED:  # read once more after the end: the last lines are in
            return
        time.sleep(args.interval)
