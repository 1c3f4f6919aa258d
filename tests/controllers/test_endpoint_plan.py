"""The endpoint controller's decisions, tick by tick, with no processes and no sleeping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeport.controllers.endpoint_plan import (
    AbortUpdate,
    EndpointView,
    FailEndpoint,
    Forget,
    Promote,
    StartInstance,
    StopInstance,
    plan,
)
from homeport.core.states import EndpointStatus as S
from homeport.dataplane.instances import Instance, InstanceState

TIMEOUT = 240.0


def deployment(config: str, *variants: tuple[str, int, float]) -> dict[str, Any]:
    return {
        "config": config,
        "variants": [
            {"VariantName": name, "Count": count, "Weight": weight, "Container": {"Image": "x"}, "Runtime": "xgboost"}
            for name, count, weight in variants
        ],
    }


def inst(
    n: int,
    config: str = "c1",
    variant: str = "v1",
    state: InstanceState = InstanceState.HEALTHY,
    started: float = 0.0,
    ever_healthy: bool | None = None,
    endpoint: str = "e",
) -> Instance:
    i = Instance(f"i{n}", endpoint, config, variant, started, Path(f"/tmp/{n}.sock"), Path("/tmp/log"))
    i.state = state
    i.ever_healthy = state == InstanceState.HEALTHY if ever_healthy is None else ever_healthy
    return i


def kinds(actions: list[Any]) -> list[str]:
    return [type(a).__name__ for a in actions]


def test_creating_endpoint_starts_every_instance_then_promotes_when_all_healthy() -> None:
    target = deployment("c1", ("v1", 2, 1.0))
    ep = EndpointView("e", S.CREATING, target, None)
    assert kinds(plan([ep], [], 0, TIMEOUT)) == ["StartInstance", "StartInstance"]
    half = [inst(1), inst(2, state=InstanceState.STARTING)]
    assert plan([ep], half, 1, TIMEOUT) == []
    assert plan([ep], [inst(1), inst(2)], 2, TIMEOUT) == [Promote("e")]


def test_in_service_endpoint_at_target_needs_nothing() -> None:
    target = deployment("c1", ("v1", 1, 1.0))
    assert plan([EndpointView("e", S.IN_SERVICE, target, target)], [inst(1)], 5, TIMEOUT) == []


def test_instance_that_exits_before_ping_fails_a_creating_endpoint_with_its_reason() -> None:
    target = deployment("c1", ("v1", 2, 1.0))
    dead = inst(1, state=InstanceState.EXITED)
    dead.failure = "no xgboost-model in /m"
    actions = plan(
        [EndpointView("e", S.CREATING, target, None)], [dead, inst(2, state=InstanceState.STARTING)], 3, TIMEOUT
    )
    assert StopInstance("i1", "no xgboost-model in /m") in actions
    assert StopInstance("i2", "the endpoint failed") in actions
    assert actions[-1] == FailEndpoint("e", "no xgboost-model in /m")


def test_startup_timeout_is_measured_on_the_injected_clock() -> None:
    target = deployment("c1", ("v1", 1, 1.0))
    ep = EndpointView("e", S.CREATING, target, None)
    slow = inst(1, state=InstanceState.STARTING, started=100.0)
    assert plan([ep], [slow], 100 + TIMEOUT, TIMEOUT) == []
    actions = plan([ep], [slow], 100 + TIMEOUT + 1, TIMEOUT)
    assert isinstance(actions[-1], FailEndpoint) and "did not pass /ping within 240" in actions[-1].reason


def test_crashed_instance_of_a_serving_endpoint_is_replaced_not_failed() -> None:
    target = deployment("c1", ("v1", 2, 1.0))
    crashed = inst(1, state=InstanceState.EXITED, ever_healthy=True)
    actions = plan([EndpointView("e", S.IN_SERVICE, target, target)], [crashed, inst(2)], 9, TIMEOUT)
    assert kinds(actions) == ["StopInstance", "StartInstance"]


def test_update_keeps_old_fleet_until_new_fleet_is_healthy_then_promotes() -> None:
    old = deployment("c1", ("v1", 1, 1.0))
    new = deployment("c2", ("v1", 1, 1.0))
    ep = EndpointView("e", S.UPDATING, new, old)
    first = plan([ep], [inst(1)], 0, TIMEOUT)
    assert kinds(first) == ["StartInstance"] and first[0] == StartInstance("e", "c2", new["variants"][0])
    assert plan([ep], [inst(1), inst(2, config="c2", state=InstanceState.STARTING)], 1, TIMEOUT) == []
    assert plan([ep], [inst(1), inst(2, config="c2")], 2, TIMEOUT) == [Promote("e")]
    # Once promoted the old fleet is no longer wanted and is stopped.
    after = EndpointView("e", S.IN_SERVICE, new, new)
    assert plan([after], [inst(1), inst(2, config="c2")], 3, TIMEOUT) == [
        StopInstance("i1", "its fleet is no longer part of the endpoint")
    ]


def test_failed_update_is_abandoned_and_the_old_fleet_keeps_serving() -> None:
    old = deployment("c1", ("v1", 1, 1.0))
    new = deployment("c2", ("v1", 1, 1.0))
    broken = inst(2, config="c2", state=InstanceState.EXITED)
    actions = plan([EndpointView("e", S.UPDATING, new, old)], [inst(1), broken], 1, TIMEOUT)
    assert actions[-1] == AbortUpdate("e", "instance i2 exited before it passed /ping")
    assert StopInstance("i1", "the endpoint failed") not in actions


def test_scale_in_stops_unhealthy_and_newest_first() -> None:
    target = deployment("c1", ("v1", 1, 1.0))
    serving = deployment("c1", ("v1", 3, 1.0))
    live = [inst(1, started=1), inst(2, started=2), inst(3, state=InstanceState.STARTING, started=0)]
    actions = plan([EndpointView("e", S.UPDATING, target, serving)], live, 5, TIMEOUT)
    assert actions[:2] == [StopInstance("i3", "scale in"), StopInstance("i2", "scale in")]
    assert actions[2] == Promote("e")


def test_deleting_endpoint_stops_instances_then_is_forgotten() -> None:
    target = deployment("c1", ("v1", 1, 1.0))
    ep = EndpointView("e", S.DELETING, target, target)
    assert plan([ep], [inst(1)], 0, TIMEOUT) == [StopInstance("i1", "the endpoint is being deleted")]
    assert plan([ep], [], 1, TIMEOUT) == [Forget("e")]


def test_instances_of_unknown_endpoints_are_stopped() -> None:
    assert plan([], [inst(1, endpoint="gone")], 0, TIMEOUT) == [StopInstance("i1", "its endpoint no longer exists")]


def test_draining_instances_are_left_to_finish() -> None:
    target = deployment("c1", ("v1", 1, 1.0))
    draining = inst(1, state=InstanceState.DRAINING)
    actions = plan([EndpointView("e", S.IN_SERVICE, target, target)], [draining, inst(2)], 0, TIMEOUT)
    assert actions == []


def test_a_blue_green_deployment_shifts_in_steps_and_keeps_both_fleets_until_done() -> None:
    from homeport.controllers.endpoint_plan import Shift, Wake
    from homeport.core.deployment_plan import Progress

    blue, green = deployment("c1", ("v1", 2, 1.0)), deployment("c2", ("v1", 2, 1.0))
    config = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "WaitIntervalInSeconds": 60,
                "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
            },
            "TerminationWaitInSeconds": 30,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "errors"}]},
    }
    fleets = [inst(1), inst(2), inst(3, "c2"), inst(4, "c2")]

    def view(progress: Progress, alarms: dict[str, str] | None = None) -> EndpointView:
        record = {"config": config, "progress": progress.to_json(), "share": 0.0}
        return EndpointView("e", S.UPDATING, green, blue, record, alarms or {})

    starting = [inst(1), inst(2), inst(3, "c2", state=InstanceState.STARTING)]
    assert kinds(plan([view(Progress(0.0))], starting, 1, TIMEOUT)) == ["StartInstance", "Wake"]
    [canary] = plan([view(Progress(0.0))], fleets, 5, TIMEOUT)
    assert canary == Shift("e", Progress(0.0, 0, 5.0), 0.5)
    assert plan([view(canary.progress)], fleets, 30, TIMEOUT) == [Wake(65.0)]  # blue is not stopped meanwhile
    [full] = plan([view(canary.progress)], fleets, 65, TIMEOUT)
    assert full == Shift("e", Progress(0.0, 1, 65.0), 1.0)
    assert plan([view(full.progress)], fleets, 95, TIMEOUT) == [Promote("e")]
    rolled = plan([view(full.progress, {"errors": "ALARM"})], fleets, 70, TIMEOUT)
    assert rolled == [AbortUpdate("e", "the deployment was rolled back: alarm errors went into ALARM")]


ROLLING = {
    "RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1}, "WaitIntervalInSeconds": 60},
    "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "errors"}]},
}


def rolling_view(progress: Any, share: float, status: S = S.UPDATING, alarms: dict[str, str] | None = None) -> Any:
    blue, green = deployment("c1", ("v1", 2, 1.0)), deployment("c2", ("v1", 2, 1.0))
    record = {"config": ROLLING, "progress": progress.to_json(), "share": share}
    return EndpointView("e", status, green, blue, record, alarms or {})


def test_a_rolling_deployment_sizes_both_fleets_batch_by_batch() -> None:
    from homeport.controllers.endpoint_plan import Shift, Wake
    from homeport.core.rolling_plan import RollingProgress

    start = RollingProgress(0.0)
    # Batch 1: one new instance beside the whole old fleet.
    assert kinds(plan([rolling_view(start, 0.0)], [inst(1), inst(2)], 1, TIMEOUT)) == ["StartInstance", "Wake"]
    [moved] = plan([rolling_view(start, 0.0)], [inst(1), inst(2), inst(3, "c2")], 5, TIMEOUT)
    assert moved == Shift("e", RollingProgress(0.0, 1, 5.0), 0.5)
    assert plan([rolling_view(moved.progress, 0.5)], [inst(1), inst(2), inst(3, "c2")], 6, TIMEOUT) == [Wake(65.0)]
    [next_batch] = plan([rolling_view(moved.progress, 0.5)], [inst(1), inst(2), inst(3, "c2")], 65, TIMEOUT)
    assert next_batch == Shift("e", RollingProgress(0.0, 2, None), 0.5)
    # Batch 2: one old instance stops (the newest first), one new one starts.
    actions = plan(
        [rolling_view(next_batch.progress, 0.5)], [inst(1), inst(2, started=1.0), inst(3, "c2")], 66, TIMEOUT
    )
    assert kinds(actions) == ["StartInstance", "StopInstance", "Wake"]
    assert actions[1] == StopInstance("i2", "scale in")
    [last] = plan([rolling_view(next_batch.progress, 0.5)], [inst(1), inst(3, "c2"), inst(4, "c2")], 70, TIMEOUT)
    assert last == Shift("e", RollingProgress(0.0, 2, 70.0), 1.0)
    assert plan([rolling_view(last.progress, 1.0)], [inst(1), inst(3, "c2"), inst(4, "c2")], 130, TIMEOUT) == [
        Promote("e")
    ]


def test_a_rolling_rollback_restarts_blue_and_a_blue_that_cannot_start_fails_it() -> None:
    from homeport.controllers.endpoint_plan import FailRollback, Shift
    from homeport.core.rolling_plan import RollingProgress

    baking = RollingProgress(0.0, 2, 70.0)
    fleets = [inst(1), inst(3, "c2"), inst(4, "c2")]
    [rolled] = plan([rolling_view(baking, 1.0, alarms={"errors": "ALARM"})], fleets, 80, TIMEOUT)
    assert isinstance(rolled, Shift) and rolled.share == 1.0
    assert rolled.progress == RollingProgress(
        0.0, 2, 70.0, 1, "the deployment was rolled back: alarm errors went into ALARM"
    )
    # Rolling back: the one blue instance takes back its half of the traffic; the second blue one starts.
    [back] = plan([rolling_view(rolled.progress, 1.0, S.ROLLING_BACK)], fleets, 81, TIMEOUT)
    assert back == Shift("e", RollingProgress(0.0, 2, 70.0, 2, rolled.progress.reason), 0.5)
    actions = plan([rolling_view(back.progress, 0.5, S.ROLLING_BACK)], fleets, 82, TIMEOUT)
    assert kinds(actions) == ["StopInstance", "StartInstance", "Wake"]  # green shrinks to its half, blue grows
    dead = inst(5, state=InstanceState.EXITED, ever_healthy=False)
    dead.failure = "Could not access model data"
    actions = plan([rolling_view(back.progress, 0.5, S.ROLLING_BACK)], [*fleets[:2], dead], 83, TIMEOUT)
    assert actions[-1] == FailRollback(
        "e",
        "the deployment was rolled back: alarm errors went into ALARM; then the rollback failed: "
        "Could not access model data",
    )
    # What a failed rollback leaves serves as it is: nothing started, nothing stopped but the dead.
    assert plan([rolling_view(back.progress, 0.5, S.UPDATE_ROLLBACK_FAILED)], fleets[:2], 90, TIMEOUT) == []
