"""Job processes (training, processing) on this machine: started in a process group of their own that dies with
the server, and stopped with SIGTERM to the whole group, then SIGKILL after a grace period. Every local engine
runs jobs this way; a cluster engine places them elsewhere behind the same `Job` interface."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from homeport.core.waiting import within

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child, before exec: if homeport itself is killed, the child must not linger as an orphan."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(frozen=True)
class JobSpec:
    argv: list[str]
    env: dict[str, str]  # the job's own variables: a local job gets them over the server's, a job on a node alone
    cwd: Path  # the job's directory: its inputs, configs and code; where it leaves its model and output
    log_path: Path  # stdout and stderr, appended (shipped to CloudWatch Logs)
    instance_type: str = ""  # ml.m5.xlarge, …: the resources a cluster engine places it with


class LocalJob:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def wait(self) -> int:
        return await self.proc.wait()

    async def stop(self, grace_s: float) -> None:
        """SIGTERM the process group, SIGKILL it after `grace_s`."""
        if self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            await within(asyncio.shield(self.proc.wait()), grace_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()


async def start_local(spec: JobSpec) -> LocalJob:
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(spec.log_path, "ab") as out:
        proc = await asyncio.create_subprocess_exec(
            *spec.argv,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            cwd=spec.cwd,
            env={**os.environ, **spec.env},
            start_new_session=True,  # its own process group: a stop reaches its children too
            preexec_fn=die_with_parent,  # and a killed server's job does not go on as an orphan
        )
    return LocalJob(proc)
