"""The local engine: each instance is a `python -m homeport.runtime` subprocess on a Unix socket."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from typing import Any

from homeport.engines.base import InstanceSpec

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # If homeport itself is killed, its instances must not linger as orphans.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class LocalEngine:
    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, spec: InstanceSpec) -> Any:
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        spec.socket_path.parent.mkdir(parents=True, exist_ok=True)
        spec.socket_path.unlink(missing_ok=True)
        env = {**os.environ, **spec.environment}
        env.setdefault("PYTHONUNBUFFERED", "1")
        cmd = [
            sys.executable,
            "-m",
            "homeport.runtime",
            "--runtime",
            spec.runtime,
            "--model-dir",
            str(spec.model_dir),
            "--uds",
            str(spec.socket_path),
        ]
        with open(spec.log_path, "ab") as log:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(spec.model_dir),
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.procs[spec.instance_id] = proc
        return proc

    def exit_code(self, handle: Any) -> int | None:
        proc: subprocess.Popen[bytes] = handle
        return proc.poll()

    async def stop(self, handle: Any, grace_s: float) -> None:
        proc: subprocess.Popen[bytes] = handle
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + grace_s
            while proc.poll() is None and loop.time() < deadline:
                await asyncio.sleep(0.02)
            if proc.poll() is None:
                proc.kill()
                await asyncio.to_thread(proc.wait)
        self.procs = {k: p for k, p in self.procs.items() if p is not proc}

    def kill_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs.values():
            proc.wait()
        self.procs.clear()
