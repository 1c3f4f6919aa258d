"""A job runner: runs every InProgress job of one kind (transform, training), stops the ones asked to stop, and
after a restart either resumes them (transform jobs pick up where they were) or ends them cleanly."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any, Protocol

from homeport.controllers.loop import Loop
from homeport.services.context import Context
from homeport.store import Kind

log = logging.getLogger(__name__)

TICK_S = 1.0
IN_PROGRESS, STOPPING = "InProgress", "Stopping"  # the same words in every job kind's status


class JobRun(Protocol):
    stopping: bool  # set when StopXJob (not a server shutdown) is what cancels its task

    async def run(self) -> None: ...

    def mark_stopped(self) -> None:
        """Record the job as Stopped (it is not running)."""

    def mark_interrupted(self) -> None:
        """Record the job as ended by a restart, when runs of its kind cannot resume."""


class JobRunner:
    def __init__(self, ctx: Context, kind: Kind, label: str, make: Callable[[dict[str, Any]], JobRun]) -> None:
        """`label`: "TransformJob", "TrainingJob" (its Name and Status fields); `make`: a run for a job's doc."""
        self.ctx = ctx
        self.kind = kind
        self.name_key, self.status_key = f"{label}Name", f"{label}Status"
        self.make = make
        self.runs: dict[str, tuple[JobRun, asyncio.Task[None]]] = {}
        self.loop = Loop(f"{label} runner")
        self.wake = self.loop.wake

    def restore(self, *, resume: bool | Callable[[dict[str, Any]], bool]) -> None:
        """After a restart nothing runs: a job that was stopping is stopped; an InProgress one resumes at the next
        tick when `resume` says so (of its record), else it ends (its run's mark_interrupted says how)."""
        with self.ctx.store.transaction() as conn:
            docs = self.ctx.store.with_status(conn, self.kind, [STOPPING, IN_PROGRESS])
        for doc in docs:
            if doc[self.status_key] == STOPPING:
                self.make(doc).mark_stopped()
            elif not (resume(doc) if callable(resume) else resume):
                self.make(doc).mark_interrupted()

    async def run_forever(self) -> None:
        await self.loop.run(self.run_once, lambda: TICK_S)

    def run_once(self) -> None:
        store = self.ctx.store
        with store.reading() as conn:
            docs = store.with_status(conn, self.kind, [IN_PROGRESS, STOPPING])
        for doc in docs:
            name = doc[self.name_key]
            running = self.runs.get(name)
            if doc[self.status_key] == IN_PROGRESS and running is None:
                run = self.make(doc)
                task = asyncio.get_running_loop().create_task(run.run(), name=f"{self.kind.value}-{name}")
                self.runs[name] = (run, task)
                task.add_done_callback(functools.partial(self._finished, name))
            elif doc[self.status_key] == STOPPING:
                if running is None:
                    self.make(doc).mark_stopped()
                elif not running[0].stopping:
                    running[0].stopping = True
                    running[1].cancel()

    def _finished(self, name: str, _: asyncio.Task[None]) -> None:
        self.runs.pop(name, None)
        self.wake()

    async def shutdown(self) -> None:
        """Server shutdown: every running job is cut off where it is (`restore` decides its fate at the next start)."""
        tasks = [task for _, task in self.runs.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
