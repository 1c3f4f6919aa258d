"""What training and processing jobs share: a job's input downloaded from S3 into its directory, and its process
(started by the engine) waited on within a time limit, and stopped with a grace period."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from homeport.batch.plan import PlanError, inputs
from homeport.core.waiting import within
from homeport.engines.base import Engine, Job, NoCapacity
from homeport.engines.jobs import JobSpec
from homeport.objects.locations import Locator, UnreachableObject
from homeport.services.context import Context

log = logging.getLogger(__name__)

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


async def launch(engine: Engine, spec: JobSpec) -> Job:
    """The job's process, started by the engine; JobFailed when it cannot be."""
    try:
        return await engine.start_job(spec)
    except NoCapacity as exc:
        raise JobFailed(f"CapacityError: Unable to provision requested ML compute capacity: {exc}") from None
    except OSError as exc:
        raise JobFailed(f"ClientError: the job's process could not start: {exc}") from None


async def finish(job: Job, budget: float) -> int | None:
    """The exit code, or None when the job ran past `budget` seconds (it has then been stopped)."""
    try:
        return await within(job.wait(), max(budget, 0.0))
    except TimeoutError:
        await job.stop(STOP_GRACE_S)
        return None


async def halt(job: Job | None) -> None:
    if job is not None:
        await job.stop(STOP_GRACE_S)


class JobRun:
    """One job's execution, its directory and its output file; a kind says how it runs (`_run`), what a stop
    leaves (`_stopped`) and how it fails (`_fail`)."""

    folder: ClassVar[str]  # "training": DATA_DIR/training/<job>, and logs/training-jobs/<job>/algo-1.log
    label: ClassVar[str]  # "TrainingJob"

    def __init__(self, ctx: Context, engine: Engine, doc: dict[str, Any]) -> None:
        self.ctx = ctx
        self.engine = engine
        self.doc = doc
        self.name: str = doc[f"{self.label}Name"]
        self.stopping = False  # set by the runner when StopXJob, not a shutdown, is what cancels the run
        self.base = ctx.settings.data_dir / self.folder / self.name
        self.log_path = ctx.settings.logs_dir / f"{self.folder}-jobs" / self.name / "algo-1.log"
        self._job: Job | None = None

    async def run(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            await halt(self._job)
            if self.stopping:
                await self._stopped()
            raise  # a server shutdown: the next start's restore() ends the job
        except JobFailed as exc:
            self._fail(str(exc))
        except Exception as exc:  # a bug in homeport: the job fails, the runner goes on
            log.exception("%s %s failed", self.label, self.name)
            self._fail(f"InternalServerError: homeport failed running the job: {exc}")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    async def _run(self) -> None:
        raise NotImplementedError

    async def _stopped(self) -> None:
        raise NotImplementedError

    def _fail(self, reason: str) -> None:
        raise NotImplementedError

    def mark_interrupted(self) -> None:
        self._fail(
            "InternalServerError: homeport stopped while the job was running; create it again (under a new name)."
        )
