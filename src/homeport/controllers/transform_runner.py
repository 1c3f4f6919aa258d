"""The transform runner: runs every InProgress job, stops the ones asked to stop, resumes after a restart."""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path

from homeport.controllers.loop import Loop
from homeport.controllers.transform_run import TransformJobRun
from homeport.core.states import TransformJobStatus
from homeport.engines.base import Engine
from homeport.services.context import Context
from homeport.store import Kind

log = logging.getLogger(__name__)

TICK_S = 1.0


class TransformRunner:
    def __init__(self, ctx: Context, engine: Engine, socket_dir: Path) -> None:
        self.ctx = ctx
        self.engine = engine
        self.socket_dir = socket_dir
        self.runs: dict[str, tuple[TransformJobRun, asyncio.Task[None]]] = {}
        self.loop = Loop("transform runner")
        self.wake = self.loop.wake

    def restore(self) -> None:
        """After a restart nothing runs: a job that was stopping is stopped; InProgress jobs resume."""
        with self.ctx.store.transaction() as conn:
            stopping = self.ctx.store.with_status(conn, Kind.TRANSFORM_JOB, [TransformJobStatus.STOPPING.value])
        for doc in stopping:
            TransformJobRun(self.ctx, self.engine, doc, self.socket_dir).mark_stopped()

    async def run_forever(self) -> None:
        await self.loop.run(self.run_once, lambda: TICK_S)

    def run_once(self) -> None:
        store = self.ctx.store
        wanted = [TransformJobStatus.IN_PROGRESS.value, TransformJobStatus.STOPPING.value]
        with store.reading() as conn:
            docs = store.with_status(conn, Kind.TRANSFORM_JOB, wanted)
        for doc in docs:
            name = doc["TransformJobName"]
            running = self.runs.get(name)
            if doc["TransformJobStatus"] == TransformJobStatus.IN_PROGRESS.value and running is None:
                run = TransformJobRun(self.ctx, self.engine, doc, self.socket_dir)
                task = asyncio.get_running_loop().create_task(run.run(), name=f"transform-job-{name}")
                self.runs[name] = (run, task)
                task.add_done_callback(functools.partial(self._finished, name))
            elif doc["TransformJobStatus"] == TransformJobStatus.STOPPING.value:
                if running is None:
                    TransformJobRun(self.ctx, self.engine, doc, self.socket_dir).mark_stopped()
                elif not running[0].stopping:
                    running[0].stopping = True
                    running[1].cancel()

    def _finished(self, name: str, _: asyncio.Task[None]) -> None:
        self.runs.pop(name, None)
        self.wake()

    async def shutdown(self) -> None:
        """Server shutdown: every running job is cut off where it is (it resumes at the next start)."""
        tasks = [task for _, task in self.runs.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
