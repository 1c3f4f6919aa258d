"""Blue/green deployment decisions, stepped tick by tick with an injected clock."""

from __future__ import annotations

from typing import Any

import pytest

from homeport.core.deployment_plan import (
    PROVISIONING,
    Advance,
    Complete,
    Hold,
    Observed,
    Progress,
    RollBack,
    Schedule,
    capacity,
    decide,
    schedule,
    variant_status,
)

READY = Observed(green_ready=True)
STARTING = Observed(green_ready=False)


def policy(mode: str, wait: int = 60, final: int = 120, timeout: int | None = 1800, **routing: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "TrafficRoutingConfiguration": {"Type": mode, "WaitIntervalInSeconds": wait, **routing},
        "TerminationWaitInSeconds": final,
    }
    if timeout is not None:
        doc["MaximumExecutionTimeoutInSeconds"] = timeout
    return doc


def run(plan: Schedule, observe: Any, until: float, tick: float = 1.0) -> list[tuple[float, Any]]:
    """Step `decide` every `tick` seconds from t=0, applying each Advance, until a terminal decision or `until`:
    the (time, decision) of every decision that is not a Hold."""
    progress = Progress(started=0.0)
    seen: list[tuple[float, Any]] = []
    now = 0.0
    while now <= until:
        decision = decide(plan, progress, observe(now, progress), now)
        if isinstance(decision, Advance):
            progress = decision.progress
            seen.append((now, decision))
        elif not isinstance(decision, Hold):
            seen.append((now, decision))
            return seen
        now += tick
    return seen


def shares(seen: list[tuple[float, Any]]) -> list[tuple[float, float]]:
    return [(t, d.green_share) for t, d in seen if isinstance(d, Advance)]


@pytest.mark.parametrize(
    ("size", "count", "instances"),
    [
        ({"Type": "INSTANCE_COUNT", "Value": 1}, 3, 1),
        ({"Type": "INSTANCE_COUNT", "Value": 9}, 3, 3),
        ({"Type": "CAPACITY_PERCENT", "Value": 30}, 10, 3),
        ({"Type": "CAPACITY_PERCENT", "Value": 30}, 4, 2),  # 1.2 instances round up: never below the size asked
        ({"Type": "CAPACITY_PERCENT", "Value": 1}, 2, 1),  # at least one
    ],
)
def test_a_capacity_size_in_instances(size: dict[str, Any], count: int, instances: int) -> None:
    assert capacity(size, count) == instances


def test_all_at_once_moves_everything_once_green_is_ready_then_bakes_the_termination_wait() -> None:
    plan = schedule(policy("ALL_AT_ONCE", final=120), green_count=2)
    ready_at = 5.0
    seen = run(plan, lambda now, _: READY if now >= ready_at else STARTING, until=1000)
    assert shares(seen) == [(5.0, 1.0)]
    assert seen[-1] == (125.0, Complete())


def test_canary_takes_its_share_bakes_then_takes_the_rest() -> None:
    plan = schedule(policy("CANARY", wait=60, final=30, CanarySize={"Type": "INSTANCE_COUNT", "Value": 1}), 3)
    seen = run(plan, lambda *_: READY, until=1000)
    assert shares(seen) == [(0.0, pytest.approx(1 / 3)), (60.0, 1.0)]
    assert seen[-1] == (90.0, Complete())


def test_linear_moves_a_step_at_a_time_until_green_has_it_all() -> None:
    step = {"Type": "CAPACITY_PERCENT", "Value": 25}
    plan = schedule(policy("LINEAR", wait=10, final=5, LinearStepSize=step), green_count=4)
    seen = run(plan, lambda *_: READY, until=1000)
    assert shares(seen) == [(0.0, 0.25), (10.0, 0.5), (20.0, 0.75), (30.0, 1.0)]
    assert seen[-1] == (35.0, Complete())


def test_a_linear_step_that_does_not_divide_the_fleet_ends_on_all_of_it() -> None:
    plan = schedule(policy("LINEAR", LinearStepSize={"Type": "INSTANCE_COUNT", "Value": 2}), green_count=5)
    assert [s.green_share for s in plan.steps] == [0.4, 0.8, 1.0]
    assert [s.bake_s for s in plan.steps] == [60, 60, 120]


def test_a_canary_as_big_as_the_fleet_is_all_at_once() -> None:
    plan = schedule(policy("CANARY", CanarySize={"Type": "INSTANCE_COUNT", "Value": 1}), green_count=1)
    assert [(s.green_share, s.bake_s) for s in plan.steps] == [(1.0, 120)]


