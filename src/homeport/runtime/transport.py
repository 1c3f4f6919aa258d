"""uvicorn's httptools protocol with its response writes coalesced into one send.

uvicorn writes a response's status line and headers (`http.response.start`) and its body
(`http.response.body`) with two `transport.write` calls. On a keep-alive loopback connection each is a
`send(2)`, and the peer usually wakes for the first, parses a head without a body, sleeps, and wakes
again for the second. For a single-record prediction that second wake-up is a sizeable share of a
hop. Here the writes an ASGI task makes in one step of the event loop are held and sent together once
that step ends (`call_soon`), so a response normally leaves as one segment.

The protocol also closes a connection whose response went out before its request body was read (an
upload refused early): uvicorn would keep it open and read the unread body as the next request.

Used by both the server's front door and the instances' model servers (`http=HttpProtocol`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_HOLD_BYTES = 64 * 1024


class CoalescingTransport:
    """Delegates to a real transport; `write`s wait for the end of the current loop step."""

    __slots__ = ("_held", "_loop", "_size", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))
        self._size += len(data)
        if self._size >= _HOLD_BYTES:
            # A streaming reply may write many chunks without yielding: hand them over now, so that the
            # real transport's buffer limits (and uvicorn's flow control) see them.
            self.flush()

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        if not self._held:
            return
        held, self._held, self._size = self._held, [], 0
        if not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._size

    def close(self) -> None:
        self.flush()  # what was written before close() still goes out, as with any transport
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held, self._size = [], 0
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, pause_reading, …
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

    def on_response_complete(self) -> None:
        if self.cycle is not None and self.cycle.more_body and not self.transport.is_closing():
            # Answered before the request body ended (an upload refused early). The rest of that body may
            # never come (a client that sent `Expect: 100-continue` gives up on it) or may be gigabytes:
            # either way the connection cannot carry another request, so it ends here, as HTTP allows.
            self.transport.close()
        super().on_response_complete()
