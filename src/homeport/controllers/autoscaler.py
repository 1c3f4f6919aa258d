"""The autoscaler: after each metric period's alarms are evaluated, every scalable target is brought into its
range, its due scheduled actions run, and `scaling_plan.decide` says what its policies in ALARM ask for. Each
change goes through UpdateEndpointWeightsAndCapacities, as in AWS, and is recorded as a scaling activity."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import asdict
from typing import Any

from homeport.controllers.alarm_plan import ALARM
from homeport.controllers.alarms import watched
from homeport.controllers.scaling_plan import (
    NO_HISTORY,
    Bounds,
    History,
    Policy,
    StepAdjustment,
    StepScaling,
    TargetTracking,
    Trigger,
    decide,
    remember,
)
from homeport.core import schedules
from homeport.core.states import EndpointStatus
from homeport.errors import HomeportError
from homeport.services.alarms import alarm_period
from homeport.services.context import Context
from homeport.services.endpoints import EndpointService
from homeport.services.metrics import MetricService
from homeport.services.scaling import (
    DEFAULT_COOLDOWN,
    DIMENSION,
    NAMESPACE,
    ScalingService,
    capacity_change,
    capacity_of,
    capacity_words,
    next_run,
    resource_parts,
    served_capacity,
)
from homeport.store import Kind, alarms
from homeport.store.scaling import Item, find, get, prune_activities, put

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 60.0
ACTIVITIES_KEPT_S = 6 * 7 * 86400  # AWS keeps six weeks of scaling activities
SETTLE_LOOKBACK = 5


def policy_of(doc: dict[str, Any]) -> Policy:
    name = doc["PolicyName"]
    if doc["PolicyType"] == "TargetTrackingScaling":
        c = doc["TargetTrackingScalingPolicyConfiguration"]
        return TargetTracking(
            name,
            c["TargetValue"],
            c.get("ScaleOutCooldown", DEFAULT_COOLDOWN),
            c.get("ScaleInCooldown", DEFAULT_COOLDOWN),
            c.get("DisableScaleIn", False),
        )
    c = doc["StepScalingPolicyConfiguration"]
    steps = tuple(
        StepAdjustment(s.get("MetricIntervalLowerBound"), s.get("MetricIntervalUpperBound"), s["ScalingAdjustment"])
        for s in c["StepAdjustments"]
    )
    return StepScaling(
        name, c["AdjustmentType"], steps, c.get("MinAdjustmentMagnitude"), c.get("Cooldown", DEFAULT_COOLDOWN)
    )


class Autoscaler:
    def __init__(
        self, ctx: Context, scaling: ScalingService, endpoints: EndpointService, metrics: MetricService
    ) -> None:
        self.ctx = ctx
        self.scaling = scaling
        self.endpoints = endpoints
        self.metrics = metrics
        self._pruned = 0.0

    async def run_once(self, now: float) -> None:
        await asyncio.to_thread(self.tick, now)

    def tick(self, now: float) -> None:
        with self.ctx.store.transaction() as conn:
            targets = find(conn, Item.TARGET)
            # The alarms that may run a policy this period, read once for every target.
            firing = [a for a in alarms.find(conn) if a["StateValue"] == ALARM and a.get("ActionsEnabled", True)]
            if now - self._pruned >= PRUNE_EVERY_S:
                self._pruned = now
                prune_activities(conn, now - ACTIVITIES_KEPT_S)
        for target in targets:
            try:
                self._target(target, firing, now)
            except Exception:  # one target's trouble must not stop the others
                log.exception("autoscaling %s failed", target["ResourceId"])

    def _target(self, target: dict[str, Any], firing: list[dict[str, Any]], now: float) -> None:
        resource_id = target["ResourceId"]
        endpoint, variant = resource_parts(resource_id)
        with self.ctx.store.transaction() as conn:
            doc = self.ctx.store.get(conn, Kind.ENDPOINT, endpoint)
            policies = find(conn, Item.POLICY, resource_id)
            actions = find(conn, Item.SCHEDULED, resource_id)
        if doc is None:
            return
        suspended = target["SuspendedState"]
        if not suspended["ScheduledScalingSuspended"]:
            target = self._run_scheduled(target, actions, now)
        self._settle(resource_id, doc, variant, target.get("ScalableDimension", DIMENSION), now)
        if doc["EndpointStatus"] != EndpointStatus.IN_SERVICE.value or doc["_serving"] is None:
            return  # mid-update: the next period looks again
        current = next(capacity_of(v) for v in doc["_serving"]["variants"] if v["VariantName"] == variant)
        bounds = Bounds(
            target["MinCapacity"],
            target["MaxCapacity"],
            suspended["DynamicScalingInSuspended"],
            suspended["DynamicScalingOutSuspended"],
        )
        inside = max(bounds.min_capacity, min(current, bounds.max_capacity))
        if inside != current:
            side = "minimum" if inside > current else "maximum"
            self._scale(target, endpoint, variant, inside, f"{side} capacity was set to {inside}", now)
            return
        triggers = [t for p in policies for t in self._triggers(p, firing, now)]
        history = History(**target["_history"]) if target.get("_history") else NO_HISTORY
        decision = decide(current, triggers, bounds, history, now, policies=[policy_of(p) for p in policies])
        if decision is not None and self._scale(target, endpoint, variant, decision.capacity, decision.cause, now):
            self._remember(resource_id, asdict(remember(history, decision, now)))

    def _triggers(self, policy: dict[str, Any], firing: list[dict[str, Any]], now: float) -> list[Trigger]:
        """The policy's alarms that are in ALARM, each with its metric's latest value."""
        out = []
        plan = policy_of(policy)
        arn = policy["PolicyARN"]
        for alarm in firing:
            if arn not in alarm.get("AlarmActions", []):
                continue
            value = self._latest(alarm, now)
            if value is None:
                continue
            threshold = alarm["Threshold"]
            if isinstance(plan, TargetTracking):
                # The alarms compare in the metric's unit per period; the policy's TargetValue may be per minute.
                _, scale = self.scaling.tracked_metric(policy["ResourceId"], policy[_TT])
                value, threshold = value / scale, threshold / scale
                kind = "high" if "-AlarmHigh-" in alarm["AlarmName"] else "low"
                out.append(Trigger(plan, kind, value, threshold, alarm["AlarmName"]))
            else:
                out.append(Trigger(plan, alarm["AlarmName"], value, threshold, alarm["AlarmName"]))
        return out

    def _latest(self, alarm: dict[str, Any], now: float) -> float | None:
        period = alarm_period(alarm)
        end = now - now % period
        series = watched(self.metrics, alarm, end - 3 * period, end)
        return series[-1].value if series else None

    def _run_scheduled(self, target: dict[str, Any], actions: list[dict[str, Any]], now: float) -> dict[str, Any]:
        """Run the target's due scheduled actions: each sets a new MinCapacity and/or MaxCapacity."""
        for action in actions:
            due = action.get("_next")
            if due is None or due > now:
                continue
            change = action["ScalableTargetAction"]
            minimum = change.get("MinCapacity", target["MinCapacity"])
            maximum = change.get("MaxCapacity", target["MaxCapacity"])
            target = {**target, "MinCapacity": min(minimum, maximum), "MaxCapacity": max(minimum, maximum)}
            action["_next"] = next_run(action, schedules.parse(action["Schedule"]), now)
            with self.ctx.store.transaction() as conn:
                put(
                    conn,
                    Item.SCHEDULED,
                    action["ScheduledActionARN"],
                    action["ResourceId"],
                    action["CreationTime"],
                    action,
                )
                put(conn, Item.TARGET, target["ResourceId"], target["ResourceId"], target["CreationTime"], target)
                self._activity(
                    conn,
                    target,
                    f"Setting min capacity to {target['MinCapacity']} and max capacity to {target['MaxCapacity']}",
                    f"scheduled action name {action['ScheduledActionName']} was triggered",
                    "Successful",
                    f"Successfully set min capacity to {target['MinCapacity']} and max capacity to "
                    f"{target['MaxCapacity']}",
                    now,
                )
        return target

    def _scale(
        self, target: dict[str, Any], endpoint: str, variant: str, capacity: int, cause: str, now: float
    ) -> bool:
        """Set the variant's DesiredInstanceCount (a serverless one's ProvisionedConcurrency) as AWS does, through
        UpdateEndpointWeightsAndCapacities."""
        dimension = target.get("ScalableDimension", DIMENSION)
        words = capacity_words(dimension)
        description = f"Setting {words} to {capacity}."
        try:
            change = capacity_change(variant, dimension, capacity)
            self.endpoints.update_weights_and_capacities(
                {"EndpointName": endpoint, "DesiredWeightsAndCapacities": [change]}
            )
        except HomeportError as exc:
            status, message, done = ("Failed", f"Failed to set {words} to {capacity}. {exc.message}", False)
        else:
            # In progress until the variant serves at that capacity (`_settle` sees to it).
            unit = "provisioned concurrency" if dimension != DIMENSION else "instances"
            status, message, done = "InProgress", f"Waiting for sagemaker to set {capacity} {unit}.", True
        log.info("%s: %s (%s)", target["ResourceId"], description, cause)
        with self.ctx.store.transaction() as conn:
            self._activity(conn, target, description, cause, status, message, now, capacity)
        return done

    def _settle(self, resource_id: str, doc: dict[str, Any], variant: str, dimension: str, now: float) -> None:
        """End the target's activities in progress: Successful once the endpoint is InService with the variant at
        the capacity asked for, Failed when the update was given up (the endpoint says why)."""
        if doc["EndpointStatus"] != EndpointStatus.IN_SERVICE.value:
            return
        serving = next((v for v in doc["ProductionVariants"] if v["VariantName"] == variant), None)
        with self.ctx.store.transaction() as conn:
            # One activity runs at a time (a target is not scaled while its endpoint updates): the newest few
            # hold any still in progress.
            for activity in find(conn, Item.ACTIVITY, resource_id, newest_first=True, limit=SETTLE_LOOKBACK):
                if activity["StatusCode"] != "InProgress":
                    continue
                capacity, words = activity["_capacity"], capacity_words(dimension)
                if doc.get("FailureReason") and doc["LastModifiedTime"] >= activity["StartTime"]:
                    activity["StatusCode"] = "Failed"
                    activity["StatusMessage"] = f"Failed to set {words} to {capacity}. " + doc["FailureReason"]
                elif serving is not None and served_capacity(serving, dimension) == capacity:
                    activity["StatusCode"] = "Successful"
                    activity["StatusMessage"] = (
                        f"Successfully set {words} to {capacity}. Change successfully fulfilled by sagemaker."
                    )
                else:
                    continue
                activity["EndTime"] = now
                put(conn, Item.ACTIVITY, activity["ActivityId"], resource_id, activity["StartTime"], activity)

    def _activity(
        self,
        conn: Any,
        target: dict[str, Any],
        description: str,
        cause: str,
        status: str,
        message: str,
        now: float,
        capacity: int | None = None,
    ) -> None:
        activity_id = str(uuid.uuid4())
        doc = {
            "ActivityId": activity_id,
            "ServiceNamespace": NAMESPACE,
            "ResourceId": target["ResourceId"],
            "ScalableDimension": target.get("ScalableDimension", DIMENSION),
            "Description": description,
            "Cause": cause,
            "StartTime": now,
            "StatusCode": status,
            "StatusMessage": message,
        }
        if status == "InProgress":
            doc["_capacity"] = capacity
        else:
            doc["EndTime"] = now
        put(conn, Item.ACTIVITY, activity_id, target["ResourceId"], now, doc)

    def _remember(self, resource_id: str, history: dict[str, Any]) -> None:
        """Keep the cooldown history on the target, read afresh so a concurrent registration is not undone."""
        with self.ctx.store.transaction() as conn:
            target = get(conn, Item.TARGET, resource_id)
            if target is not None:
                target["_history"] = history
                put(conn, Item.TARGET, resource_id, resource_id, target["CreationTime"], target)


_TT = "TargetTrackingScalingPolicyConfiguration"
