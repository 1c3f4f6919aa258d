"""Requests to an instance served in this process (`HOMEPORT_INSTANCE_MODE=inline`): its container-contract app is
called directly, with no socket, no HTTP to write or parse, and no second process to wake.

The same interface as `InstanceClient`, so the router, the health checks, async inference and batch transform use
either without knowing which.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from homeport.dataplane.connection import InstanceDropped, InstanceTimeout, InstanceUnreachable, Reply


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
            return await asyncio.wait_for(_call(app, method, path, headers, body), timeout)
        except TimeoutError:
            raise InstanceTimeout() from None
        finally:
            self.outstanding -= 1

    def close(self) -> None:
        pass  # no connections to close


async def _call(app: Any, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> Reply:
    raw = [(b"content-length", str(len(body)).encode()), *((k.lower().encode(), v.encode()) for k, v in headers)]
    scope = {
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
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # a second receive waits for a disconnect that never comes
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    status, reply_headers, chunks, done = 0, {}, [], False

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, reply_headers, done
        if message["type"] == "http.response.start":
            status = message["status"]
            reply_headers = {bytes(k).lower(): bytes(v) for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
            done = not message.get("more_body", False)

    await app(scope, receive, send)
    if not status or not done:
        raise InstanceDropped("the instance ended its reply early")
    return Reply(status, reply_headers, b"".join(chunks))
