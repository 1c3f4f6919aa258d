"""The autoscaler's decisions, as pure functions of policies, alarms, capacity, history and the time.

Every metric period the autoscaler loop calls `decide` for each scalable target with a `Trigger` per policy whose
alarm is in ALARM, the target's `Bounds`, every policy of the target and the `History` it keeps; it applies the
`Decision` it gets back, records it as a scaling activity, and keeps `remember(...)`'s new history.

The rules are Application Auto Scaling's (User Guide: "Target tracking scaling policies", "Step scaling policies",
"Multiple scaling policies", "Cooldown periods"; API Reference: StepAdjustment, StepScalingPolicyConfiguration,
TargetTrackingScalingPolicyConfiguration):

- target tracking sets capacity in proportion to metric / target, rounded up, so it never removes too much;
- step scaling picks the step whose interval holds metric - threshold and applies its adjustment;
- policies combine by "largest capacity wins": any policy may scale out, and scale-in happens only when every
  target-tracking policy that may scale in is asking to (one that is not is taken to ask for the current capacity);
- during a scale-out cooldown the capacity that scale-out added counts: a policy scales out again only when, worked
  out from the capacity before it, it asks for more than there is now (a scale-out made so is measured from that
  same capacity, so a chain of them never counts an addition twice); a scale-in cooldown blocks scale-in only, and
  a later scale-out ends it;
- the result is clamped into [MinCapacity, MaxCapacity]; suspended directions do not move.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

OUT = "out"
IN = "in"

CHANGE_IN_CAPACITY = "ChangeInCapacity"
PERCENT_CHANGE_IN_CAPACITY = "PercentChangeInCapacity"
EXACT_CAPACITY = "ExactCapacity"

# Decimal places kept of a proportional capacity before rounding up: float noise such as 1.0000000000000002
# must not add an instance.
_RATIO_PLACES = 9


@dataclass(frozen=True)
class Bounds:
    min_capacity: int
    max_capacity: int
    dynamic_in_suspended: bool = False
    dynamic_out_suspended: bool = False


@dataclass(frozen=True)
class TargetTracking:
    policy_name: str
    target_value: float
    scale_out_cooldown: float = 300
    scale_in_cooldown: float = 300
    disable_scale_in: bool = False


@dataclass(frozen=True)
class StepAdjustment:
    """One step: `lower` and `upper` are offsets from the alarm threshold; None is -inf / +inf."""

    lower: float | None
    upper: float | None
    adjustment: int


@dataclass(frozen=True)
class StepScaling:
    policy_name: str
    adjustment_type: str
    steps: tuple[StepAdjustment, ...]
    min_adjustment_magnitude: int | None = None
    cooldown: float = 300


Policy = TargetTracking | StepScaling


@dataclass(frozen=True)
class Trigger:
    """A policy whose alarm is in ALARM, with the alarm's latest metric value and its threshold.

    `alarm` is "high" or "low" for a target-tracking policy (its AlarmHigh / AlarmLow) and the alarm's name for a
    step policy. `alarm_name`, when given, is the alarm's CloudWatch name as the activity's cause shows it
    (TargetTracking-endpoint/e/variant/v-AlarmHigh-<id>); `alarm` stands in for it otherwise.
    """

    policy: Policy
    alarm: str
    metric: float
    threshold: float
    alarm_name: str | None = None


@dataclass(frozen=True)
class History:
    """What the loop remembers of one target's last scaling activities (epoch seconds, capacities)."""

    last_scale_out_at: float | None
    last_scale_out_to: int | None  # for the record: decisions compare with the current capacity
    last_scale_in_at: float | None
    last_scale_out_from: int | None  # what the last scale-out was measured from: a cooldown measures from it too


NO_HISTORY = History(None, None, None, None)


@dataclass(frozen=True)
class Decision:
    """A scaling activity to start. `measured_from` is the capacity a scale-out was worked out from: the current
    one, or during a scale-out cooldown the one before the scale-out in progress (`remember` keeps it)."""

    capacity: int
    cause: str
    direction: str
    measured_from: int

    @property
    def description(self) -> str:
        """The activity's Description, as SageMaker variants word it."""
        return f"Setting desired instance count to {self.capacity}."


