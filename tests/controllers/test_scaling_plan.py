"""The autoscaler's decisions, tick by tick with an injected clock: no loop, no alarms, no sleeping."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from homeport.controllers.scaling_plan import (
    IN,
    NO_HISTORY,
    OUT,
    Bounds,
    Decision,
    History,
    Policy,
    StepAdjustment,
    StepScaling,
    TargetTracking,
    Trigger,
    clamp,
    decide,
    remember,
    step_capacity,
    target_tracking_capacity,
)

LATENCY = TargetTracking("latency", 100.0)
INVOCATIONS = TargetTracking("invocations", 50.0)
BOUNDS = Bounds(1, 10)


def high(policy: TargetTracking, metric: float, alarm_name: str | None = None) -> Trigger:
    return Trigger(policy, "high", metric, policy.target_value, alarm_name)


def low(policy: TargetTracking, metric: float) -> Trigger:
    return Trigger(policy, "low", metric, 0.9 * policy.target_value)


def stepped(policy: StepScaling, metric: float, threshold: float = 50.0) -> Trigger:
    return Trigger(policy, "queue-alarm", metric, threshold)


class Target:
    """One scalable target as the loop keeps it: each tick decides, applies the decision and remembers it."""

    def __init__(self, capacity: int, policies: Sequence[Policy] = (LATENCY,), bounds: Bounds = BOUNDS) -> None:
        self.capacity = capacity
        self.policies = policies
        self.bounds = bounds
        self.history = NO_HISTORY

    def tick(self, now: float, *triggers: Trigger) -> Decision | None:
        decision = decide(self.capacity, triggers, self.bounds, self.history, now, policies=self.policies)
        if decision is not None:
            self.history = remember(self.history, decision, now)
            self.capacity = decision.capacity
        return decision

    def to(self, now: float, *triggers: Trigger) -> int:
        """The capacity a tick that must scale sets."""
        decision = self.tick(now, *triggers)
        assert decision is not None
        return decision.capacity


# Target tracking: proportional, rounded up.


def test_target_tracking_capacity_is_proportional_and_rounds_up() -> None:
    assert target_tracking_capacity(1, 300, 100) == 3
    assert target_tracking_capacity(2, 101, 100) == 3  # 2.02 instances' worth needs 3
    assert target_tracking_capacity(10, 42, 100) == 5  # scale-in keeps 4.2 -> 5, never 4
    assert target_tracking_capacity(3, 70, 100) == 3  # 2.1 -> 3: too little to remove one
    assert target_tracking_capacity(3, 0.1, 0.3) == 1  # float noise (1.0000000000000002) adds nothing


def test_zero_capacity_reads_the_metric_as_a_total() -> None:
    assert target_tracking_capacity(0, 12, 5) == 3
    assert target_tracking_capacity(0, 5, 5) == 1
    assert target_tracking_capacity(0, 0, 5) == 0


def test_one_instance_at_three_times_the_target_scales_out_to_three_at_once() -> None:
    name = "TargetTracking-endpoint/e/variant/AllTraffic-AlarmHigh-6f1c"
    decision = Target(1).tick(0, high(LATENCY, 300, name))
    assert decision == Decision(3, f"monitor alarm {name} in state ALARM triggered policy latency", OUT, 1)
    assert decision.description == "Setting desired instance count to 3."


def test_scale_in_is_conservative_and_stops_at_min() -> None:
    assert Target(10).tick(0, low(LATENCY, 42)) == Decision(
        5, "monitor alarm low in state ALARM triggered policy latency", IN, 10
    )
    assert Target(3).tick(0, low(LATENCY, 70)) is None  # ceil(2.1) = 3: nothing to remove
    assert Target(4, bounds=Bounds(2, 10)).to(0, low(LATENCY, 10)) == 2


def test_scale_out_is_clamped_to_max_and_stops_there() -> None:
    target = Target(2)
    assert target.to(0, high(LATENCY, 1000)) == 10
    assert target.tick(600, high(LATENCY, 1000)) is None


def test_clamp() -> None:
    assert clamp(0, BOUNDS) == 1
    assert clamp(11, BOUNDS) == 10
    assert clamp(5, BOUNDS) == 5


def test_no_trigger_no_decision() -> None:
    assert Target(3).tick(0) is None


# Cooldowns.


def test_scale_out_cooldown_lets_only_a_larger_scale_out_through() -> None:
    target = Target(1)
    assert target.to(0, high(LATENCY, 300)) == 3
    # The metric still reads the load on the one instance there was: the 2 added count, nothing more to do.
    assert target.tick(60, high(LATENCY, 300)) is None
    # Load grew to 5 instances' worth, measured from the 1 before the scale-out: larger than the 3 in progress.
    decision = target.tick(120, high(LATENCY, 500))
    assert decision is not None
    assert (decision.capacity, decision.measured_from) == (5, 1)
    # 150% on 5 is 7.5 instances' worth, but measured from that 1 it is 2: nothing beyond the 5 in progress.
    assert target.tick(419, high(LATENCY, 150)) is None
    assert target.to(420, high(LATENCY, 150)) == 8


def test_scale_in_cooldown_blocks_scale_in_until_it_ends() -> None:
    target = Target(10)
    assert target.to(0, low(LATENCY, 50)) == 5
    assert target.tick(299, low(LATENCY, 50)) is None
    assert target.to(300, low(LATENCY, 50)) == 3


def test_scale_out_during_scale_in_cooldown_is_immediate_and_ends_that_cooldown() -> None:
    target = Target(10)
    assert target.to(0, low(LATENCY, 50)) == 5
    assert target.tick(100, low(LATENCY, 50)) is None
    assert target.tick(200, high(LATENCY, 200)) == Decision(
        10, "monitor alarm high in state ALARM triggered policy latency", OUT, 5
    )
    # Still inside the 300 s after the scale-in, but the scale-out ended that cooldown.
    assert target.to(250, low(LATENCY, 50)) == 5


def test_cooldowns_are_the_policys_own() -> None:
    quick = TargetTracking("quick", 100.0, scale_out_cooldown=60, scale_in_cooldown=30)
    target = Target(1, policies=(quick,))
    assert target.to(0, high(quick, 300)) == 3
    assert target.tick(59, high(quick, 200)) is None
    assert target.to(60, high(quick, 200)) == 6
    assert target.to(100, low(quick, 50)) == 3
    assert target.tick(129, low(quick, 50)) is None
    assert target.to(130, low(quick, 50)) == 2


def test_remember_records_each_direction() -> None:
    out = remember(NO_HISTORY, Decision(3, "c", OUT, 1), 10.0)
    assert out == History(last_scale_out_at=10.0, last_scale_out_to=3, last_scale_in_at=None, last_scale_out_from=1)
    assert remember(out, Decision(2, "c", IN, 3), 20.0) == History(10.0, 3, 20.0, 1)


# DisableScaleIn and suspension.


def test_disable_scale_in_never_removes_capacity() -> None:
    keep = TargetTracking("keep", 100.0, disable_scale_in=True)
    target = Target(6, policies=(keep,))
    assert target.tick(0, low(keep, 10)) is None
    assert target.to(0, high(keep, 200)) == 10


def test_a_policy_with_scale_in_disabled_does_not_block_others_scale_in() -> None:
    keep = TargetTracking("keep", 100.0, disable_scale_in=True)
    assert Target(6, policies=(keep, LATENCY)).to(0, low(LATENCY, 50)) == 3


def test_suspended_scale_out_holds_and_blocks_scale_in_too() -> None:
    bounds = Bounds(1, 10, dynamic_out_suspended=True)
    target = Target(4, policies=(LATENCY, INVOCATIONS), bounds=bounds)
    assert target.tick(0, high(LATENCY, 300)) is None
    assert target.tick(0, high(LATENCY, 300), low(INVOCATIONS, 10)) is None
    assert target.to(0, low(LATENCY, 10), low(INVOCATIONS, 10)) == 1


def test_suspended_scale_in_holds_but_scale_out_goes_on() -> None:
    target = Target(4, bounds=Bounds(1, 10, dynamic_in_suspended=True))
    assert target.tick(0, low(LATENCY, 10)) is None
    assert target.to(0, high(LATENCY, 200)) == 8


# Several policies: any may scale out, all must agree to scale in, the largest capacity wins.


def test_any_policy_scales_out() -> None:
    decision = Target(2, policies=(LATENCY, INVOCATIONS)).tick(0, high(INVOCATIONS, 100))
    assert decision == Decision(4, "monitor alarm high in state ALARM triggered policy invocations", OUT, 2)


def test_scale_in_needs_every_target_tracking_policy_low() -> None:
    target = Target(8, policies=(LATENCY, INVOCATIONS))
    assert target.tick(0, low(LATENCY, 50)) is None  # invocations is not low: it holds 8
    # Both low: latency wants ceil(8 x 0.5) = 4, invocations ceil(8 x 0.6) = 5; the larger wins.
    decision = target.tick(0, low(LATENCY, 50), low(INVOCATIONS, 30))
    assert decision == Decision(5, "monitor alarm low in state ALARM triggered policy invocations", IN, 8)


def test_largest_capacity_wins_between_scale_outs() -> None:
    decision = Target(2, policies=(LATENCY, INVOCATIONS)).tick(0, high(LATENCY, 200), high(INVOCATIONS, 150))
    assert decision is not None
    assert (decision.capacity, decision.cause.endswith("policy invocations")) == (6, True)


def test_scale_out_beats_a_conflicting_scale_in() -> None:
    decision = Target(4, policies=(LATENCY, INVOCATIONS)).tick(0, high(LATENCY, 150), low(INVOCATIONS, 10))
    assert decision is not None
    assert (decision.capacity, decision.direction) == (6, OUT)


ADD = StepScaling("add", "ChangeInCapacity", (StepAdjustment(0, 10, 1), StepAdjustment(10, None, 3)))
REMOVE = StepScaling("remove", "ChangeInCapacity", (StepAdjustment(-10, 0, -1), StepAdjustment(None, -10, -2)))


def test_step_policies_join_the_largest_wins_rule() -> None:
    target = Target(2, policies=(LATENCY, ADD, REMOVE))
    assert target.to(0, stepped(ADD, 65), high(LATENCY, 250)) == 5
    assert target.to(1000, stepped(ADD, 65), high(LATENCY, 110)) == 8


def test_step_scale_in_is_held_by_a_target_tracking_policy_that_is_not_low() -> None:
    target = Target(6, policies=(LATENCY, REMOVE))
    assert target.tick(0, stepped(REMOVE, 45)) is None
    # Both in: the step removes 1 (-> 5), target tracking wants ceil(6 x 0.5) = 3; the larger stays.
    decision = target.tick(0, stepped(REMOVE, 45), low(LATENCY, 50))
    assert decision == Decision(5, "monitor alarm queue-alarm in state ALARM triggered policy remove", IN, 6)


def test_step_scale_in_alone_needs_no_agreement() -> None:
    assert Target(6, policies=(REMOVE,)).to(0, stepped(REMOVE, 30)) == 4


# Step scaling: which step, and by how much.


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        (49.99, None),  # below every scale-out step
        (50, 5),  # at the threshold: lower bound 0 is inclusive
        (59.99, 5),
        (60, 7),  # above the threshold the upper bound is exclusive, the next step's lower inclusive
        (1e9, 7),
    ],
)
def test_scale_out_step_bounds(metric: float, expected: int | None) -> None:
    assert step_capacity(4, ADD, metric, 50) == expected


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        (50.01, None),  # above every scale-in step
        (50, 3),  # at the threshold: upper bound 0 is inclusive
        (40.01, 3),
        (40, 2),  # below the threshold the lower bound is exclusive: 40 falls in the step under it
        (-1e9, 2),
    ],
)
def test_scale_in_step_bounds(metric: float, expected: int | None) -> None:
    assert step_capacity(4, REMOVE, metric, 50) == expected


def test_at_the_threshold_a_two_sided_policy_takes_its_scale_out_step() -> None:
    both = StepScaling("both", "ChangeInCapacity", (StepAdjustment(None, 0, -1), StepAdjustment(0, None, 1)))
    assert step_capacity(4, both, 50, 50) == 5
    assert step_capacity(4, both, 49.99, 50) == 3


def test_change_in_capacity_never_goes_below_zero() -> None:
    policy = StepScaling("p", "ChangeInCapacity", (StepAdjustment(None, 0, -5),))
    assert step_capacity(3, policy, 0, 50) == 0


def percent(adjustment: int, magnitude: int | None = None) -> StepScaling:
    return StepScaling("p", "PercentChangeInCapacity", (StepAdjustment(0, None, adjustment),), magnitude)


@pytest.mark.parametrize(
    ("current", "policy", "expected"),
    [
        (10, percent(10), 11),  # AWS's example: 10% of 10
        (11, percent(30), 14),  # 3.3 rounds down to 3
        (14, percent(-10), 13),  # -1.4 rounds towards zero to -1
        (2, percent(10), 3),  # 0.2 rounds up to 1
        (2, percent(-10), 1),  # -0.2 rounds to -1
        (4, percent(25, magnitude=2), 6),  # AWS's example: 25% of 4 is 1, MinAdjustmentMagnitude makes it 2
        (20, percent(25, magnitude=2), 25),  # a change already larger is kept
        (4, percent(-25, magnitude=2), 2),
        (0, percent(50), 0),  # nothing to take a percentage of
        (0, percent(50, magnitude=1), 1),
    ],
)
def test_percent_change_in_capacity(current: int, policy: StepScaling, expected: int) -> None:
    assert step_capacity(current, policy, 60, 50) == expected


def test_exact_capacity_sets_the_capacity() -> None:
    policy = StepScaling("p", "ExactCapacity", (StepAdjustment(0, None, 7),))
    assert step_capacity(2, policy, 60, 50) == 7
    assert step_capacity(9, policy, 60, 50) == 7


def test_unknown_adjustment_type_is_refused() -> None:
    with pytest.raises(ValueError, match="AdjustmentType"):
        step_capacity(2, StepScaling("p", "Doubling", (StepAdjustment(0, None, 2),)), 60, 50)


def test_step_cooldown_counts_the_capacity_the_scale_out_added() -> None:
    """AWS's example: +2, then a more aggressive +3 during the cooldown adds only 1."""
    policy = StepScaling("steps", "ChangeInCapacity", (StepAdjustment(0, 10, 2), StepAdjustment(10, None, 3)))
    target = Target(4, policies=(policy,))
    assert target.to(0, stepped(policy, 55)) == 6
    assert target.tick(60, stepped(policy, 55)) is None
    assert target.to(120, stepped(policy, 65)) == 7
    assert target.tick(419, stepped(policy, 55)) is None
    assert target.to(420, stepped(policy, 55)) == 9


