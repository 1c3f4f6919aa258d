"""A variant's route during a blue/green deployment: the new fleet takes its share of the requests."""

from __future__ import annotations

import random
from pathlib import Path

from homeport.dataplane.instances import Instance, InstanceState
from homeport.dataplane.router import VariantRoute


def fleet(config: str, n: int, state: InstanceState = InstanceState.HEALTHY) -> list[Instance]:
    out = []
    for i in range(n):
        inst = Instance(f"{config}-{i}", "e", config, "v1", 0.0, Path(f"/tmp/{config}{i}.sock"), Path("/tmp/log"))
        inst.state = state
        out.append(inst)
    return out


def test_the_new_fleet_takes_its_share() -> None:
    random.seed(7)
    blue, green = fleet("blue", 2), fleet("green", 2)
    route = VariantRoute("v1", 1.0, blue, green, 0.25)
    picks = [route.pool() is green for _ in range(4000)]
    assert 0.22 < sum(picks) / len(picks) < 0.28
    assert VariantRoute("v1", 1.0, blue, green, 1.0).pool() is green
    assert VariantRoute("v1", 1.0, blue, green, 0.0).pool() is blue


def test_a_new_fleet_with_no_healthy_instance_leaves_the_request_on_the_old() -> None:
    blue, green = fleet("blue", 1), fleet("green", 1, InstanceState.UNHEALTHY)
    assert VariantRoute("v1", 1.0, blue, green, 1.0).pool() is blue
