"""A cancel that comes in the tick the awaited thing finishes is never lost (Python 3.11's wait_for loses it: a
controller loop then outlives its cancel, and the server's shutdown, which gathers the loops, waits forever)."""

from __future__ import annotations

import asyncio

import pytest

from homeport.controllers.loop import Loop
from homeport.core.waiting import event_within, within


@pytest.mark.parametrize("ticks", [0, 1, 2, 3])
def test_a_loop_woken_and_cancelled_in_one_tick_ends(ticks: int) -> None:
    async def scenario() -> bool:
        loop = Loop("test")
        task = asyncio.create_task(loop.run(lambda: None, lambda: 30.0))
        for _ in range(ticks):
            await asyncio.sleep(0)
        loop.wake()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2)
        return bool(done) and task.cancelled()

    assert all(asyncio.run(scenario()) for _ in range(20))


def test_within_answers_times_out_and_cancels_what_it_waited_for() -> None:
    async def scenario() -> None:
        assert await within(asyncio.sleep(0, result=7), 1) == 7
        slow = asyncio.ensure_future(asyncio.sleep(30))
        with pytest.raises(TimeoutError):
            await within(slow, 0.01)
        assert slow.cancelled()
        event = asyncio.Event()
        assert not await event_within(event, 0.01)
        asyncio.get_running_loop().call_later(0.01, event.set)
        assert await event_within(event, 5)

    asyncio.run(scenario())


def test_within_raises_what_the_awaited_thing_raised() -> None:
    async def fails() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        asyncio.run(within(fails(), 1))
