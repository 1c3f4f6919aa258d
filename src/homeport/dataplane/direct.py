"""Requests to an instance served in this process (`HOMEPORT_INSTANCE_MODE=inline`): its container-contract app is
called directly, with no socket, no HTTP to write or parse, and no second process to wake.

The same interface as `InstanceClient`, so the router, the health checks, async inference and batch transform use
either without knowing which.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from homeport.core.waiting import within
from homeport.dataplane.connection import InstanceDropped, InstanceTimeout, InstanceUnreachable, Reply, Streamed


class DirectClient:
    def __init__(self, app: Callable[[], Any]) -> None:
        self._app = app  # the instance's ASGI app, None until its model has loaded
        self.outstanding = 0

    async def request(
        self,
        method: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes = b"",
        timeout: float = 60.0,
        chunked: bool = False,  # the body is handed over whole, however a socket would frame it
    ) -> Reply:
        app = self._app()
        if app is None:
            raise InstanceUnreachable("the instance is still loading its model")
        self.outstanding += 1
        try:
            return await within(_call(app, method, path, headers, body), timeout)
        except TimeoutError:
            raise InstanceTimeout() from None
        finally:
            self.outstanding -= 1

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes, timeout: float
    ) -> AsyncIterator[Streamed]:
        """The app called in a task of its own; its reply's parts handed over as it sends them."""
        app = self._app()
        if app is None:
            raise InstanceUnreachable("the instance is still loading its model")
        loop = asyncio.get_running_loop()
        head: asyncio.Future[tuple[int, dict[bytes, bytes]]] = loop.create_future()
        parts: asyncio.Queue[bytes | Exception | None] = asyncio.Queue()

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                head.set_result((message["status"], {bytes(k).lower(): bytes(v) for k, v in message["headers"]}))
            elif message["type"] == "http.response.body":
                parts.put_nowait(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    parts.put_nowait(None)

        def ended(task: asyncio.Task[None]) -> None:
            failure = None if task.cancelled() else task.exception()
            if failure is None and head.done():
                return  # a whole reply: its end is queued already
            problem = InstanceDropped(f"the instance ended its reply early{f': {failure}' if failure else ''}")
            if not head.done():
                head.set_exception(problem)
            parts.put_nowait(problem)

        self.outstanding += 1
        task = loop.create_task(app(_scope(method, path, headers, body), _receiver(body), send))
        task.add_done_callback(ended)
        try:
            try:
                status, reply_headers = await within(asyncio.shield(head), timeout)
            except TimeoutError:
                raise InstanceTimeout() from None
            yield Streamed(status, reply_headers, _drain(parts, timeout))
        finally:
            self.outstanding -= 1
            task.cancel()

    def close(self) -> None:
        pass  # no connections to close


async def _drain(parts: asyncio.Queue[bytes | Exception | None], timeout: float) -> AsyncIterator[bytes]:
    while True:
        try:
            part = await within(parts.get(), timeout)
        except TimeoutError:
            raise InstanceTimeout() from None
        if part is None:
            return
        if isinstance(part, Exception):
            raise part
        if part:
            yield part


def _scope(method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> dict[str, Any]:
    raw = [(b"content-length", str(len(body)).encode()), *((k.lower().encode(), v.encode()) for k, v in headers)]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw,
        "client": None,
        "server": None,
    }


def _receiver(body: bytes) -> Callable[[], Any]:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # a second receive waits for a disconnect that never comes
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _call(app: Any, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> Reply:
    status, reply_headers, chunks, done = 0, {}, [], False

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, reply_headers, done
        if message["type"] == "http.response.start":
            status = message["status"]
            reply_headers = {bytes(k).lower(): bytes(v) for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
            done = not message.get("more_body", False)

    await app(_scope(method, path, headers, body), _receiver(body), send)
    if not status or not done:
        raise InstanceDropped("the instance ended its reply early")
    return Reply(status, reply_headers, b"".join(chunks))
