"""A serverless variant's gate: MaxConcurrency, the demand it reports, and requests waiting for a cold start."""

from __future__ import annotations

import asyncio

import pytest

from homeport.dataplane.instances import InstanceState
from homeport.dataplane.serverless import MAX_PAYLOAD, ColdStartFailed, Gate, PayloadTooLarge, Throttled
from tests.controllers.test_endpoint_plan import inst


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def gate(max_concurrency: int = 2, clock: Clock | None = None, demand: list[int] | None = None) -> Gate:
    calls = demand if demand is not None else []
    return Gate(max_concurrency, window_s=60.0, clock=clock or Clock(), demand=lambda: calls.append(1))


def test_max_concurrency_refuses_at_once_and_frees_on_leave() -> None:
    g = gate(2)
    g.enter()
    g.enter()
    with pytest.raises(Throttled, match="MaxConcurrency of 2"):
        g.enter()
    assert g.in_flight == 2
    g.leave()
    g.enter()
    assert g.in_flight == 2


def test_a_payload_over_4_mb_is_refused_without_taking_a_slot() -> None:
    g = gate(1)
    with pytest.raises(PayloadTooLarge):
        g.enter(MAX_PAYLOAD + 1)
    g.enter(MAX_PAYLOAD)
    assert g.in_flight == 1


def test_idle_since_and_the_recent_peak_over_windows() -> None:
    clock = Clock()
    g = gate(5, clock)
    assert g.idle_since == 100.0 and g.recent_peak() == 0
    for _ in range(3):
        g.enter()
    assert g.idle_since is None and g.recent_peak() == 3
    for _ in range(3):
        g.leave()
    clock.t = 130.0
    assert g.idle_since == 100.0  # the clock had not moved when they ended
    assert g.recent_peak() == 3
    clock.t = 170.0  # a new window: the last one's peak still counts
    assert g.recent_peak() == 3
    g.enter()
    g.leave()
    clock.t = 231.0  # another: only the window before (peak 1) is remembered
    assert g.recent_peak() == 1
    clock.t = 400.0  # two windows and more without a request: nothing
    assert g.recent_peak() == 0


def test_cold_start_waits_for_the_controller_to_publish_a_healthy_instance() -> None:
    async def scenario() -> None:
        demand: list[int] = []
        g = gate(demand=demand)
        waiter = asyncio.ensure_future(g.cold_start(5.0))
        await asyncio.sleep(0)
        assert demand and not waiter.done()
        g.publish([inst(1, state=InstanceState.STARTING)], 2)  # not healthy yet: still waiting
        await asyncio.sleep(0)
        assert not waiter.done()
        ready = inst(2)
        g.publish([ready], 2)
        assert await waiter is ready
        assert g.waiting == 0

    asyncio.run(scenario())


def test_a_failed_cold_start_fails_only_the_requests_waiting_for_it() -> None:
    async def scenario() -> None:
        g = gate()
        g.fail("nobody waits: ignored")
        first = asyncio.ensure_future(g.cold_start(5.0))
        await asyncio.sleep(0)
        g.fail("instance i1 failed to start: model_fn raised")
        with pytest.raises(ColdStartFailed, match="model_fn raised"):
            await first
        later = asyncio.ensure_future(g.cold_start(5.0))  # a later request starts another
        await asyncio.sleep(0)
        g.publish([inst(3)], 2)
        assert (await later).id == "i3"

    asyncio.run(scenario())


def test_cold_start_gives_up_after_its_timeout() -> None:
    async def scenario() -> None:
        with pytest.raises(ColdStartFailed, match=r"within 0\.01 seconds"):
            await gate().cold_start(0.01)

    asyncio.run(scenario())


def test_publish_updates_the_limit() -> None:
    g = gate(1)
    g.publish([], 3)
    for _ in range(3):
        g.enter()
    with pytest.raises(Throttled):
        g.enter()