def clamp(capacity: int, bounds: Bounds) -> int:
    return max(bounds.min_capacity, min(capacity, bounds.max_capacity))


def target_tracking_capacity(current: int, metric: float, target: float) -> int:
    """ceil(current x metric / target): proportional both ways, rounded up so scale-in never removes too much.

    At zero capacity a per-instance metric means nothing, so the metric is read as the total (a backlog, say):
    ceil(metric / target) instances bring it to the target.
    """
    ratio = metric / target if current == 0 else current * metric / target
    return max(0, math.ceil(round(ratio, _RATIO_PLACES)))


def step_capacity(current: int, policy: StepScaling, metric: float, threshold: float) -> int | None:
    """The capacity `policy`'s matching step asks for; None when no step's interval holds metric - threshold."""
    step = _matching_step(policy.steps, metric - threshold)
    if step is None:
        return None
    if policy.adjustment_type == EXACT_CAPACITY:
        return step.adjustment
    if policy.adjustment_type == CHANGE_IN_CAPACITY:
        return max(0, current + step.adjustment)
    if policy.adjustment_type == PERCENT_CHANGE_IN_CAPACITY:
        return max(0, current + _percent_change(current, step.adjustment, policy.min_adjustment_magnitude))
    raise ValueError(f"unknown AdjustmentType {policy.adjustment_type!r}")


def decide(
    current: int,
    triggers: Sequence[Trigger],
    bounds: Bounds,
    history: History,
    now: float,
    *,
    policies: Sequence[Policy],
) -> Decision | None:
    """The scaling activity to start now for one target, or None.

    `policies` are all of the target's policies, triggered or not: a target-tracking policy that may scale in and
    is not triggered "low" holds the capacity where it is.
    """
    proposals = [_proposal(t, current, bounds, history, now) for t in triggers]
    if _scale_in_blocked(policies, triggers):
        proposals.append(_Proposal(current, current, None))
    best = max(proposals, key=lambda p: p.capacity, default=None)
    if best is None or best.trigger is None or best.capacity == current:
        return None
    clamped = clamp(best.capacity, bounds)
    # Clamping must not turn a scale-out into a scale-in or the reverse (a target already outside its bounds).
    if clamped == current or (clamped > current) != (best.capacity > current):
        return None
    return Decision(clamped, _cause(best.trigger), OUT if clamped > current else IN, best.measured_from)


def remember(history: History, decision: Decision, now: float) -> History:
    """The history after `decision` was applied at `now`."""
    if decision.direction == OUT:
        return replace(
            history,
            last_scale_out_at=now,
            last_scale_out_to=decision.capacity,
            last_scale_out_from=decision.measured_from,
        )
    return replace(history, last_scale_in_at=now)


@dataclass(frozen=True)
class _Proposal:
    capacity: int
    measured_from: int
    trigger: Trigger | None  # None: a policy that is not triggered, holding the current capacity


def _proposal(trigger: Trigger, current: int, bounds: Bounds, history: History, now: float) -> _Proposal:
    """What one triggered policy asks for now; the current capacity when it may not move."""
    hold = _Proposal(current, current, trigger)
    wanted = _wanted(trigger, current)
    if wanted > current:
        if bounds.dynamic_out_suspended:
            return hold
        before = _scale_out_in_progress(trigger.policy, history, now)
        if before is None:
            return _Proposal(wanted, current, trigger)
        # Cooldown: the capacity the scale-out in progress added counts, so work from what it was measured from
        # and go on only for a larger scale-out than the one in progress (than what is there, should that differ).
        larger = _wanted(trigger, before)
        return _Proposal(larger, before, trigger) if larger > current else hold
    if wanted < current and (bounds.dynamic_in_suspended or _in_scale_in_cooldown(trigger.policy, history, now)):
        return hold
    return _Proposal(wanted, current, trigger)


