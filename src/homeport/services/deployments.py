"""`DeploymentConfig` on CreateEndpoint and UpdateEndpoint: SageMaker's rules, checked before anything changes.

A blue/green policy becomes the endpoint's `_deployment` record, which the endpoint controller steps through
(`core/deployment_plan.py`). Rolling updates are refused for now, with what to use instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from homeport.core.deployment_plan import Progress, rollback_alarms, schedule_of
from homeport.errors import ValidationError
from homeport.store import alarms

LIMITS = {"CanarySize": (None, 50), "LinearStepSize": (10, 50)}  # percent of each variant's instances


def check(conn: Any, config: dict[str, Any], old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]]) -> None:
    """Refuse a `DeploymentConfig` SageMaker would refuse for an update from the `old` variants to the `new`
    (`old` empty: CreateEndpoint, which keeps it for later updates)."""
    blue_green, rolling = config.get("BlueGreenUpdatePolicy"), config.get("RollingUpdatePolicy")
    if blue_green is not None and rolling is not None:
        raise ValidationError(
            "Only one update policy should be used in the deployment configuration: give BlueGreenUpdatePolicy "
            "or RollingUpdatePolicy, not both."
        )
    if rolling is not None:
        raise ValidationError(
            "homeport does not support RollingUpdatePolicy yet; use BlueGreenUpdatePolicy (ALL_AT_ONCE, CANARY or "
            "LINEAR), which keeps the old fleet whole until the new one has all the traffic."
        )
    names = rollback_alarms(config)
    known = {a["AlarmName"] for a in alarms.find(conn, names)}
    missing = [n for n in dict.fromkeys(names) if n not in known]
    if missing:
        raise ValidationError(
            f"The alarm(s) {', '.join(missing)} in AutoRollbackConfiguration do not exist; create them with "
            "PutMetricAlarm first."
        )
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
    as soon as the new fleet is ready (no config, or one without a blue/green policy)."""
    if not config or "BlueGreenUpdatePolicy" not in config:
        return None
    return {"config": config, "progress": Progress(started=now).to_json(), "share": 0.0}
