"""A deployment under way, as its endpoint's page shows it: the traffic split, the new fleet's phases, the alarms
that would roll it back."""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup

from homeport.console.charts import Line, svg
from homeport.console.context import Console
from homeport.console.pages import attempt, duration, epoch
from homeport.services.events import ENDPOINT_DEPLOYMENT, LOG_GROUP, stream_name

HISTORY_EVENTS = 500  # a deployment's steps are a few dozen at most (a linear one's, each with its phases)


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
    green_percent = 100.0 * green / total if total else 0.0
    since = (pending or {}).get("StartTime")
    return {
        "config": (pending or {}).get("EndpointConfigName", ""),
        "since": since,
        "green_percent": green_percent,
        "history": split_history(
            console, endpoint["EndpointArn"], epoch(since) if since else now - 3600, now, green_percent
        ),
        "strategy": f"{strategy} {shift}".strip(),
        "phases": phases,
        "alarms": alarms,
    }


def split_history(console: Console, endpoint_arn: str, since: float, now: float, green_percent: float) -> Markup:
    """The new fleet's share of the traffic from `since` to now, as a step line: read from the deployment's
    "Endpoint Deployment State Change" events (each step's weights), which the events log keeps."""
    found, _ = attempt(
        console,
        "logs",
        "FilterLogEvents",
        {
            "logGroupName": LOG_GROUP,
            "logStreamNames": [stream_name(ENDPOINT_DEPLOYMENT)],
            "filterPattern": json.dumps(endpoint_arn),
            "startTime": int(since * 1000),
            "limit": HISTORY_EVENTS,
        },
    )
    points: list[tuple[float, float]] = [(since, 0.0)]
    for event in found.get("events", []):
        share = _green_share(event.get("message", ""), endpoint_arn)
        if share is not None:
            t = event["timestamp"] / 1000
            points += [(t, points[-1][1]), (t, share)]  # a step: the share holds until the next event
    points += [(now, points[-1][1]), (now, green_percent)]
    return svg("The new fleet's share of the traffic", [Line("new fleet", points)], since, now, " %")


def _green_share(message: str, endpoint_arn: str) -> float | None:
    """The new fleet's share in an event of this endpoint's (the filter's terms also match a longer name's)."""
    try:
        event = json.loads(message)
        if event["resources"] != [endpoint_arn]:
            return None
        detail = event["detail"]
        blue = sum(v.get("CurrentWeight", 0.0) for v in detail.get("ProductionVariants", []))
        green = sum(v.get("CurrentWeight", 0.0) for v in detail["PendingDeploymentSummary"]["ProductionVariants"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return 100.0 * green / (blue + green) if blue + green else None
