"""A training or processing job on a Ray cluster node, as the front door follows it (engines/ray_job_actor.py is
the node's side): the command's output appended to the job's log here as it grows (CloudWatch Logs and the
training metrics read it there), and once the command ended, the files it wrote unpacked into the job's directory
here, where training_run and processing_run upload them as they do for a job of this machine."""

from __future__ import annotations

import asyncio
import contextlib
import io
import signal
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from homeport.core.waiting import within
from homeport.engines.jobs import JobSpec
from homeport.engines.ray_actor import OUTPUT_CHUNK

LOST = -signal.SIGKILL  # the exit code of a job whose actor (or node) is gone
FOLLOW_S = 0.5  # how often the output is copied while the command runs
CALL_TIMEOUT_S = 60.0  # an actor that does not answer a call in this long is taken as lost


class RayJob:
    def __init__(self, ray: Any, actor: Any, spec: JobSpec, forget: Callable[[RayJob], None]) -> None:
        self.ray, self.actor, self.spec = ray, actor, spec
        self._forget = forget
        self._started = asyncio.wrap_future(actor.node.remote().future())  # done once placed and running
        self._started.add_done_callback(lambda done: done.cancelled() or done.exception())  # a lost one is _ended's
        self._ended = asyncio.wrap_future(actor.wait.remote().future())
        self._offset = 0
        self._follower = asyncio.ensure_future(self._follow())  # its output comes from the start, waited on or not

    async def wait(self) -> int:
        return await asyncio.shield(self._follower)  # a wait cancelled (a stop) leaves the follower going

    async def stop(self, grace_s: float) -> None:
        """SIGTERM the command, SIGKILL it after `grace_s`; returns once what it wrote is back here. A job still
        waiting for a node to hold it is given up."""
        if not self._ended.done():
            if self._started.done():
                with contextlib.suppress(Exception):  # one that does not answer is killed below
                    await within(self._call(self.actor.stop.remote(grace_s)), grace_s + CALL_TIMEOUT_S)
            if not self._ended.done():
                with contextlib.suppress(Exception):
                    self.ray.kill(self.actor)
        await self.wait()

    async def _follow(self) -> int:
        while True:
            await asyncio.wait({self._ended}, timeout=FOLLOW_S)
            await self._copy_output()
            if self._ended.done():
                break
        try:
            code = self._ended.result()
            archive = await self._call(self.actor.results.remote())
            await asyncio.to_thread(_unpack, archive, self.spec.cwd)
        except Exception as exc:  # its node was lost, it was killed, or it could not start the command
            self._note(f"homeport: the job ended with its Ray actor: {type(exc).__name__}: {str(exc)[:500]}")
            code = LOST
        with contextlib.suppress(Exception):
            await self._call(self.actor.close.remote())
        with contextlib.suppress(Exception):
            self.ray.kill(self.actor)  # its resources go back to the cluster
        self._forget(self)
        return int(code)

    async def _copy_output(self) -> None:
        with contextlib.suppress(Exception):  # a lost actor's output ends where it was copied to
            while chunk := await self._call(self.actor.output.remote(self._offset)):
                await asyncio.to_thread(self._append, chunk)
                self._offset += len(chunk)
                if len(chunk) < OUTPUT_CHUNK:
                    break

    async def _call(self, ref: Any) -> Any:
        return await within(asyncio.wrap_future(ref.future()), CALL_TIMEOUT_S)

    def _append(self, chunk: bytes) -> None:
        self.spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.spec.log_path, "ab") as log:
            log.write(chunk)

    def _note(self, line: str) -> None:
        with contextlib.suppress(OSError):
            self._append(line.encode() + b"\n")


def _unpack(archive: bytes, folder: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