def test_scale_out_cooldown_compares_with_the_capacity_there_is_now() -> None:
    target = Target(4, policies=(ADD, REMOVE))
    assert target.to(0, stepped(ADD, 65)) == 7  # +3 from 4
    assert target.to(100, stepped(REMOVE, 35)) == 5  # a scale-in inside that scale-out's cooldown
    # The +3 step again: measured from the 4 before the scale-out it asks for 7, and only 5 are there now.
    assert target.to(150, stepped(ADD, 65)) == 7


def test_step_cooldown_blocks_step_scale_in() -> None:
    target = Target(6, policies=(REMOVE,))
    assert target.to(0, stepped(REMOVE, 45)) == 5
    assert target.tick(299, stepped(REMOVE, 45)) is None
    assert target.to(300, stepped(REMOVE, 45)) == 4


# Starting from zero instances (asynchronous endpoints may have MinCapacity 0).


def test_zero_capacity_target_scales_out_by_backlog_then_back_to_zero() -> None:
    backlog = TargetTracking("backlog", 5.0)
    target = Target(0, policies=(backlog,), bounds=Bounds(0, 10))
    assert target.tick(0, low(backlog, 0)) is None
    assert target.to(60, high(backlog, 12)) == 3
    # Per instance now: 3 instances at 4 each is under the target; it takes 15 minutes of AlarmLow to get here.
    assert target.to(1000, low(backlog, 0)) == 0


def test_zero_capacity_target_scales_out_with_a_step_policy() -> None:
    wake = StepScaling("has-backlog", "ChangeInCapacity", (StepAdjustment(0, None, 1),))
    target = Target(0, policies=(wake,), bounds=Bounds(0, 4))
    assert target.to(0, stepped(wake, 1, threshold=1)) == 1


def test_clamping_never_turns_a_scale_out_into_a_scale_in() -> None:
    # A target above its max (bounds just lowered) is not scaled in by a policy asking for more.
    assert Target(12).tick(0, high(LATENCY, 200)) is None


def test_a_target_tracking_trigger_names_its_alarm_high_or_low() -> None:
    with pytest.raises(ValueError, match='"high" or "low"'):
        Target(2).tick(0, Trigger(LATENCY, "AlarmHigh", 300, 100))