def _wanted(trigger: Trigger, capacity: int) -> int:
    """What the trigger's policy asks for from `capacity`, before cooldowns, suspension and bounds."""
    policy = trigger.policy
    if isinstance(policy, StepScaling):
        stepped = step_capacity(capacity, policy, trigger.metric, trigger.threshold)
        return capacity if stepped is None else stepped
    proportional = target_tracking_capacity(capacity, trigger.metric, policy.target_value)
    if trigger.alarm == "high":
        return max(proportional, capacity)
    if trigger.alarm == "low":
        # DisableScaleIn: AWS creates no AlarmLow at all, so a "low" trigger for such a policy moves nothing.
        return capacity if policy.disable_scale_in else min(proportional, capacity)
    raise ValueError(f'a target-tracking trigger is "high" or "low", not {trigger.alarm!r}')


def _scale_in_blocked(policies: Sequence[Policy], triggers: Sequence[Trigger]) -> bool:
    """Whether a target-tracking policy that may scale in is not asking to: it then holds the current capacity
    (AWS scales in "only if all of the target tracking policies with scale-in enabled are ready to scale in")."""
    low = {t.policy.policy_name for t in triggers if isinstance(t.policy, TargetTracking) and t.alarm == "low"}
    return any(isinstance(p, TargetTracking) and not p.disable_scale_in and p.policy_name not in low for p in policies)


def _scale_out_in_progress(policy: Policy, history: History, now: float) -> int | None:
    """The capacity a scale-out still inside `policy`'s scale-out cooldown was measured from."""
    at, before = history.last_scale_out_at, history.last_scale_out_from
    if at is None or before is None or now - at >= _scale_out_cooldown(policy):
        return None
    return before


def _in_scale_in_cooldown(policy: Policy, history: History, now: float) -> bool:
    at = history.last_scale_in_at
    if at is None or now - at >= _scale_in_cooldown(policy):
        return False
    # A scale-out after the scale-in ends its cooldown early (AWS: "the scale-in cooldown period stops").
    return history.last_scale_out_at is None or history.last_scale_out_at < at


def _scale_out_cooldown(policy: Policy) -> float:
    return policy.cooldown if isinstance(policy, StepScaling) else policy.scale_out_cooldown


def _scale_in_cooldown(policy: Policy) -> float:
    # A step policy's one Cooldown serves both directions (StepScalingPolicyConfiguration.Cooldown).
    return policy.cooldown if isinstance(policy, StepScaling) else policy.scale_in_cooldown


def _matching_step(steps: Sequence[StepAdjustment], breach: float) -> StepAdjustment | None:
    # Above the threshold a step's lower bound is inclusive and its upper exclusive; below it, the reverse.
    # At the threshold itself both readings hold (lower 0 means ">= threshold", upper 0 "<= threshold"): the
    # scale-out reading is tried first.
    readings = (True,) if breach > 0 else (False,) if breach < 0 else (True, False)
    return next((s for above in readings for s in steps if _holds(s, breach, above)), None)


def _holds(step: StepAdjustment, breach: float, above: bool) -> bool:
    lower = -math.inf if step.lower is None else step.lower
    upper = math.inf if step.upper is None else step.upper
    return lower <= breach < upper if above else lower < breach <= upper


def _percent_change(current: int, percent: int, min_magnitude: int | None) -> int:
    """current x percent / 100 as AWS rounds it: towards zero, except that a change between -1 and 1 is +-1;
    MinAdjustmentMagnitude then raises a smaller change to that size."""
    sign = 1 if percent > 0 else -1
    exact = current * percent
    change = sign * (abs(exact) // 100)
    if change == 0 and exact != 0:
        change = sign
    if min_magnitude is not None and percent != 0 and abs(change) < min_magnitude:
        change = sign * min_magnitude
    return change


def _cause(trigger: Trigger) -> str:
    alarm = trigger.alarm_name or trigger.alarm
    return f"monitor alarm {alarm} in state ALARM triggered policy {trigger.policy.policy_name}"
