"""Response writes made in one loop step leave in one send; nothing written is lost or reordered."""

from __future__ import annotations

import asyncio
from typing import Any

from homeport.runtime.transport import CoalescingTransport


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


def coalescing() -> tuple[FakeTransport, CoalescingTransport]:
    fake = FakeTransport()
    return fake, CoalescingTransport(fake, asyncio.get_running_loop())  # type: ignore[arg-type]


def test_head_and_body_leave_together() -> None:
    async def scenario() -> None:
        fake, transport = coalescing()
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        transport.write(b"ok")
        assert fake.writes == [] and transport.get_write_buffer_size() == 40
        await asyncio.sleep(0)
        assert fake.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
        transport.write(b"next")
        await asyncio.sleep(0)
        assert fake.writes[1:] == [b"next"]

    asyncio.run(scenario())


def test_close_sends_what_was_written_first_and_abort_drops_it() -> None:
    async def scenario() -> None:
        fake, transport = coalescing()
        transport.write(b"bye")
        transport.close()
        assert fake.writes == [b"bye"] and fake.closed
        await asyncio.sleep(0)
        assert fake.writes == [b"bye"]  # the scheduled flush finds nothing left

        fake, transport = coalescing()
        transport.write(b"lost")
        transport.abort()
        await asyncio.sleep(0)
        assert fake.writes == [] and fake.aborted

    asyncio.run(scenario())


def test_other_calls_reach_the_real_transport() -> None:
    async def scenario() -> None:
        _, transport = coalescing()
        assert transport.get_extra_info("peername") == ("127.0.0.1", 1)
        assert transport.is_closing() is False

    asyncio.run(scenario())


def test_big_writes_are_not_held() -> None:
    async def scenario() -> None:
        fake, transport = coalescing()
        for _ in range(40):
            transport.write(b"x" * 4096)
        assert sum(map(len, fake.writes)) >= 160 * 1024 - 64 * 1024  # at most one hold's worth waits
        assert transport.get_write_buffer_size() < 64 * 1024
        await asyncio.sleep(0)
        assert sum(map(len, fake.writes)) == 40 * 4096

    asyncio.run(scenario())
