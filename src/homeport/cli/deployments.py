"""`homeport deployments ENDPOINT [--watch]`: a blue/green deployment as it runs, and the recent ones.

The old (blue) and new (green) fleets, a bar of the traffic split, the current step with its baking timer, the
states of the alarms that would roll it back, and how the endpoint's last deployments ended. All of it comes from
DescribeEndpoint (`PendingDeploymentSummary`, `LastDeploymentConfig`, `FailureReason`, and homeport's own
`HomeportDeployments`) and DescribeAlarms.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from homeport.cli.queue import raw_describe
from homeport.core.deployment_plan import rollback_alarms

BAR = 40  # characters of the traffic bar


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("endpoint")
    parser.add_argument("--watch", action="store_true", help="redraw every --interval seconds until it is over")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between redraws (--watch)")


def snapshot(sagemaker: Any, cloudwatch: Any, endpoint: str, now: float) -> dict[str, Any]:
    """What the view shows, as JSON: the endpoint's fleets and the deployment's step and alarms."""
    doc = raw_describe(sagemaker, endpoint)  # with homeport's own HomeportDeployments, which boto3 drops
    pending = doc.get("PendingDeploymentSummary")
    config = doc.get("LastDeploymentConfig") or {}
    names = list(rollback_alarms(config))
    alarms = cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"] if names else []
    blue = [_fleet(v) for v in doc.get("ProductionVariants", [])]
    view: dict[str, Any] = {
        "EndpointName": endpoint,
        "EndpointStatus": doc["EndpointStatus"],
        "Blue": {"EndpointConfigName": doc["EndpointConfigName"], "Variants": blue},
        "Alarms": [{"AlarmName": a["AlarmName"], "StateValue": a["StateValue"]} for a in alarms],
    }
    if pending:
        variants = pending.get("ProductionVariants", [])
        status = (variants[0].get("VariantStatus") or [{}])[0] if variants else {}
        started = status.get("StartTime")
        view["Green"] = {"EndpointConfigName": pending["EndpointConfigName"], "Variants": [_fleet(v) for v in variants]}
        view["GreenShare"] = _share(variants)
        view["Step"] = {
            "Status": status.get("Status"),
            "StatusMessage": status.get("StatusMessage"),
            "Seconds": round(now - float(started), 1) if started is not None else None,
        }
    elif doc.get("FailureReason"):
        view["LastOutcome"] = doc["FailureReason"]
    view["History"] = doc.get("HomeportDeployments", [])
    return view


def _fleet(variant: dict[str, Any]) -> dict[str, Any]:
    keys = ("VariantName", "CurrentInstanceCount", "DesiredInstanceCount", "CurrentWeight", "DesiredWeight")
    return {k: variant[k] for k in keys if k in variant}


def _share(variants: list[dict[str, Any]]) -> float:
    """Green's share of the traffic: its current weight over its desired weight (the share it moves towards)."""
    desired = sum(v.get("DesiredWeight", 0.0) for v in variants)
    return sum(v.get("CurrentWeight", 0.0) for v in variants) / desired if desired else 0.0


def render(view: dict[str, Any]) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = [Text.from_markup(f"[bold]{view['EndpointName']}[/bold]  {view['EndpointStatus']}")]
    fleets = Table(show_edge=False)
    for column in ("Fleet", "Config", "Variant", "Instances", "Weight"):
        fleets.add_column(column)
    for label, fleet in (("blue", view["Blue"]), ("green", view.get("Green") or {})):
        for v in fleet.get("Variants", []):
            count = f"{v.get('CurrentInstanceCount')}/{v.get('DesiredInstanceCount')}"
            weight = f"{v.get('CurrentWeight', 0):g}/{v.get('DesiredWeight', 0):g}"
            fleets.add_row(label, fleet["EndpointConfigName"], v["VariantName"], count, weight)
    parts.append(fleets)
    if "Green" in view:
        share = view["GreenShare"]
        green = round(share * BAR)
        parts.append(
            Text.from_markup(
                f"traffic [blue]{'█' * (BAR - green)}[/blue][green]{'█' * green}[/green] {share:.0%} on green"
            )
        )
        step = view["Step"]
        timer = f" ({step['Seconds']:g} s in)" if step.get("Seconds") is not None else ""
        parts.append(Text(f"{step.get('Status')}{timer}: {step.get('StatusMessage')}"))
    elif "LastOutcome" in view:
        parts.append(Text.from_markup(f"[red]last deployment:[/red] {view['LastOutcome']}"))
    else:
        parts.append(Text("no deployment under way"))
    for alarm in view["Alarms"]:
        colour = "red" if alarm["StateValue"] == "ALARM" else "green"
        parts.append(Text.from_markup(f"alarm {alarm['AlarmName']}: [{colour}]{alarm['StateValue']}[/{colour}]"))
    if view["History"]:
        history = Table(title="recent deployments", show_edge=False)
        for column in ("Ended", "Config", "Type", "Outcome", "Took", "Reason"):
            history.add_column(column)
        for d in view["History"]:
            ended = datetime.fromtimestamp(d["EndTime"], UTC).strftime("%Y-%m-%d %H:%M:%S")
            took = f"{d['EndTime'] - d['StartTime']:.0f} s"
            history.add_row(ended, d["EndpointConfigName"], d["Type"], d["Outcome"], took, d.get("Reason", ""))
        parts.append(history)
    return Group(*parts)


def cmd_deployments(args: argparse.Namespace, client: Callable[[str], Any]) -> int:
    sagemaker, cloudwatch = client("sagemaker"), client("cloudwatch")
    view = snapshot(sagemaker, cloudwatch, args.endpoint, time.time())
    if args.json:
        print(json.dumps(view, indent=2, default=str))
        return 0
    from rich.console import Console

    console = Console()
    if not args.watch:
        console.print(render(view))
        return 0
    from rich.live import Live

    with Live(render(view), console=console, refresh_per_second=4) as live:
        while view["EndpointStatus"] in ("Updating", "RollingBack"):
            time.sleep(args.interval)
            view = snapshot(sagemaker, cloudwatch, args.endpoint, time.time())
            live.update(render(view))
    return 0
