"""Pooled keep-alive HTTP/1.1 connections to model instances, parsed with httptools.

The router sits on the hot path of every invocation, so this is a lean asyncio Protocol rather than a
general-purpose client: one request at a time per connection, idle connections reused, timeouts by a
loop timer instead of a task per request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httptools

from homeport.runtime.address import Address


class InstanceUnreachable(Exception):
    """The request never reached the instance (connect failed, or a reused connection was closed)."""


class InstanceDropped(Exception):
    """The instance closed the connection after the request was sent, before a full reply."""


class InstanceTimeout(Exception):
    pass


@dataclass(slots=True)
class Reply:
    status: int
    headers: dict[bytes, bytes]
    body: bytes


@dataclass(slots=True)
class Streamed:
    """A reply whose body comes part by part (InvokeEndpointWithResponseStream): `parts` raises InstanceDropped
    or InstanceTimeout if the body stops short."""

    status: int
    headers: dict[bytes, bytes]
    parts: AsyncIterator[bytes]


class _Connection(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Reply] | None = None
        self.headers: dict[bytes, bytes] = {}
        self.chunks: list[bytes] = []
        self.got_bytes = False
        self.closed = False
        self.keep_alive = True
        self.parts: asyncio.Queue[bytes | Exception | None] | None = None  # a streamed reply's body, as it comes

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(InstanceDropped(f"unreadable reply from the instance: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.got_bytes or self.waiter is None:
            self._fail(InstanceDropped("the instance closed the connection before it replied in full"))
        else:
            self._fail(InstanceUnreachable("the connection was closed before the instance read the request"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        waiter = self.waiter
        if self.parts is not None and waiter is not None and not waiter.done():
            waiter.set_result(Reply(self.parser.get_status_code(), self.headers, b""))

    def on_body(self, body: bytes) -> None:
        if self.parts is not None:
            self.parts.put_nowait(body)
        else:
            self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        if self.parts is not None:
            self.parts.put_nowait(None)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            body = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
            waiter.set_result(Reply(self.parser.get_status_code(), self.headers, body))

    def _fail(self, exc: Exception) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self.parts is not None:
            self.parts.put_nowait(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def request(self, head: bytes, body: bytes, timeout: float) -> Reply:
        assert self.transport is not None
        self.headers = {}
        self.chunks = []
        self.got_bytes = False
        waiter = self.waiter = self.loop.create_future()
        timer = self.loop.call_later(timeout, self._fail, InstanceTimeout())
        self.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.transport.write(body)
        try:
            return await waiter
        finally:
            timer.cancel()
            self.waiter = None

    async def stream(self, head: bytes, body: bytes, timeout: float) -> Streamed:
        """Send the request; the reply once its head is in, its body to be read part by part."""
        assert self.transport is not None
        self.headers = {}
        self.parts = asyncio.Queue()
        waiter = self.waiter = self.loop.create_future()
        timer = self.loop.call_later(timeout, self._fail, InstanceTimeout())
        self.transport.write(head + body)
        try:
            reply = await waiter
        finally:
            timer.cancel()
            self.waiter = None
        return Streamed(reply.status, reply.headers, self._parts(timeout))

    async def _parts(self, timeout: float) -> AsyncIterator[bytes]:
        assert self.parts is not None
        while True:
            try:
                part = await asyncio.wait_for(self.parts.get(), timeout)  # the most a model may pause
            except TimeoutError:
                raise InstanceTimeout() from None
            if part is None:
                return
            if isinstance(part, Exception):
                raise part
            yield part


class InstanceClient:
    """Requests to one instance over a pool of keep-alive connections to its address (a Unix socket, or TCP with
    the instance's secret on every request)."""

    def __init__(self, address: Address, max_idle: int = 64) -> None:
        self.address = address
        self.max_idle = max_idle
        self.idle: list[_Connection] = []
        self.outstanding = 0

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            if self.address.path:
                _, conn = await loop.create_unix_connection(lambda: _Connection(loop), self.address.path)
            else:  # asyncio sets TCP_NODELAY: a request's head and body are not held back
                _, conn = await loop.create_connection(lambda: _Connection(loop), self.address.host, self.address.port)
        except OSError as exc:
            raise InstanceUnreachable(f"cannot connect to the instance: {exc}") from exc
        return conn

    async def request(
        self,
        method: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes = b"",
        timeout: float = 60.0,
        chunked: bool = False,
    ) -> Reply:
        """One request; `chunked` sends the body with chunked transfer encoding (batch transform's
        MaxPayloadInMB 0 promises the container that)."""
        self.outstanding += 1
        try:
            if chunked:
                head = self._head(method, path, [*headers, ("transfer-encoding", "chunked")], None)
                body = _chunked(body)
            else:
                head = self._head(method, path, headers, len(body))
            while self.idle:
                conn = self.idle.pop()
                if conn.closed:
                    continue
                try:
                    return self._release(conn, await conn.request(head, body, timeout))
                except InstanceUnreachable:
                    continue  # a stale pooled connection: try the next one
                except BaseException:
                    conn.close()
                    raise
            conn = await self._connect()
            try:
                return self._release(conn, await conn.request(head, body, timeout))
            except BaseException:
                conn.close()
                raise
        finally:
            self.outstanding -= 1

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes, timeout: float
    ) -> AsyncIterator[Streamed]:
        """One request whose reply is read as it comes, on a connection of its own (closed after)."""
        self.outstanding += 1
        conn = None
        try:
            conn = await self._connect()
            yield await conn.stream(self._head(method, path, headers, len(body)), body, timeout)
        finally:
            self.outstanding -= 1
            if conn is not None:
                conn.close()

    def _head(self, method: str, path: str, headers: list[tuple[str, str]], length: int | None) -> bytes:
        lines = [f"{method} {path} HTTP/1.1\r\nhost: instance\r\n{self.address.header}"]
        if length is not None:
            lines.append(f"content-length: {length}\r\n")
        lines.extend(f"{k}: {v}\r\n" for k, v in headers)
        lines.append("\r\n")
        return "".join(lines).encode("latin-1")

    def _release(self, conn: _Connection, reply: Reply) -> Reply:
        if conn.keep_alive and not conn.closed and len(self.idle) < self.max_idle:
            self.idle.append(conn)
        else:
            conn.close()
        return reply

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


def _chunked(body: bytes, size: int = 1 << 20) -> bytes:
    view = memoryview(body)
    pieces: list[bytes | memoryview] = []
    for start in range(0, len(view), size):
        piece = view[start : start + size]
        pieces.extend((b"%x\r\n" % len(piece), piece, b"\r\n"))
    pieces.append(b"0\r\n\r\n")
    return b"".join(pieces)
