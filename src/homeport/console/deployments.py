"""A deployment under way, as its endpoint's page shows it: the traffic split, the new fleet's phases, the alarms
that would roll it back."""

from __future__ import annotations

from typing import Any

from homeport.console.context import Console
from homeport.console.pages import attempt, duration, epoch


def deployment_view(console: Console, endpoint: dict[str, Any], now: float) -> dict[str, Any] | None:
    """A blue/green or rolling deployment under way: the traffic split between the fleets, each new variant's
    phase (Creating, Baking …) and how long it has been in it, and the alarms that would roll it back."""
    pending = endpoint.get("PendingDeploymentSummary")
    config = endpoint.get("LastDeploymentConfig") or {}
    if pending is None and endpoint.get("EndpointStatus") not in ("RollingBack", "UpdateRollbackFailed"):
        return None
    green = sum(v.get("CurrentWeight", 0.0) for v in (pending or {}).get("ProductionVariants", []))
    blue = sum(v.get("CurrentWeight", 0.0) for v in endpoint.get("ProductionVariants", []))
    phases = [
        {
            "variant": v["VariantName"],
            "status": s["Status"],
            "message": s.get("StatusMessage", ""),
            "for": duration(now - epoch(s["StartTime"])) if s.get("StartTime") else "",
        }
        for v in (pending or {}).get("ProductionVariants", [])
        for s in v.get("VariantStatus", [])
    ]
    names = [a["AlarmName"] for a in (config.get("AutoRollbackConfiguration") or {}).get("Alarms", [])]
    alarms: list[dict[str, Any]] = []
    if names:
        found, _ = attempt(console, "cloudwatch", "DescribeAlarms", {"AlarmNames": names})
        alarms = found.get("MetricAlarms", [])
    strategy = "RollingUpdatePolicy" if "RollingUpdatePolicy" in config else "BlueGreenUpdatePolicy"
    shift = (config.get("BlueGreenUpdatePolicy") or {}).get("TrafficRoutingConfiguration", {}).get("Type", "")
    total = blue + green
    return {
        "config": (pending or {}).get("EndpointConfigName", ""),
        "since": (pending or {}).get("StartTime"),
        "green_percent": 100.0 * green / total if total else 0.0,
        "strategy": f"{strategy} {shift}".strip(),
        "phases": phases,
        "alarms": alarms,
    }
