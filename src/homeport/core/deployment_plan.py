"""A blue/green deployment's decisions, as a pure function of its policy, its progress, what is observed and the time.

`schedule(policy, green_count)` turns a `BlueGreenUpdatePolicy` into the traffic steps SageMaker takes: the share of
the endpoint's traffic on the new (green) fleet after each step, and how long each step bakes. Every step short of
all the traffic bakes `WaitIntervalInSeconds`; the step that moves the last of it bakes `TerminationWaitInSeconds`,
after which the old (blue) fleet is stopped:

- ALL_AT_ONCE: all the traffic in one step.
- CANARY: `CanarySize` of the green fleet's capacity, then the rest.
- LINEAR: `LinearStepSize` more of it at each step (blue giving up as much), until green has it all.

A share is green capacity over the green fleet's size: a canary of 1 instance of 3 takes a third of the traffic.

`decide(schedule, progress, observed, now)` says what to do at one tick: hold, move to the next step, complete, or
roll back, naming why. Any watched alarm in ALARM, a green instance that cannot start, or the deployment outliving
`MaximumExecutionTimeoutInSeconds` rolls it back: all the traffic returns to blue at once (blue is still whole), and
green is stopped. The controller keeps `Progress` in the endpoint's record, so a restarted server resumes a
deployment where it was, or rolls it back if its time ran out meanwhile.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

ALARM = "ALARM"
PROVISIONING = -1  # Progress.step while the green fleet starts: no traffic on it yet


@dataclass(frozen=True)
class Step:
    green_share: float  # of the endpoint's traffic, 0 < share <= 1
    bake_s: float  # watched for alarms this long after the step, before the next
    green_capacity: int  # instances of green that the share stands for (for status messages)


@dataclass(frozen=True)
class Schedule:
    steps: tuple[Step, ...]
    timeout_s: float | None  # MaximumExecutionTimeoutInSeconds
    alarms: tuple[str, ...]  # AutoRollbackConfiguration.Alarms

    @property
    def last(self) -> int:
        return len(self.steps) - 1


@dataclass(frozen=True)
class Progress:
    started: float  # when the update was accepted
    step: int = PROVISIONING  # index into Schedule.steps
    step_started: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"started": self.started, "step": self.step, "step_started": self.step_started}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Progress:
        return cls(float(doc["started"]), int(doc["step"]), float(doc["step_started"]))


@dataclass(frozen=True)
class Observed:
    green_ready: bool  # every green fleet healthy at its full size
    green_failure: str | None = None  # why a green instance could not start, if one could not
    alarms: Mapping[str, str] | None = None  # watched alarm name -> its state (a missing alarm is not ALARM)


@dataclass(frozen=True)
class Hold:
    wake_at: float | None  # when the decision next changes on time alone (None: only on a change observed)


@dataclass(frozen=True)
class Advance:
    progress: Progress
    green_share: float


@dataclass(frozen=True)
class Complete:
    """Green has all the traffic and has baked: stop blue."""


@dataclass(frozen=True)
class RollBack:
    reason: str


Decision = Hold | Advance | Complete | RollBack


def capacity(size: Mapping[str, Any], count: int) -> int:
    """A `CapacitySize` of a fleet of `count` instances, in instances: at least one, at most the fleet."""
    value = int(size["Value"])
    wanted = value if size["Type"] == "INSTANCE_COUNT" else math.ceil(count * value / 100)
    return max(1, min(count, wanted))


def schedule(policy: Mapping[str, Any], green_count: int, alarms: tuple[str, ...] = ()) -> Schedule:
    """The steps of a `BlueGreenUpdatePolicy` for a green fleet of `green_count` instances."""
    routing = policy["TrafficRoutingConfiguration"]
    wait = float(routing.get("WaitIntervalInSeconds", 0))
    final = float(policy.get("TerminationWaitInSeconds", 0))
    timeout = policy.get("MaximumExecutionTimeoutInSeconds")
    mode = routing["Type"]
    if mode == "CANARY":
        sizes = [capacity(routing["CanarySize"], green_count)]
    elif mode == "LINEAR":
        step = capacity(routing["LinearStepSize"], green_count)
        sizes = list(range(step, green_count, step))
    else:  # ALL_AT_ONCE
        sizes = []
    steps = [Step(n / green_count, wait, n) for n in sizes if n < green_count]
    steps.append(Step(1.0, final, green_count))
    return Schedule(tuple(steps), float(timeout) if timeout is not None else None, alarms)


def schedule_of(config: Mapping[str, Any], variants: Sequence[Mapping[str, Any]]) -> Schedule:
    """The schedule of a `DeploymentConfig`'s blue/green policy for a new fleet of `variants` (their instances
    together: every variant takes the same share), watching its `AutoRollbackConfiguration` alarms."""
    size = max(1, sum(int(v["Count"]) for v in variants))
    return schedule(config["BlueGreenUpdatePolicy"], size, rollback_alarms(config))


def rollback_alarms(config: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The names of the alarms a `DeploymentConfig` watches (`AutoRollbackConfiguration`), in its order."""
    return tuple(a["AlarmName"] for a in (config or {}).get("AutoRollbackConfiguration", {}).get("Alarms", []))


def decide(plan: Schedule, progress: Progress, observed: Observed, now: float) -> Decision:
    tripped = sorted(name for name, state in (observed.alarms or {}).items() if name in plan.alarms and state == ALARM)
    if tripped:
        return RollBack(f"the deployment was rolled back: alarm {', '.join(tripped)} went into ALARM")
    if observed.green_failure is not None:
        return RollBack(f"the deployment was rolled back: {observed.green_failure}")
    if plan.timeout_s is not None and now - progress.started >= plan.timeout_s:
        return RollBack(
            f"the deployment was rolled back: it did not finish within {plan.timeout_s:g} seconds "
            "(MaximumExecutionTimeoutInSeconds)"
        )
    deadline = None if plan.timeout_s is None else progress.started + plan.timeout_s
    if progress.step == PROVISIONING:
        if not observed.green_ready:
            return Hold(deadline)
        return _to_step(plan, progress, 0, now)
    step = plan.steps[progress.step]
    baked_at = progress.step_started + step.bake_s
    if now < baked_at:
        return Hold(baked_at if deadline is None else min(baked_at, deadline))
    if progress.step == plan.last:
        return Complete()
    return _to_step(plan, progress, progress.step + 1, now)


def _to_step(plan: Schedule, progress: Progress, index: int, now: float) -> Advance:
    return Advance(replace(progress, step=index, step_started=now), plan.steps[index].green_share)


def variant_status(plan: Schedule, progress: Progress, green_count: int) -> dict[str, str]:
    """The green fleet's `VariantStatus` entry, with SageMaker's messages, for DescribeEndpoint."""
    if progress.step == PROVISIONING:
        return {"Status": "Creating", "StatusMessage": f"Launching {green_count} instance(s)."}
    step = plan.steps[progress.step]
    if step.green_share < 1.0:
        where = f"canary capacity of {step.green_capacity} instance(s)"
        wait = "WaitIntervalInSeconds"
    else:
        where = f"full capacity of {step.green_capacity} instance(s)"
        wait = "TerminationWaitInSeconds"
    message = f"Baking for {step.bake_s:g} seconds ({wait}) with traffic enabled on {where}."
    return {"Status": "Baking", "StatusMessage": message}
