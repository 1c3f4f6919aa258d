"""A serverless variant's size, tick by tick: from zero on demand, held while busy, to zero once idle, never below
its provisioned concurrency nor above its MaxConcurrency. No processes, no sleeping."""

from __future__ import annotations

from typing import Any

from homeport.controllers.endpoint_plan import EndpointView, Promote, StartInstance, StopInstance, plan
from homeport.controllers.serverless_plan import Demand, Policy, fleet_size, instances_for, provisioned
from homeport.core.states import EndpointStatus as S
from homeport.dataplane.instances import InstanceState
from tests.controllers.test_endpoint_plan import inst, kinds

POLICY = Policy(idle_s=60.0, per_instance=4)
TIMEOUT = 240.0


def serverless(max_concurrency: int = 10, provisioned_concurrency: int | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"MemorySizeInMB": 2048, "MaxConcurrency": max_concurrency}
    if provisioned_concurrency is not None:
        config["ProvisionedConcurrency"] = provisioned_concurrency
    return config


def deployment(config: dict[str, Any]) -> dict[str, Any]:
    variant = {
        "VariantName": "v1",
        "Serverless": config,
        "Count": 0,
        "Weight": 1.0,
        "Container": {"Image": "x"},
        "Runtime": "xgboost",
    }
    return {"config": "c1", "variants": [variant]}


def busy(in_flight: int, peak: int | None = None) -> Demand:
    return Demand(in_flight, in_flight if peak is None else peak, None)


def quiet(since: float, peak: int = 1) -> Demand:
    return Demand(0, peak, since)


def test_instances_for_concurrency() -> None:
    assert [instances_for(n, 4) for n in (0, 1, 4, 5, 8, 9)] == [0, 1, 1, 2, 2, 3]
    assert provisioned(serverless(), 4) == 0
    assert provisioned(serverless(10, 5), 4) == 2


def test_no_demand_no_instances() -> None:
    assert fleet_size(serverless(), None, 0, 0.0, POLICY) == 0
    assert fleet_size(serverless(), quiet(since=0.0, peak=0), 0, 100.0, POLICY) == 0


def test_requests_in_flight_start_instances_up_to_max_concurrency() -> None:
    assert fleet_size(serverless(), busy(1), 0, 0.0, POLICY) == 1
    assert fleet_size(serverless(), busy(5), 1, 0.0, POLICY) == 2
    assert fleet_size(serverless(max_concurrency=10), busy(40), 2, 0.0, POLICY) == 3  # ceil(10 / 4)


def test_held_while_not_idle_then_zero_after_the_idle_period() -> None:
    # The last request ended at t=10: the instance stays until t=70, then goes.
    assert fleet_size(serverless(), quiet(since=10.0), 1, 30.0, POLICY) == 1
    assert fleet_size(serverless(), quiet(since=10.0), 1, 69.9, POLICY) == 1
    assert fleet_size(serverless(), quiet(since=10.0), 1, 70.0, POLICY) == 0


def test_scale_in_to_the_recent_peak_while_busy() -> None:
    # Three instances ran 12 at once; the recent peak is now 5: two are enough.
    assert fleet_size(serverless(20), busy(2, peak=5), 3, 0.0, POLICY) == 2
    # What is held never exceeds what runs: a peak does not start instances by itself.
    assert fleet_size(serverless(20), busy(1, peak=12), 1, 0.0, POLICY) == 1


def test_provisioned_concurrency_is_a_floor_even_when_idle() -> None:
    config = serverless(10, provisioned_concurrency=6)
    assert fleet_size(config, None, 0, 0.0, POLICY) == 2
    assert fleet_size(config, quiet(since=0.0), 2, 1000.0, POLICY) == 2
    assert fleet_size(config, busy(10), 2, 0.0, POLICY) == 3


def test_endpoint_plan_sizes_a_serverless_fleet_from_its_gate() -> None:
    target = deployment(serverless())
    creating = EndpointView("e", S.CREATING, target, None)
    assert plan([creating], [], 0.0, TIMEOUT, POLICY) == [Promote("e")]  # nothing to start: in service at once

    def view(demand: Demand | None) -> EndpointView:
        return EndpointView("e", S.IN_SERVICE, target, target, demand={("c1", "v1"): demand} if demand else {})

    assert plan([view(None)], [], 1.0, TIMEOUT, POLICY) == []
    started = plan([view(busy(1))], [], 2.0, TIMEOUT, POLICY)
    assert kinds(started) == ["StartInstance"]
    assert isinstance(started[0], StartInstance) and started[0].variant["VariantName"] == "v1"
    starting = inst(1, state=InstanceState.STARTING, started=2.0)
    assert plan([view(busy(1))], [starting], 2.1, TIMEOUT, POLICY) == []
    assert plan([view(quiet(since=3.0))], [inst(1)], 62.9, TIMEOUT, POLICY) == []
    assert plan([view(quiet(since=3.0))], [inst(1)], 63.0, TIMEOUT, POLICY) == [StopInstance("i1", "scale in")]


def test_provisioned_fleet_must_be_healthy_before_the_endpoint_is_in_service() -> None:
    target = deployment(serverless(10, provisioned_concurrency=4))
    creating = EndpointView("e", S.CREATING, target, None)
    assert kinds(plan([creating], [], 0.0, TIMEOUT, POLICY)) == ["StartInstance"]
    assert plan([creating], [inst(1, state=InstanceState.STARTING)], 0.5, TIMEOUT, POLICY) == []
    assert plan([creating], [inst(1)], 1.0, TIMEOUT, POLICY) == [Promote("e")]


def test_a_cold_start_that_fails_does_not_fail_an_endpoint_in_service() -> None:
    target = deployment(serverless())
    dead = inst(1, state=InstanceState.EXITED, ever_healthy=False)
    dead.failure = "model_fn raised"
    view = EndpointView("e", S.IN_SERVICE, target, target, demand={("c1", "v1"): busy(1)})
    actions = plan([view], [dead], 5.0, TIMEOUT, POLICY)
    assert StopInstance("i1", "model_fn raised") in actions
    assert "FailEndpoint" not in kinds(actions)
