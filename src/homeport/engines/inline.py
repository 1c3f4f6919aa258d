"""Instances served from the server's own event loop (`HOMEPORT_INSTANCE_MODE=inline`).

Each instance loads its model (in a worker thread, so the server keeps answering). The data plane, batch transform
and the health checks then call its container app directly (`dataplane/direct.py`, through `direct()`); it also
serves the contract on its Unix socket from the server's event loop, for the async payloads that stream to it from a
worker thread. What goes away is the second process. At one connection a request through a separate
instance switches the core between two interpreters four times, each running with the other's data in the caches
(bench/README.md, peers.py); inline, one interpreter does the whole request.

What it gives up is isolation, which is why it is not the default: the model shares the server's memory, its CPU
time and its event loop (a slow prediction delays every other request), and a model or `inference.py` that crashes
the interpreter takes the server with it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from homeport.core.waiting import within
from homeport.engines.base import LOCAL_ZONE, InstanceSpec, prepare
from homeport.engines.jobs import JobSpec, LocalJob, start_local
from homeport.runtime.__main__ import container_app, server_config
from homeport.runtime.address import Address
from homeport.runtime.environment import ContainerEnvironment
from homeport.runtime.errors import ModelLoadError
from homeport.runtime.images import Runtime

log = logging.getLogger(__name__)


class InlineInstance:
    """One instance: its model loads in a thread, then it listens on its socket in this loop. `code` is None while
    it loads or serves."""

    def __init__(self, spec: InstanceSpec, on_exit: Callable[[], None]) -> None:
        self.spec = spec
        self.code: int | None = None
        self.server: Any = None
        self.app: Any = None  # the container-contract app, once the model has loaded
        self.pool: ThreadPoolExecutor | None = None
        self._on_exit = on_exit
        self.task = asyncio.get_running_loop().create_task(self._serve(), name=f"homeport-{spec.instance_id}")

    async def _serve(self) -> None:
        import uvicorn

        spec = self.spec
        try:
            env = ContainerEnvironment.from_environ({**os.environ, **spec.environment})
        except ValueError as exc:
            return self._end(2, f"homeport.runtime: {exc}")
        self.pool = ThreadPoolExecutor(env.workers, thread_name_prefix=f"homeport-{spec.instance_id}")
        try:
            app = await asyncio.to_thread(
                container_app, Runtime(spec.runtime), spec.model_dir.resolve(), env, self.pool
            )
        except ModelLoadError as exc:
            return self._end(1, f"homeport.runtime: {exc}")
        self.app = app
        try:
            config = server_config(app, env, uds=str(spec.socket_path))
            config.load()
            server = uvicorn.Server(config)
            server.lifespan = config.lifespan_class(config)  # "off": the contract has no lifespan events
            await server.startup()  # listens; no signal handlers, no main loop of its own: the server's loop runs it
        except (
            Exception
        ) as exc:  # cannot listen (the socket's directory went, say): the instance ends, as a process would
            return self._end(1, f"homeport.runtime: {type(exc).__name__}: {exc}")
        self.server = server

    def _end(self, code: int, line: str | None = None) -> None:
        if line:
            with open(self.spec.log_path, "a") as out:
                out.write(line + "\n")
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        if self.code is None:
            self.code = code
            self._on_exit()

    async def stop(self, grace_s: float) -> None:
        if not self.task.done():
            self.task.cancel()  # still loading: the load's thread finishes on its own, its result unused
        if self.server is not None:
            self.server.should_exit = True
            try:
                await within(self.server.shutdown(), grace_s)
            except TimeoutError:
                self.server.force_exit = True
        self._end(0)


class InlineEngine:
    zones: Sequence[str] = (LOCAL_ZONE,)

    def __init__(self) -> None:
        self.instances: dict[str, InlineInstance] = {}
        self._on_exit: Callable[[], None] = lambda: None

    async def start_job(self, spec: JobSpec) -> LocalJob:
        return await start_local(spec)  # jobs are processes of their own, whatever runs the instances

    def warm(self) -> None:
        pass  # nothing to prepare: the model loads into this process

    def watch(self, callback: Callable[[], None]) -> None:
        self._on_exit = callback

    def start(self, spec: InstanceSpec) -> InlineInstance:
        prepare(spec)
        instance = InlineInstance(spec, lambda: self._on_exit())
        self.instances[spec.instance_id] = instance
        return instance

    def exit_code(self, handle: InlineInstance) -> int | None:
        return handle.code

    async def address(self, handle: InlineInstance) -> Address:
        return Address.unix(handle.spec.socket_path)

    def direct(self, handle: InlineInstance) -> Callable[[], Any]:
        return lambda: handle.app if handle.code is None else None

    async def stop(self, handle: InlineInstance, grace_s: float) -> None:
        await handle.stop(grace_s)
        self.instances.pop(handle.spec.instance_id, None)

    def kill_all(self) -> None:
        for instance in self.instances.values():
            instance.task.cancel()
            if instance.server is not None:
                for server in instance.server.servers:
                    server.close()
            instance._end(-9)
        self.instances.clear()

    def close(self) -> None:
        self.kill_all()
