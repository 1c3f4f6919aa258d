"""A rolling deployment's decisions, as a pure function of its policy, its progress, what is observed and the time.

A rolling update replaces the one production variant's fleet batch by batch, so the endpoint never runs much more
than one fleet (SageMaker: "fewer instances are active at a time" than blue/green). With `new` instances wanted
and a batch of `b` (`MaximumBatchSize` of the new fleet), step k of ceil(new / b):

1. starts green batch k: green grows to `green(k)` = min(k * b, new) instances, blue still `blue(k - 1)`;
2. once they pass /ping, moves their share of the traffic to green: green(k) / new;
3. bakes `WaitIntervalInSeconds`, watching the alarms;
4. stops a batch of blue: blue shrinks to `blue(k)`, the old fleet in proportion to what green now carries.

After the last step baked, the rest of blue is stopped. An alarm in ALARM, a green instance that cannot start or the
deployment outliving `MaximumExecutionTimeoutInSeconds` starts a rollback, which undoes it the same way: traffic
leaves green's newest batch at once (the blue instances for it are still up), then blue is started again in batches
of `RollbackMaximumBatchSize` (all at once when absent), each taking its share of the traffic back from green as it
passes /ping, until blue is whole and green is stopped. A blue instance that cannot start during the rollback leaves
the endpoint `UpdateRollbackFailed`: serving, on what is left of both fleets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from homeport.core.deployment_plan import ALARM, Complete, Hold, RollBack, capacity, rollback_alarms


@dataclass(frozen=True)
class Rolling:
    old: int  # instances of the variant's old (blue) fleet
    new: int  # instances of its new (green) fleet
    batch: int  # MaximumBatchSize, in green instances
    rollback_batch: int  # RollbackMaximumBatchSize, in blue instances
    bake_s: float  # WaitIntervalInSeconds
    timeout_s: float | None  # MaximumExecutionTimeoutInSeconds
    alarms: tuple[str, ...]  # AutoRollbackConfiguration.Alarms

    @property
    def steps(self) -> int:
        return math.ceil(self.new / self.batch)

    def green(self, step: int) -> int:
        """Green instances once batch `step` (1-based; 0: none yet) is up."""
        return min(step * self.batch, self.new)

    def blue(self, step: int) -> int:
        """Blue instances left once batch `step` has baked: the old fleet in proportion to blue's traffic."""
        return math.ceil(self.old * (1 - self.green(step) / self.new))


@dataclass(frozen=True)
class RollingProgress:
    started: float  # when the update was accepted
    step: int = 1  # the batch being deployed, 1-based
    step_started: float | None = None  # when its traffic moved; None while its instances start
    blue: int | None = None  # rolling back: the blue instances wanted now
    reason: str | None = None  # rolling back: why

    @property
    def rolling_back(self) -> bool:
        return self.blue is not None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"started": self.started, "step": self.step, "step_started": self.step_started}
        if self.rolling_back:
            doc.update(blue=self.blue, reason=self.reason)
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> RollingProgress:
        return cls(doc["started"], doc["step"], doc.get("step_started"), doc.get("blue"), doc.get("reason"))


@dataclass(frozen=True)
class RollingObserved:
    green_healthy: int
    blue_healthy: int
    green_failure: str | None = None  # why a green instance could not start
    blue_failure: str | None = None  # why a blue instance could not start again (during a rollback)
    alarms: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Roll:
    """The next state: `progress`, with `green_share` of the traffic on green from now."""

    progress: RollingProgress
    green_share: float


@dataclass(frozen=True)
class RollbackFailed:
    reason: str


RollingDecision = Hold | Roll | Complete | RollBack | RollbackFailed


def rolling_of(
    config: Mapping[str, Any], old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]
) -> Rolling:
    """The plan of a `DeploymentConfig`'s `RollingUpdatePolicy` from the `old` variant to the `new` (one each)."""
    policy = config["RollingUpdatePolicy"]
    old_count, new_count = max(1, int(old[0]["Count"])), max(1, int(new[0]["Count"]))
    rollback = policy.get("RollbackMaximumBatchSize")
    timeout = policy.get("MaximumExecutionTimeoutInSeconds")
    return Rolling(
        old=old_count,
        new=new_count,
        batch=capacity(policy["MaximumBatchSize"], new_count),
        rollback_batch=capacity(rollback, old_count) if rollback else old_count,
        bake_s=float(policy["WaitIntervalInSeconds"]),
        timeout_s=float(timeout) if timeout is not None else None,
        alarms=rollback_alarms(config),
    )


