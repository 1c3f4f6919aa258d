"""What training and processing jobs share: a job's input downloaded from S3 into its directory, and its process
started, waited on within a time limit, and stopped (SIGTERM to its process group, SIGKILL after a grace)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from homeport.batch.plan import PlanError, inputs
from homeport.engines.local import die_with_parent
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


async def start(argv: Sequence[str], env: dict[str, str], cwd: Path, log_path: Path) -> asyncio.subprocess.Process:
    """The job's process, its stdout and stderr appended to `log_path` (shipped to CloudWatch Logs)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            cwd=cwd,
            env=env,
            start_new_session=True,  # its own process group: a stop reaches its children too
            preexec_fn=die_with_parent,  # and a killed server's job does not go on as an orphan
        )


async def finish(proc: asyncio.subprocess.Process, budget: float) -> int | None:
    """The exit code, or None when the process ran past `budget` seconds (it has then been stopped)."""
    try:
        return await asyncio.wait_for(proc.wait(), max(budget, 0.0))
    except TimeoutError:
        await halt(proc)
        return None


async def halt(proc: asyncio.subprocess.Process | None) -> None:
    """SIGTERM the process group, SIGKILL it after STOP_GRACE_S."""
    if proc is None or proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.shield(proc.wait()), STOP_GRACE_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
