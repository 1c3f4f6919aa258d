"""Instances as threads of this process: each serves the runtime's container-contract app for its model on its
Unix socket, from an event loop of its own.

Made for tests: with it, the server, its controllers and its instances run in one process, so the API, the
services and the controllers are exercised (and measured, and debugged) without a process to start or reap. The
contract served is the real one, the same loader, app and codecs as `python -m homeport.runtime`. What it does
not model is isolation: an instance cannot crash or run out of memory on its own, it shares the server's CPU and
the GIL, and user code (`inference.py`) is imported into the server's process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import uvicorn

from homeport.engines.base import LOCAL_ZONE, InstanceSpec, listen_at, prepare
from homeport.engines.jobs import JobSpec, LocalJob, start_local
from homeport.runtime.__main__ import container_app, server_config
from homeport.runtime.address import Address, RequireSecret
from homeport.runtime.environment import ContainerEnvironment
from homeport.runtime.errors import ModelLoadError
from homeport.runtime.images import Runtime

KILLED = -signal.SIGKILL


class InstanceThread:
    """One instance: loads its model, then serves until stopped. `code` is None while it runs."""

    def __init__(self, spec: InstanceSpec, on_exit: Callable[[], None], address: Address) -> None:
        self.spec = spec
        self.address = address
        self.code: int | None = None
        self.server: uvicorn.Server | None = None
        self.stopping = False
        self.forced = False
        self._on_exit = on_exit
        self._thread = threading.Thread(target=self._run, name=f"homeport-{spec.instance_id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.code = self._serve()
        except BaseException as exc:  # a thread has no one to raise to: the log says it, as a process's would
            self._log(f"homeport.runtime: {type(exc).__name__}: {exc}")
            self.code = 1
        self._on_exit()

    def _serve(self) -> int:
        spec = self.spec
        try:
            env = ContainerEnvironment.from_environ({**os.environ, **spec.environment})
        except ValueError as exc:
            self._log(f"homeport.runtime: {exc}")
            return 2
        pool = ThreadPoolExecutor(env.workers, thread_name_prefix=f"homeport-{spec.instance_id}")
        try:
            app = container_app(Runtime(spec.runtime), spec.model_dir.resolve(), env, pool)
        except ModelLoadError as exc:
            self._log(f"homeport.runtime: {exc}")
            pool.shutdown(wait=False)
            return 1
        where = self.address
        if where.path:
            config = server_config(app, env, uds=where.path)
        else:
            config = server_config(RequireSecret(app, where.secret), env, host=where.host, port=where.port)
        self.server = uvicorn.Server(config)
        self.server.should_exit, self.server.force_exit = self.stopping, self.forced  # stopped while loading
        try:
            asyncio.run(self.server.serve())
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return KILLED if self.forced else 0

    def _log(self, line: str) -> None:
        with open(self.spec.log_path, "a") as log:
            log.write(line + "\n")

    def stop(self, force: bool) -> None:
        self.stopping, self.forced = True, self.forced or force
        if self.server is not None:
            self.server.should_exit, self.server.force_exit = True, self.forced

    def join(self, timeout: float | None) -> None:
        self._thread.join(timeout)


class InProcessEngine:
    zones: Sequence[str] = (LOCAL_ZONE,)

    def __init__(self, host: str = "") -> None:
        self.host = host  # as LocalEngine's: TCP on this address, with a secret each; empty: Unix sockets
        self.instances: dict[str, InstanceThread] = {}
        self._on_exit: Callable[[], None] = lambda: None

    async def start_job(self, spec: JobSpec) -> LocalJob:
        return await start_local(spec)  # jobs are processes of their own, whatever runs the instances

    def warm(self) -> None:
        pass  # instances are threads of this process: nothing to prepare

    def watch(self, callback: Callable[[], None]) -> None:
        self._on_exit = callback

    def start(self, spec: InstanceSpec) -> InstanceThread:
        prepare(spec)
        instance = InstanceThread(spec, lambda: self._on_exit(), listen_at(self.host, spec))
        self.instances[spec.instance_id] = instance
        return instance

    def exit_code(self, handle: InstanceThread) -> int | None:
        return handle.code

    async def address(self, handle: InstanceThread) -> Address:
        return handle.address

    def direct(self, handle: Any) -> None:
        return None  # its own thread and event loop: reached through its socket

    async def stop(self, handle: InstanceThread, grace_s: float) -> None:
        handle.stop(force=False)
        await asyncio.to_thread(handle.join, grace_s)
        if handle.code is None:
            handle.stop(force=True)
            await asyncio.to_thread(handle.join, 5)

    def kill_all(self) -> None:
        for instance in self.instances.values():
            instance.stop(force=True)
        for instance in self.instances.values():
            instance.join(5)
        self.instances.clear()

    def close(self) -> None:
        self.kill_all()
