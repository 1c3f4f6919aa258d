"""`homeport training` and `homeport processing`: list the jobs; with a NAME, one job (a training job's steps,
metrics and model; a processing job's inputs and outputs), with `--follow` its output until it ends (what the
SDK's `fit()` and `run()` print), or `--stop` it."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from homeport.cli.output import print_json, when

ENDED = ("Completed", "Failed", "Stopped")


@dataclass(frozen=True)
class Kind:
    noun: str  # "training", "processing"
    label: str  # "TrainingJob": its operations' and fields' stem
    group: str  # its CloudWatch Logs group
    show: Callable[[dict[str, Any]], None]

    def call(self, client: Any, verb: str, **params: Any) -> Any:
        """describe_training_job(TrainingJobName=…) and the like."""
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in self.label).lstrip("_")
        return getattr(client, f"{verb}_{snake}")(**params)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", help="one job (none: list them all)")
    p.add_argument("--stop", action="store_true", help="stop the job (StopTrainingJob)")
    p.add_argument("--follow", action="store_true", help="print the job's output until it ends")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between looks with --follow (default 1)")


def run(kind: Kind, args: argparse.Namespace, sagemaker: Any, logs: Any) -> int:
    name = {f"{kind.label}Name": args.name}
    if args.name is None:
        return listing(kind, args, sagemaker)
    if args.stop:
        kind.call(sagemaker, "stop", **name)
        print(f"stopping {args.name}")
        return 0
    if args.follow:
        follow(kind, args, sagemaker, logs)
    job = kind.call(sagemaker, "describe", **name)
    if args.json:
        print_json(job)
        return 0
    kind.show(job)
    return 1 if job[f"{kind.label}Status"] == "Failed" else 0


def listing(kind: Kind, args: argparse.Namespace, sagemaker: Any) -> int:
    jobs: list[dict[str, Any]] = []
    paginator = sagemaker.get_paginator(f"list_{kind.noun}_jobs")
    for page in paginator.paginate(SortBy="CreationTime", SortOrder="Descending"):
        jobs.extend(page[f"{kind.label}Summaries"])
    if args.json:
        print_json(jobs)
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(jobs)} {kind.noun} job(s)")
    for column in ("Name", "Status", "Step", "Created", "Ended"):
        table.add_column(column)
    ended = kind.label.removesuffix("Job") + "EndTime"
    for job in jobs:
        table.add_row(
            job[f"{kind.label}Name"],
            job[f"{kind.label}Status"],
            job.get("SecondaryStatus", ""),
            when(job["CreationTime"]),
            when(job[ended]) if ended in job else "",
        )
    Console().print(table)
    return 0


def show_training(job: dict[str, Any]) -> None:
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


def show_processing(job: dict[str, Any]) -> None:
    print(f"{job['ProcessingJobName']}: {job['ProcessingJobStatus']}")
    for item in job.get("ProcessingInputs", []):
        print(f"  input {item['InputName']}: {item['S3Input']['S3Uri']} -> {item['S3Input'].get('LocalPath', '')}")
    for item in job.get("ProcessingOutputConfig", {}).get("Outputs", []):
        print(f"  output {item['OutputName']}: {item['S3Output']['LocalPath']} -> {item['S3Output']['S3Uri']}")
    for key in ("ExitMessage", "FailureReason"):
        if job.get(key):
            print(f"  {key}: {job[key]}")


TRAINING = Kind("training", "TrainingJob", "/aws/sagemaker/TrainingJobs", show_training)
PROCESSING = Kind("processing", "ProcessingJob", "/aws/sagemaker/ProcessingJobs", show_processing)


def follow(kind: Kind, args: argparse.Namespace, sagemaker: Any, logs: Any) -> None:
    """Print the job's output as it comes, until the job has ended and its last lines are out."""
    from homeport.cli.logs import events

    seen: set[str] = set()
    start = 0
    while True:
        status = kind.call(sagemaker, "describe", **{f"{kind.label}Name": args.name})[f"{kind.label}Status"]
        try:
            for event in events(logs, kind.group, f"{args.name}/", start, "", False, 0):
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
