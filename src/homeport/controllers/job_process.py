"""What training and processing jobs share: a job's input downloaded from S3 into its directory, and its process
(started by the engine) waited on within a time limit, and stopped with a grace period."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from homeport.batch.plan import PlanError, inputs
from homeport.engines.base import Job
from homeport.objects.locations import Locator, UnreachableObject

STOP_GRACE_S = 120.0  # SageMaker's: a stopped or timed-out job has this long to save its work


class JobFailed(Exception):
    """The job cannot run as asked; the message is its FailureReason."""


def download(locator: Locator, source: dict[str, Any], folder: Path, label: str) -> None:
    """Every object of an S3DataSource/S3Input (S3Prefix or ManifestFile) into `folder`, at its key relative to
    the prefix."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for ref, relative in inputs(locator, source):
            parts = PurePosixPath(relative).parts
            if not parts or ".." in parts or PurePosixPath(relative).is_absolute():
                raise JobFailed(f"ClientError: {label}: {ref.url} has a key that leaves its prefix.")
            target = folder.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with locator.open(ref.url) as stream, open(target, "wb") as out:
                shutil.copyfileobj(stream, out, 1 << 20)
    except (PlanError, UnreachableObject, OSError) as exc:
        raise JobFailed(f"ClientError: {label}: {exc}") from None


async def finish(job: Job, budget: float) -> int | None:
    """The exit code, or None when the job ran past `budget` seconds (it has then been stopped)."""
    try:
        return await asyncio.wait_for(job.wait(), max(budget, 0.0))
    except TimeoutError:
        await job.stop(STOP_GRACE_S)
        return None


async def halt(job: Job | None) -> None:
    if job is not None:
        await job.stop(STOP_GRACE_S)