@pytest.mark.parametrize("alarm_at", [2.0, 30.0, 70.0, 150.0])  # provisioning, canary bake, final bake, last tick
def test_an_alarm_in_any_phase_rolls_back_at_once(alarm_at: float) -> None:
    canary = {"Type": "INSTANCE_COUNT", "Value": 1}
    plan = schedule(policy("CANARY", wait=60, final=100, CanarySize=canary), 2, alarms=("errors",))

    def observe(now: float, _: Progress) -> Observed:
        state = "ALARM" if now >= alarm_at else "OK"
        return Observed(green_ready=now >= 5, alarms={"errors": state, "unwatched": "ALARM"})

    seen = run(plan, observe, until=1000)
    assert seen[-1][0] == alarm_at
    assert seen[-1][1] == RollBack("the deployment was rolled back: alarm errors went into ALARM")


def test_an_alarm_that_is_not_watched_or_insufficient_does_not_roll_back() -> None:
    plan = schedule(policy("ALL_AT_ONCE", final=10), 1, alarms=("errors",))
    observed = Observed(green_ready=True, alarms={"errors": "INSUFFICIENT_DATA", "other": "ALARM"})
    assert run(plan, lambda *_: observed, until=100)[-1] == (10.0, Complete())


def test_a_green_instance_that_cannot_start_rolls_back() -> None:
    plan = schedule(policy("ALL_AT_ONCE"), 1)
    failed = Observed(green_ready=False, green_failure="instance e-AllTraffic-3 exited before it passed /ping")
    assert decide(plan, Progress(0.0), failed, 1.0) == RollBack(
        "the deployment was rolled back: instance e-AllTraffic-3 exited before it passed /ping"
    )


def test_the_execution_timeout_rolls_back_in_any_phase() -> None:
    plan = schedule(
        policy("CANARY", wait=600, final=600, timeout=900, CanarySize={"Type": "INSTANCE_COUNT", "Value": 1}), 2
    )
    seen = run(plan, lambda *_: READY, until=5000)
    assert shares(seen) == [(0.0, 0.5), (600.0, 1.0)]
    assert seen[-1] == (
        900.0,
        RollBack(
            "the deployment was rolled back: it did not finish within 900 seconds (MaximumExecutionTimeoutInSeconds)"
        ),
    )
    never_ready = run(plan, lambda *_: STARTING, until=5000)
    assert never_ready[-1][0] == 900.0 and isinstance(never_ready[-1][1], RollBack)


def test_a_hold_says_when_to_look_again() -> None:
    plan = schedule(policy("CANARY", wait=60, timeout=1000, CanarySize={"Type": "INSTANCE_COUNT", "Value": 1}), 2)
    assert decide(plan, Progress(0.0), STARTING, 3.0) == Hold(1000.0)
    baking = Progress(started=0.0, step=0, step_started=10.0)
    assert decide(plan, baking, READY, 20.0) == Hold(70.0)
    untimed = schedule(policy("ALL_AT_ONCE", timeout=None), 1)
    assert decide(untimed, Progress(0.0), STARTING, 3.0) == Hold(None)


def test_a_restarted_server_resumes_from_the_saved_progress() -> None:
    plan = schedule(policy("LINEAR", wait=10, final=5, LinearStepSize={"Type": "INSTANCE_COUNT", "Value": 1}), 3)
    progress = Progress(started=100.0, step=1, step_started=120.0)
    saved = Progress.from_json(progress.to_json())
    assert saved == progress
    assert decide(plan, saved, READY, 125.0) == Hold(130.0)
    moved = decide(plan, saved, READY, 131.0)
    assert isinstance(moved, Advance) and moved.green_share == 1.0 and moved.progress.step == 2


def test_variant_status_uses_sagemakers_messages() -> None:
    plan = schedule(policy("CANARY", wait=60, final=600, CanarySize={"Type": "INSTANCE_COUNT", "Value": 1}), 3)
    assert variant_status(plan, Progress(0.0, PROVISIONING), 3) == {
        "Status": "Creating",
        "StatusMessage": "Launching 3 instance(s).",
    }
    assert variant_status(plan, Progress(0.0, 0, 1.0), 3)["StatusMessage"] == (
        "Baking for 60 seconds (WaitIntervalInSeconds) with traffic enabled on canary capacity of 1 instance(s)."
    )
    assert variant_status(plan, Progress(0.0, 1, 61.0), 3)["StatusMessage"] == (
        "Baking for 600 seconds (TerminationWaitInSeconds) with traffic enabled on full capacity of 3 instance(s)."
    )
