"""`DeploymentConfig` on CreateEndpoint and UpdateEndpoint: SageMaker's rules, checked before anything changes.

A blue/green or rolling policy becomes the endpoint's `_deployment` record, which the endpoint controller steps
through (`core/deployment_plan.py`, `core/rolling_plan.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from homeport.core.deployment_plan import Progress, rollback_alarms, schedule_of
from homeport.core.rolling_plan import RollingProgress, rolling_of
from homeport.errors import ValidationError
from homeport.store import alarms

# Percent of each variant's instances (SageMaker's CapacitySize documentation).
LIMITS = {"CanarySize": (None, 50), "LinearStepSize": (10, 50), "MaximumBatchSize": (5, 50)}


def check(
    conn: Any,
    config: dict[str, Any],
    old: Sequence[dict[str, Any]],
    new: Sequence[dict[str, Any]],
    shadows: bool = False,
) -> None:
    """Refuse a `DeploymentConfig` SageMaker would refuse for an update from the `old` variants to the `new`
    (`old` empty: CreateEndpoint, which keeps it for later updates); `shadows`: either has shadow variants."""
    blue_green, rolling = config.get("BlueGreenUpdatePolicy"), config.get("RollingUpdatePolicy")
    if blue_green is not None and rolling is not None:
        raise ValidationError(
            "Only one update policy should be used in the deployment configuration: give BlueGreenUpdatePolicy "
            "or RollingUpdatePolicy, not both."
        )
    names = rollback_alarms(config)
    known = {a["AlarmName"] for a in alarms.find(conn, names)}
    missing = [n for n in dict.fromkeys(names) if n not in known]
    if missing:
        raise ValidationError(
            f"The alarm(s) {', '.join(missing)} in AutoRollbackConfiguration do not exist; create them with "
            "PutMetricAlarm first."
        )
    if rolling is not None:
        return _check_rolling(config, old, new, shadows)
    if blue_green is None:
        return
    routing = blue_green["TrafficRoutingConfiguration"]
    mode = routing["Type"]
    for field, wanted in (("CanarySize", "CANARY"), ("LinearStepSize", "LINEAR")):
        if mode == wanted and field not in routing:
            raise ValidationError(f"TrafficRoutingConfiguration of Type {mode} needs {field}.")
        if mode != wanted and field in routing:
            raise ValidationError(f"{field} is only for TrafficRoutingConfiguration of Type {wanted}, not {mode}.")
        if field in routing:
            for variant in new:
                _check_size(field, routing[field], variant)
    if old and sorted(v["VariantName"] for v in old) != sorted(v["VariantName"] for v in new):
        raise ValidationError(
            "A blue/green deployment needs the new endpoint config to keep the endpoint's variant names "
            f"({', '.join(sorted(v['VariantName'] for v in old))}); update without DeploymentConfig to rename them."
        )
    timeout = blue_green.get("MaximumExecutionTimeoutInSeconds")
    if timeout is not None and new:
        waits = sum(step.bake_s for step in schedule_of(config, new).steps)
        if timeout <= waits:
            raise ValidationError(
                f"MaximumExecutionTimeoutInSeconds ({timeout}) must be larger than the deployment's waits "
                f"({waits:g} seconds: WaitIntervalInSeconds at each step and TerminationWaitInSeconds)."
            )


def _check_rolling(
    config: dict[str, Any], old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]], shadows: bool
) -> None:
    for fleet in (old, new):
        if len(fleet) > 1 or shadows:
            raise ValidationError(
                "A rolling deployment needs an endpoint with one production variant and no shadow variant; "
                "use BlueGreenUpdatePolicy for endpoints with several."
            )
    policy = config["RollingUpdatePolicy"]
    for variant in new:
        _check_size("MaximumBatchSize", policy["MaximumBatchSize"], variant)
    if old and old[0]["VariantName"] != new[0]["VariantName"]:
        raise ValidationError(
            f"A rolling deployment needs the new endpoint config to keep the endpoint's variant name "
            f"({old[0]['VariantName']}); update without DeploymentConfig to rename it."
        )
    timeout = policy.get("MaximumExecutionTimeoutInSeconds")
    if timeout is not None and old and new:
        plan = rolling_of(config, old, new)
        waits = plan.steps * plan.bake_s
        if timeout <= waits:
            raise ValidationError(
                f"MaximumExecutionTimeoutInSeconds ({timeout}) must be larger than the deployment's waits "
                f"({waits:g} seconds: WaitIntervalInSeconds after each of its {plan.steps} batches)."
            )


def _check_size(field: str, size: dict[str, Any], variant: dict[str, Any]) -> None:
    count = variant["Count"]
    percent = size["Value"] if size["Type"] == "CAPACITY_PERCENT" else 100 * size["Value"] / max(count, 1)
    low, high = LIMITS[field]
    if percent > high or (low is not None and percent < low):
        bounds = f"between {low}% and {high}%" if low is not None else f"at most {high}%"
        raise ValidationError(
            f"{field} must be {bounds} of variant {variant['VariantName']}'s {count} instance(s); "
            f"{size['Value']} {size['Type']} is {percent:g}%."
        )


def start(config: dict[str, Any] | None, now: float) -> dict[str, Any] | None:
    """The `_deployment` record of an update with `config`; None when the update moves all traffic at once
    as soon as the new fleet is ready (no config, or one with only AutoRollbackConfiguration)."""
    if not config:
        return None
    if "RollingUpdatePolicy" in config:
        return {"config": config, "progress": RollingProgress(started=now).to_json(), "share": 0.0}
    if "BlueGreenUpdatePolicy" in config:
        return {"config": config, "progress": Progress(started=now).to_json(), "share": 0.0}
    return None
