"""The rolling deployment plan, stepped tick by tick with an injected clock."""

from __future__ import annotations

from typing import Any

import pytest

from homeport.core.deployment_plan import Complete, Hold, RollBack
from homeport.core.rolling_plan import (
    Roll,
    RollbackFailed,
    Rolling,
    RollingObserved,
    RollingProgress,
    decide_rolling,
    fleet_sizes,
    rolling_of,
    rolling_status,
)


def config(
    batch: dict[str, Any], wait: int = 10, rollback: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    policy: dict[str, Any] = {"MaximumBatchSize": batch, "WaitIntervalInSeconds": wait, **extra}
    if rollback is not None:
        policy["RollbackMaximumBatchSize"] = rollback
    return {"RollingUpdatePolicy": policy, "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "errors"}]}}


def count(n: int) -> dict[str, Any]:
    return {"Type": "INSTANCE_COUNT", "Value": n}


def percent(n: int) -> dict[str, Any]:
    return {"Type": "CAPACITY_PERCENT", "Value": n}


def plan_of(old: int, new: int, batch: dict[str, Any], **kw: Any) -> Rolling:
    return rolling_of(config(batch, **kw), [{"Count": old}], [{"Count": new}])


def test_the_policy_becomes_batches_of_the_new_fleet() -> None:
    plan = plan_of(4, 4, count(1))
    assert (plan.batch, plan.steps, plan.rollback_batch, plan.bake_s, plan.alarms) == (1, 4, 4, 10.0, ("errors",))
    assert [plan.green(k) for k in range(5)] == [0, 1, 2, 3, 4]
    assert [plan.blue(k) for k in range(5)] == [4, 3, 2, 1, 0]
    assert plan_of(10, 10, percent(25)).batch == 3  # a part of an instance is a whole one
    assert plan_of(10, 10, percent(25)).steps == 4  # 3, 6, 9, 10
    assert plan_of(3, 3, count(1), rollback=count(2)).rollback_batch == 2
    # Old and new fleets of different sizes: blue shrinks in proportion to the traffic green carries.
    uneven = plan_of(2, 4, count(1))
    assert [uneven.blue(k) for k in range(5)] == [2, 2, 1, 1, 0]


def test_a_rolling_deployment_goes_batch_by_batch_to_completion() -> None:
    plan = plan_of(2, 2, count(1), wait=5)
    progress, share, now = RollingProgress(started=0.0), 0.0, 0.0
    assert fleet_sizes(plan, progress, share) == (2, 1)  # batch 1 starts beside the whole old fleet
    assert rolling_status(plan, progress, share)["Status"] == "Creating"
    assert decide_rolling(plan, progress, share, RollingObserved(0, 2), now) == Hold(None)

    now = 3.0
    moved = decide_rolling(plan, progress, share, RollingObserved(1, 2), now)
    assert moved == Roll(RollingProgress(0.0, 1, 3.0), 0.5)
    assert isinstance(moved, Roll)
    progress, share = moved.progress, moved.green_share
    assert rolling_status(plan, progress, share) == {
        "Status": "Baking",
        "StatusMessage": "Baking for 5 seconds (WaitIntervalInSeconds) with traffic enabled on 1 of 2 instance(s) "
        "(batch 1 of 2).",
    }
    assert decide_rolling(plan, progress, share, RollingObserved(1, 2), 7.9) == Hold(8.0)

    moved = decide_rolling(plan, progress, share, RollingObserved(1, 2), 8.0)
    assert moved == Roll(RollingProgress(0.0, 2, None), 0.5)  # batch 2 starts; the traffic stays
    assert isinstance(moved, Roll)
    progress = moved.progress
    assert fleet_sizes(plan, progress, share) == (1, 2)  # one old instance stopped, one new started

    moved = decide_rolling(plan, progress, share, RollingObserved(2, 1), 9.0)
    assert moved == Roll(RollingProgress(0.0, 2, 9.0), 1.0)
    assert isinstance(moved, Roll)
    progress, share = moved.progress, moved.green_share
    assert decide_rolling(plan, progress, share, RollingObserved(2, 1), 13.0) == Hold(14.0)
    assert decide_rolling(plan, progress, share, RollingObserved(2, 1), 14.0) == Complete()


@pytest.mark.parametrize("baking", [False, True])
def test_an_alarm_in_either_phase_of_a_step_starts_a_rollback(baking: bool) -> None:
    plan = plan_of(3, 3, count(1))
    progress = RollingProgress(0.0, step=2, step_started=20.0 if baking else None)
    share = 2 / 3 if baking else 1 / 3
    moved = decide_rolling(plan, progress, share, RollingObserved(2, 2, alarms={"errors": "ALARM"}), 25.0)
    assert isinstance(moved, Roll) and moved.progress.rolling_back
    # Blue is wanted back at what it had during this step; the traffic has not moved yet.
    assert moved.progress.blue == 2 and moved.green_share == share
    assert moved.progress.reason == "the deployment was rolled back: alarm errors went into ALARM"


def test_an_alarm_not_watched_or_not_in_alarm_changes_nothing() -> None:
    plan = plan_of(2, 2, count(1))
    progress = RollingProgress(0.0, step=1, step_started=1.0)
    observed = RollingObserved(1, 2, alarms={"other": "ALARM", "errors": "OK"})
    assert decide_rolling(plan, progress, 0.5, observed, 2.0) == Hold(11.0)


def test_a_green_instance_that_cannot_start_and_the_timeout_roll_back() -> None:
    plan = plan_of(2, 2, count(1), MaximumExecutionTimeoutInSeconds=600)
    progress = RollingProgress(0.0)
    failed = decide_rolling(plan, progress, 0.0, RollingObserved(0, 2, green_failure="exit 1"), 1.0)
    assert isinstance(failed, Roll) and failed.progress.reason == "the deployment was rolled back: exit 1"
    assert decide_rolling(plan, progress, 0.0, RollingObserved(0, 2), 599.0) == Hold(600.0)
    late = decide_rolling(plan, progress, 0.0, RollingObserved(0, 2), 600.0)
    assert isinstance(late, Roll) and "MaximumExecutionTimeoutInSeconds" in (late.progress.reason or "")


def test_a_rollback_brings_blue_back_in_batches_and_traffic_with_it() -> None:
    plan = plan_of(4, 4, count(1), rollback=count(2))
    # Alarm while batch 3 bakes: green has 3 instances and 3/4 of the traffic, blue 2 instances.
    progress = RollingProgress(0.0, 3, 30.0, blue=2, reason="alarm")
    share = 0.75
    assert fleet_sizes(plan, progress, share) == (2, 3)
    assert rolling_status(plan, progress, share)["Status"] == "Deleting"
    # The two blue instances are up: they take their half back at once; two more blue start.
    step = decide_rolling(plan, progress, share, RollingObserved(3, 2), 31.0)
    assert step == Roll(RollingProgress(0.0, 3, 30.0, blue=4, reason="alarm"), 0.5)
    assert isinstance(step, Roll)
    progress, share = step.progress, step.green_share
    assert fleet_sizes(plan, progress, share) == (4, 2)  # green gives up the instance its traffic left
    assert decide_rolling(plan, progress, share, RollingObserved(2, 3), 32.0) == Hold(None)
    # Blue is whole: all the traffic goes back to it and green stops.
    assert decide_rolling(plan, progress, share, RollingObserved(2, 4), 33.0) == RollBack("alarm")


def test_a_rollback_without_a_batch_size_restarts_all_of_blue_at_once() -> None:
    plan = plan_of(4, 4, count(2))
    progress = RollingProgress(0.0, 2, None, blue=2, reason="alarm")
    step = decide_rolling(plan, progress, 0.5, RollingObserved(2, 2), 1.0)
    assert step == Roll(RollingProgress(0.0, 2, None, blue=4, reason="alarm"), 0.5)


def test_a_blue_instance_that_cannot_start_again_fails_the_rollback() -> None:
    plan = plan_of(2, 2, count(1))
    progress = RollingProgress(0.0, 2, 9.0, blue=2, reason="the deployment was rolled back: alarm errors")
    decision = decide_rolling(plan, progress, 0.5, RollingObserved(2, 1, blue_failure="no model data"), 10.0)
    assert decision == RollbackFailed(
        "the deployment was rolled back: alarm errors; then the rollback failed: no model data"
    )


def test_progress_survives_its_record() -> None:
    for progress in (RollingProgress(1.0), RollingProgress(1.0, 3, 4.0), RollingProgress(1.0, 2, None, 3, "why")):
        assert RollingProgress.from_json(progress.to_json()) == progress
