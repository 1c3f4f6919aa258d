"""The metric loop wakes the other controllers when an alarm changes state (a deployment may have to roll back)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from homeport.controllers.metric_loop import MetricLoop
from homeport.core.clock import ManualClock
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store import Store


class Collector:
    async def run_once(self, now: float) -> None:
        pass


class Alarms:
    def __init__(self, changed: list[str]) -> None:
        self.changed = changed

    def run_once(self, now: float) -> list[str]:
        return self.changed


@pytest.mark.parametrize(("changed", "wakes"), [(["errors"], 1), ([], 0)])
def test_a_changed_alarm_wakes_the_controllers(tmp_path: Path, changed: list[str], wakes: int) -> None:
    woken: list[bool] = []
    ctx = Context(Settings(data_dir=tmp_path), Store(f"sqlite:///{tmp_path / 'db.sqlite'}"), ManualClock())
    ctx.wake = lambda: woken.append(True)
    loop = MetricLoop(ctx, Collector(), Alarms(changed), [])  # type: ignore[arg-type]
    asyncio.run(loop.run_once(10.0))
    assert len(woken) == wakes


def test_a_follower_front_door_stores_its_metrics_and_leaves_alarms_and_scaling_to_the_leader(tmp_path: Path) -> None:
    seen: list[str] = []

    class Recording(Collector):
        async def run_once(self, now: float) -> None:
            seen.append("collect")

    class Evaluator(Alarms):
        def run_once(self, now: float) -> list[str]:
            seen.append("alarms")
            return []

    async def scale(now: float) -> None:
        seen.append("scale")

    leading = [False]
    ctx = Context(Settings(data_dir=tmp_path), Store(f"sqlite:///{tmp_path / 'db.sqlite'}"), ManualClock())
    loop = MetricLoop(ctx, Recording(), Evaluator([]), [scale], leading=lambda: leading[0])  # type: ignore[arg-type]
    asyncio.run(loop.run_once(10.0))
    assert seen == ["collect"]
    leading[0] = True  # took the lease over
    asyncio.run(loop.run_once(20.0))
    assert seen == ["collect", "collect", "alarms", "scale"]
