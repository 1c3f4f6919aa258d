"""One invocation whose payload streams from a file to the instance, and whose reply streams on to a sink.

For async requests up to 1 GB: neither side is ever whole in homeport's memory. It runs in a worker thread
with a blocking client (http.client to the instance's address), so the event loop never waits on it,
and maps its failures onto the router's: InstanceUnreachable (never reached the instance), InstanceDropped
(the instance went away after it got the request), InstanceTimeout.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from homeport.dataplane.connection import InstanceDropped, InstanceTimeout, InstanceUnreachable
from homeport.runtime.address import SECRET_HEADER, Address

BLOCK = 1 << 20


@dataclass(frozen=True)
class StreamedReply:
    status: int
    content_type: str
    error: bytes  # the start of a reply that was not 2xx; a 2xx reply went to the sink


class _InstanceConnection(http.client.HTTPConnection):
    def __init__(self, address: Address, timeout: float) -> None:
        super().__init__("instance", timeout=timeout, blocksize=BLOCK)
        self.address = address

    def connect(self) -> None:
        self.sock = self.address.connect(self.timeout)


def invoke_streaming(
    address: Address,
    headers: list[tuple[str, str]],
    body: BinaryIO,
    length: int,
    timeout: float,
    sink: Callable[[Iterator[bytes], str], None],
) -> StreamedReply:
    """POST /invocations with `length` bytes read from `body`; a 2xx reply's chunks go to `sink(chunks, type)`.
    `timeout` bounds the whole exchange: sending, waiting and reading (an instance that reads or answers a
    trickle at a time cannot stretch it)."""
    deadline = _Deadline(timeout)
    conn = _InstanceConnection(address, timeout)
    try:
        try:
            conn.connect()
        except OSError as exc:
            raise InstanceUnreachable(f"cannot connect to the instance: {exc}") from exc
        try:
            timed = _TimedBody(body, conn, deadline)
            sent = {**dict(headers), "Content-Length": str(length)}
            if address.secret:
                sent[SECRET_HEADER] = address.secret
            conn.request("POST", "/invocations", timed, sent)
            deadline.arm(conn.sock)
            reply = conn.getresponse()
            content_type = reply.getheader("Content-Type") or "application/octet-stream"
            if not 200 <= reply.status < 300:
                return StreamedReply(reply.status, content_type, reply.read(4096))
        except (OSError, http.client.HTTPException) as exc:
            raise _instance_error(exc) from exc
        try:
            sink(_chunks(reply, conn, deadline), content_type)  # the sink's own errors (writing) pass as they are
        except _ReadFailed as failed:
            raise _instance_error(failed.error) from failed.error
        return StreamedReply(reply.status, content_type, b"")
    finally:
        conn.close()


class _Deadline:
    """The invocation's whole time: each blocking step on the socket may wait only for what is left of it."""

    def __init__(self, timeout: float) -> None:
        self.at = time.monotonic() + timeout

    def arm(self, sock: socket.socket | None) -> None:
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError("the invocation took longer than its timeout")
        if sock is not None:
            sock.settimeout(left)


class _TimedBody:
    """The payload, as http.client reads it block by block to send it: each block's send gets what time is
    left."""

    def __init__(self, body: BinaryIO, conn: http.client.HTTPConnection, deadline: _Deadline) -> None:
        self.body, self.conn, self.deadline = body, conn, deadline

    def read(self, size: int = -1) -> bytes:
        self.deadline.arm(self.conn.sock)
        return self.body.read(size)


class _ReadFailed(Exception):
    def __init__(self, error: Exception) -> None:
        self.error = error


def _chunks(reply: http.client.HTTPResponse, conn: http.client.HTTPConnection, deadline: _Deadline) -> Iterator[bytes]:
    """The reply's body; a failure to read it (the instance went away, or is too slow) is a _ReadFailed."""
    while True:
        try:
            deadline.arm(conn.sock)
            chunk = reply.read1(BLOCK)  # one receive at most, so that no read outlasts the deadline
            if not chunk and reply.length:  # the instance closed before sending its Content-Length
                raise http.client.IncompleteRead(b"", reply.length)
        except (OSError, http.client.HTTPException) as exc:
            raise _ReadFailed(exc) from exc
        if not chunk:
            return
        yield chunk


def _instance_error(exc: Exception) -> Exception:
    if isinstance(exc, TimeoutError):
        return InstanceTimeout()
    return InstanceDropped(f"the instance closed the connection before it replied in full: {exc}")
