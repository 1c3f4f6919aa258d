"""The local engine: each instance is a `python -m homeport.runtime` process on a Unix socket, or on TCP with a
secret of its own when other machines' front doors must reach it (`homeport serve --instance-host`).

Instances are forked from the zygote (`homeport.engines.zygote`, imports done once) when it is ready, which
makes an instance start in tens of milliseconds instead of ~0.5 s; until then, or without it, each is a fresh
subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from homeport.engines.base import LOCAL_ZONE, InstanceSpec, listen_at, prepare
from homeport.engines.jobs import JobSpec, LocalJob, die_with_parent, start_local
from homeport.runtime.address import SECRET_ENV, Address

log = logging.getLogger(__name__)

SPAWN_TIMEOUT_S = 10.0
ZYGOTE_READY_WAIT_S = 5.0  # a zygote still importing after this is taken to be stuck: instances start fresh


class ZygoteUnavailable(Exception):
    pass


class Zygote:
    """The client side of the zygote: asks it for children and learns how each one ends."""

    def __init__(self) -> None:
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "homeport.engines.zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            env=env,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self.ready = False
        self.gone = False
        self.exits: dict[int, int] = {}
        self.replies: dict[int, dict[str, Any]] = {}
        self.on_exit: Callable[[], None] = lambda: None  # told (on the reader thread) that a child ended
        self._ids = itertools.count(1)
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="homeport-zygote", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            message = json.loads(line)
            with self._changed:
                if "ready" in message:
                    self.ready = True
                elif "exit" in message:
                    self.exits[message["exit"]] = message["code"]
                else:
                    self.replies[message["id"]] = message
                self._changed.notify_all()
            if "exit" in message:
                self.on_exit()
        with self._changed:  # the zygote is gone, and its children with it (they die with their parent)
            self.gone = True
            self._changed.notify_all()

    def wait_ready(self, timeout: float) -> bool:
        """Whether the zygote is ready to fork, waiting up to `timeout` seconds for one still importing."""
        with self._changed:
            return self._changed.wait_for(lambda: self.ready or self.gone, timeout) and not self.gone

    def spawn(self, argv: list[str], env: dict[str, str], cwd: str, log_path: str) -> ForkedProcess:
        if not self.ready or self.gone or self.proc.stdin is None:
            raise ZygoteUnavailable("the zygote is not ready")
        request_id = next(self._ids)
        request = {"id": request_id, "argv": argv, "env": env, "cwd": cwd, "log": log_path}
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError as exc:
            raise ZygoteUnavailable(f"the zygote cannot be reached: {exc}") from None
        with self._changed:
            if not self._changed.wait_for(lambda: request_id in self.replies or self.gone, SPAWN_TIMEOUT_S):
                raise ZygoteUnavailable("the zygote did not answer")
            reply = self.replies.pop(request_id, None)
        if reply is None or "pid" not in reply:
            raise ZygoteUnavailable(f"the zygote could not fork: {reply.get('error') if reply else 'it is gone'}")
        return ForkedProcess(reply["pid"], self)

    def exit_code(self, pid: int) -> int | None:
        with self._changed:
            if pid in self.exits:
                return self.exits[pid]
            return -signal.SIGTERM if self.gone else None

    def wait(self, pid: int, timeout: float | None) -> int | None:
        with self._changed:
            self._changed.wait_for(lambda: pid in self.exits or self.gone, timeout)
        return self.exit_code(pid)

    def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)  # it reads the pipe to its end, then the pipe can be closed
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class ForkedProcess:
    """A child of the zygote, with the part of `subprocess.Popen`'s interface the engine uses."""

    def __init__(self, pid: int, zygote: Zygote) -> None:
        self.pid = pid
        self.zygote = zygote

    def poll(self) -> int | None:
        return self.zygote.exit_code(self.pid)

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int | None:
        return self.zygote.wait(self.pid, timeout)


class LocalEngine:
    zones: Sequence[str] = (LOCAL_ZONE,)  # one machine: one failure domain

    def __init__(self, prefork: bool = False, host: str = "") -> None:
        self.on_exit: Callable[[], None] = lambda: None
        self.procs: dict[str, Any] = {}
        self.host = host  # instances listen on TCP on this address, with a secret each; empty: Unix sockets
        self.addresses: dict[Any, Address] = {}
        self.prefork = prefork
        self.zygote: Zygote | None = None

    async def start_job(self, spec: JobSpec) -> LocalJob:
        return await start_local(spec)  # jobs are processes of their own, whatever runs the instances

    def warm(self) -> None:
        if self.prefork and self.zygote is None:
            try:
                self.zygote = Zygote()
            except OSError as exc:
                log.warning("no zygote (%s): every instance starts as a fresh process", exc)
                return
            self.zygote.on_exit = self.on_exit  # the callback `watch` was given before

    def watch(self, callback: Callable[[], None]) -> None:
        """Call `callback` (from another thread) as soon as an instance forked from the zygote ends, so that
        its replacement starts without waiting for the next health check."""
        self.on_exit = callback
        if self.zygote is not None:
            self.zygote.on_exit = callback

    def start(self, spec: InstanceSpec) -> Any:
        prepare(spec)
        env = {**os.environ, **spec.environment}
        env.setdefault("PYTHONUNBUFFERED", "1")
        argv = ["--runtime", spec.runtime, "--model-dir", str(spec.model_dir)]
        address = listen_at(self.host, spec)
        if address.path:
            argv += ["--uds", address.path]
        else:
            argv += ["--host", address.host, "--port", str(address.port)]
            env[SECRET_ENV] = address.secret
        proc: Any = None
        # A zygote still importing is waited for: it is ready about as soon as a fresh process would be, and an
        # instance forked from it shares its memory (a fresh one would hold a second copy of every library).
        if self.zygote is not None and self.zygote.wait_ready(ZYGOTE_READY_WAIT_S):
            try:
                proc = self.zygote.spawn(argv, env, str(spec.model_dir), str(spec.log_path))
            except ZygoteUnavailable as exc:
                log.warning("%s; starting %s as a fresh process", exc, spec.instance_id)
        if proc is None:
            with open(spec.log_path, "ab") as log_file:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "homeport.runtime", *argv],
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=str(spec.model_dir),
                    start_new_session=True,
                    preexec_fn=die_with_parent,
                )
            # A fresh process has no zygote to report its end: a thread waits for it instead.
            threading.Thread(target=self._await_exit, args=(proc,), name="homeport-exit", daemon=True).start()
        self.procs[spec.instance_id] = proc
        self.addresses[proc] = address
        return proc

    def _await_exit(self, proc: subprocess.Popen[bytes]) -> None:
        proc.wait()
        self.on_exit()

    def exit_code(self, handle: Any) -> int | None:
        code: int | None = handle.poll()
        return code

    async def address(self, handle: Any) -> Address:
        return self.addresses[handle]

    def direct(self, handle: Any) -> None:
        return None  # its own process: reached through its socket

    async def stop(self, handle: Any, grace_s: float) -> None:
        if handle.poll() is None:
            handle.send_signal(signal.SIGTERM)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + grace_s
            while handle.poll() is None and loop.time() < deadline:
                await asyncio.sleep(0.02)
            if handle.poll() is None:
                handle.kill()
                await asyncio.to_thread(handle.wait, 10)
        self.procs = {k: p for k, p in self.procs.items() if p is not handle}
        self.addresses.pop(handle, None)

    def kill_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        self.procs.clear()
        self.addresses.clear()

    def close(self) -> None:
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None
