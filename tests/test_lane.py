"""The lane: blocking calls run on its one thread, in order, with their results or errors back on the loop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from homeport.lane import Lane


def test_calls_run_in_order_on_the_lanes_thread_and_errors_reach_their_caller() -> None:
    lane = Lane("test-lane")
    seen: list[tuple[int, str]] = []

    def work(i: int) -> int:
        seen.append((i, threading.current_thread().name))
        if i == 3:
            raise ValueError("three")
        time.sleep(0.001)
        return i * 10

    async def main() -> list[object]:
        return await asyncio.gather(*(lane.run(work, i) for i in range(8)), return_exceptions=True)

    results = asyncio.run(main())
    assert [r for i, r in enumerate(results) if i != 3] == [0, 10, 20, 40, 50, 60, 70]
    assert isinstance(results[3], ValueError) and str(results[3]) == "three"
    assert [i for i, _ in seen] == list(range(8))
    assert {name for _, name in seen} == {"test-lane"}


def test_a_cancelled_caller_does_not_break_the_lane() -> None:
    lane = Lane("test-lane")
    release = threading.Event()

    async def main() -> int:
        slow = asyncio.ensure_future(lane.run(release.wait, 5))
        await asyncio.sleep(0.01)
        slow.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await slow
        return await lane.run(lambda: 42)

    assert asyncio.run(main()) == 42