def fleet_sizes(plan: Rolling, progress: RollingProgress, share: float) -> tuple[int, int]:
    """(blue, green) instances wanted now."""
    if progress.blue is not None:
        return progress.blue, math.ceil(plan.new * share - 1e-9)
    return plan.blue(progress.step - 1), plan.green(progress.step)


def decide_rolling(
    plan: Rolling, progress: RollingProgress, share: float, observed: RollingObserved, now: float
) -> RollingDecision:
    if progress.blue is not None:
        return _roll_back(plan, progress, share, observed)
    reason = _why_roll_back(plan, progress, observed, now)
    if reason is not None:
        return Roll(replace(progress, blue=plan.blue(progress.step - 1), reason=reason), share)
    deadline = None if plan.timeout_s is None else progress.started + plan.timeout_s
    if progress.step_started is None:
        if observed.green_healthy < plan.green(progress.step):
            return Hold(deadline)
        return Roll(replace(progress, step_started=now), plan.green(progress.step) / plan.new)
    baked_at = progress.step_started + plan.bake_s
    if now < baked_at:
        return Hold(baked_at if deadline is None else min(baked_at, deadline))
    if progress.step >= plan.steps:
        return Complete()
    return Roll(replace(progress, step=progress.step + 1, step_started=None), share)


def _why_roll_back(plan: Rolling, progress: RollingProgress, observed: RollingObserved, now: float) -> str | None:
    tripped = sorted(name for name, state in (observed.alarms or {}).items() if name in plan.alarms and state == ALARM)
    if tripped:
        return f"the deployment was rolled back: alarm {', '.join(tripped)} went into ALARM"
    if observed.green_failure is not None:
        return f"the deployment was rolled back: {observed.green_failure}"
    if plan.timeout_s is not None and now - progress.started >= plan.timeout_s:
        return (
            f"the deployment was rolled back: it did not finish within {plan.timeout_s:g} seconds "
            "(MaximumExecutionTimeoutInSeconds)"
        )
    return None


def _roll_back(plan: Rolling, progress: RollingProgress, share: float, observed: RollingObserved) -> RollingDecision:
    assert progress.blue is not None
    reason = progress.reason or "the deployment was rolled back"
    if observed.blue_failure is not None:
        return RollbackFailed(f"{reason}; then the rollback failed: {observed.blue_failure}")
    if observed.blue_healthy < progress.blue:
        return Hold(None)
    if progress.blue >= plan.old:
        return RollBack(reason)
    # The blue that is up takes its share back; the next batch of blue starts.
    back = min(share, 1 - progress.blue / plan.old)
    return Roll(replace(progress, blue=min(plan.old, progress.blue + plan.rollback_batch)), back)


def rolling_status(plan: Rolling, progress: RollingProgress, share: float) -> dict[str, str]:
    """The new fleet's `VariantStatus` entry for DescribeEndpoint's PendingDeploymentSummary."""
    blue, green = fleet_sizes(plan, progress, share)
    if progress.blue is not None:
        return {
            "Status": "Deleting",
            "StatusMessage": f"Rolling back: launching the old fleet again ({blue} of {plan.old} instance(s)); "
            f"{green} new instance(s) keep their traffic until it is up.",
        }
    if progress.step_started is None:
        return {
            "Status": "Creating",
            "StatusMessage": f"Launching {green - plan.green(progress.step - 1)} instance(s).",
        }
    return {
        "Status": "Baking",
        "StatusMessage": f"Baking for {plan.bake_s:g} seconds (WaitIntervalInSeconds) with traffic enabled on "
        f"{green} of {plan.new} instance(s) (batch {progress.step} of {plan.steps}).",
    }
