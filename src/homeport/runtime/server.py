"""The SageMaker container contract as a raw ASGI app.

Three paths ([DG:your-algorithms-inference-code]):
- `GET /ping` → 200, empty body. The model is loaded before the server listens, so answering means ready.
- `POST /invocations` → the runtime's `InvocationHandler`. Bodies over the payload limit get 413 before
  they are read in full; an `InvocationError` becomes its status with a plain-text message; anything else
  a handler raises becomes 500 with the exception's type and message. A `MemoryError` under a memory limit
  (`HOMEPORT_MEMORY_LIMIT_MB`) says so, and `out_of_memory` (the process's own stop, when it has one) runs.
- `GET /execution-parameters` → what batch transform may send (`MaxConcurrentTransforms`,
  `BatchStrategy`, `MaxPayloadInMB`).

No framework routing: on the single-record path the whole app costs a few microseconds per request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from homeport.runtime.errors import InvocationError, PayloadTooLarge

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CUSTOM_ATTRIBUTES = "x-amzn-sagemaker-custom-attributes"
_CUSTOM_ATTRIBUTES = CUSTOM_ATTRIBUTES.encode()

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Invocation:
    body: bytes
    content_type: str | None = None
    accept: str | None = None
    custom_attributes: str | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)  # as received, names lower-case


@dataclass(slots=True)
class Reply:
    body: bytes = b""
    content_type: str | None = None
    status: int = 200
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    # A reply that streams (user code returned a generator): sent chunked, each part as it comes. A failure
    # part-way cuts the connection, the only way HTTP/1.1 has to say the body is not whole.
    stream: AsyncIterator[bytes] | None = None


class InvocationHandler(Protocol):
    async def invoke(self, invocation: Invocation) -> Reply: ...


_TEXT = b"text/plain; charset=utf-8"
_PING_START: Message = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]}
_EMPTY: Message = {"type": "http.response.body", "body": b""}


class ContainerApp:
    def __init__(
        self,
        handler: InvocationHandler,
        *,
        max_payload_bytes: int,
        workers: int,
        max_payload_mb: int,
        memory_limit_mb: int = 0,
    ):
        self.handler = handler
        self.max_payload_bytes = max_payload_bytes
        self.memory_limit_mb = memory_limit_mb
        self.out_of_memory: Callable[[], None] | None = None
        self._execution_parameters = json.dumps(
            {
                "MaxConcurrentTransforms": workers,
                "BatchStrategy": "MULTI_RECORD",
                "MaxPayloadInMB": max_payload_mb,
            }
        ).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await not_http(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if path == "/invocations":
            if method == "POST":
                await self._invocations(scope, receive, send)
            else:
                await text(send, 405, "use POST /invocations", [(b"allow", b"POST")])
        elif path == "/ping":
            if method in ("GET", "HEAD"):
                await send(_PING_START)
                await send(_EMPTY)
            else:
                await text(send, 405, "use GET /ping", [(b"allow", b"GET")])
        elif path == "/execution-parameters" and method == "GET":
            await reply(send, Reply(self._execution_parameters, "application/json"))
        else:
            await text(send, 404, f"no such path: {method} {path}; this container serves /ping and /invocations")

    async def _invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        content_type, accept, custom, length = invocation_headers(headers)
        try:
            body = await read_body(receive, self.max_payload_bytes, length)
            if body is None:
                return  # the client went away
            answer = await self.handler.invoke(Invocation(body, content_type, accept, custom, headers))
        except InvocationError as exc:
            await text(send, exc.status, exc.message)
            return
        except Exception as exc:
            if isinstance(exc, MemoryError) and self.memory_limit_mb:
                await self._out_of_memory(send)
                return
            log.exception("invocation failed")
            await text(send, 500, f"{type(exc).__name__}: {exc}")
            return
        await reply(send, answer)

    async def _out_of_memory(self, send: Send) -> None:
        log.error("out of memory: over the %d MB limit", self.memory_limit_mb)
        message = (
            f"The model ran out of memory: this instance may use at most {self.memory_limit_mb} MB "
            "(ServerlessConfig.MemorySizeInMB). The instance is stopped; give the variant more memory."
        )
        await text(send, 500, message)
        if self.out_of_memory is not None:
            self.out_of_memory()


def invocation_headers(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None, str | None, int]:
    """Content-Type, Accept, the custom attributes and Content-Length (-1 when absent) of a request."""
    content_type = accept = custom = None
    length = -1
    for name, value in headers:
        if name == b"content-type":
            content_type = value.decode("latin-1")
        elif name == b"accept":
            accept = value.decode("latin-1")
        elif name == b"content-length":
            length = int(value) if value.isdigit() else -1
        elif name == _CUSTOM_ATTRIBUTES:
            custom = value.decode("latin-1")
    return content_type, accept, custom, length


async def read_body(receive: Receive, limit: int, length: int = -1) -> bytes | None:
    """The whole request body, None when the client went away, PayloadTooLarge (413) past `limit` bytes: refused
    from its Content-Length `length` before any of it is read, or as it comes when chunked."""
    if length > limit:
        raise _too_large(length, limit)
    message = await receive()
    if message["type"] == "http.disconnect":
        return None
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise _too_large(len(body), limit)
        return body
    chunks = [body]
    size = len(body)
    while True:  # chunked or split body: count as it comes so a huge one is refused early
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large(size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"request body of {size} bytes is over the limit of {limit} bytes "
        "(set SAGEMAKER_MAX_PAYLOAD_IN_MB to raise it, or send smaller requests)"
    )


async def reply(send: Send, reply: Reply) -> None:
    if reply.stream is not None:
        await _stream(send, reply, reply.stream)
        return
    # A 204 carries no body and, per RFC 9110, no Content-Length.
    headers = [] if reply.status == 204 else [(b"content-length", str(len(reply.body)).encode())]
    if reply.content_type:
        headers.append((b"content-type", reply.content_type.encode("latin-1")))
    if reply.headers:
        headers.extend(reply.headers)
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


async def _stream(send: Send, reply: Reply, parts: AsyncIterator[bytes]) -> None:
    headers = [(b"content-type", reply.content_type.encode("latin-1"))] if reply.content_type else []
    await send({"type": "http.response.start", "status": reply.status, "headers": headers + reply.headers})
    async for part in parts:
        if part:
            await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def text(send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = message.encode()
    headers = [(b"content-type", _TEXT), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def not_http(scope: Scope, receive: Receive, send: Send) -> None:
    """A scope other than a request: the lifespan protocol is acknowledged, anything else ignored."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)


async def lifespan(receive: Receive, send: Send) -> None:
    # Everything is loaded before the server starts; only acknowledge the protocol.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
