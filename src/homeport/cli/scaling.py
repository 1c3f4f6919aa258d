"""`homeport scaling ENDPOINT`: what an endpoint's capacity is doing: its variants, scalable targets, scaling
policies with their alarms' states, scheduled actions and recent scaling activities, read through the public APIs
(SageMaker, Application Auto Scaling, CloudWatch)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from homeport.cli.output import print_json, when

Clients = Callable[[str], Any]  # a service's name -> a boto3 client for it, signed and aimed at the server

NAMESPACE = "sagemaker"  # Application Auto Scaling's service namespace for endpoint variants
RECENT_ACTIVITIES = 20
ALARMS_PER_CALL = 100  # DescribeAlarms' limit on AlarmNames
COUNTS_AND_WEIGHTS = ("CurrentInstanceCount", "DesiredInstanceCount", "CurrentWeight", "DesiredWeight")


def policy_summary(policy: dict[str, Any]) -> str:
    """A scaling policy's configuration in one line: its target, or its steps."""
    tracking = policy.get("TargetTrackingScalingPolicyConfiguration")
    if tracking:
        predefined = tracking.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType")
        metric = predefined or tracking.get("CustomizedMetricSpecification", {}).get("MetricName", "?")
        parts = [f"{metric} at {number(tracking['TargetValue'])}"]
        for key, what in (("ScaleOutCooldown", "out"), ("ScaleInCooldown", "in")):
            if key in tracking:
                parts.append(f"cooldown {what} {tracking[key]} s")
        if tracking.get("DisableScaleIn"):
            parts.append("scale-in disabled")
        return ", ".join(parts)
    step = policy.get("StepScalingPolicyConfiguration", {})
    sign = {"ChangeInCapacity": "{:+d}", "PercentChangeInCapacity": "{:+d}%", "ExactCapacity": "={:d}"}
    shape = sign.get(step.get("AdjustmentType", ""), "{}")
    steps = [
        f"[{number(s.get('MetricIntervalLowerBound', -math.inf))}, "
        f"{number(s.get('MetricIntervalUpperBound', math.inf))}) {shape.format(s['ScalingAdjustment'])}"
        for s in step.get("StepAdjustments", [])
    ]
    parts = [", ".join(steps) or "no steps"]
    if "Cooldown" in step:
        parts.append(f"cooldown {step['Cooldown']} s")
    return "; ".join(parts)


def number(value: float) -> str:
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value and abs(value) < 1:  # two significant digits, so that a small latency is not rounded to 0
        return f"{value:.2g}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


# --- homeport scaling --------------------------------------------------------------------------------------------


def resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def cmd_scaling(args: argparse.Namespace, clients: Clients) -> int:
    sm, aas, cw = clients("sagemaker"), clients("application-autoscaling"), clients("cloudwatch")
    doc = sm.describe_endpoint(EndpointName=args.endpoint)
    rids = [resource_id(args.endpoint, v["VariantName"]) for v in doc.get("ProductionVariants", [])]
    targets = {t["ResourceId"]: t for t in _all(aas, "describe_scalable_targets", "ScalableTargets", ResourceIds=rids)}
    variants = []
    for v, rid in zip(doc.get("ProductionVariants", []), rids, strict=True):
        reply = aas.describe_scaling_activities(
            ServiceNamespace=NAMESPACE, ResourceId=rid, MaxResults=RECENT_ACTIVITIES
        )
        variants.append(
            {
                **{k: v.get(k) for k in ("VariantName", *COUNTS_AND_WEIGHTS)},
                "ResourceId": rid,
                "ScalableTarget": _public(targets[rid]) if rid in targets else None,
                "ScalingPolicies": [
                    _public(p) for p in _all(aas, "describe_scaling_policies", "ScalingPolicies", ResourceId=rid)
                ],
                "ScheduledActions": [
                    _public(a) for a in _all(aas, "describe_scheduled_actions", "ScheduledActions", ResourceId=rid)
                ],
                "ScalingActivities": [_public(a) for a in reply["ScalingActivities"]],
            }
        )
    states = _alarm_states(
        cw, [a["AlarmName"] for v in variants for p in v["ScalingPolicies"] for a in p.get("Alarms", [])]
    )
    for v in variants:
        for p in v["ScalingPolicies"]:
            p["Alarms"] = [{**a, "StateValue": states.get(a["AlarmName"])} for a in p.get("Alarms", [])]
    if args.json:
        print_json({"EndpointName": args.endpoint, "EndpointStatus": doc["EndpointStatus"], "Variants": variants})
        return 0
    _show_scaling(args.endpoint, doc["EndpointStatus"], variants)
    return 0


def _all(aas: Any, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
    pages = aas.get_paginator(operation).paginate(ServiceNamespace=NAMESPACE, **params)
    return [item for page in pages for item in page[key]]


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    """What the reply says about the item, less what every item of an endpoint variant repeats."""
    return {k: v for k, v in doc.items() if k not in ("ServiceNamespace", "ResourceId", "ScalableDimension")}


def _alarm_states(cw: Any, names: list[str]) -> dict[str, str]:
    states = {}
    for i in range(0, len(names), ALARMS_PER_CALL):
        for page in cw.get_paginator("describe_alarms").paginate(AlarmNames=names[i : i + ALARMS_PER_CALL]):
            states.update({a["AlarmName"]: a["StateValue"] for a in page["MetricAlarms"]})
    return states


def _show_scaling(endpoint: str, status: str, variants: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(markup=False)  # names and descriptions are shown as they are, brackets and all
    console.print(f"{endpoint}  {status}", style="bold")
    table = Table()
    for column in ("Variant", "Instances (current/desired)", "Weight (current/desired)", "Capacity (min/max)"):
        table.add_column(column)
    for v in variants:
        target = v["ScalableTarget"]
        table.add_row(
            v["VariantName"],
            f"{v['CurrentInstanceCount']}/{v['DesiredInstanceCount']}",
            f"{v['CurrentWeight']}/{v['DesiredWeight']}",
            f"{target['MinCapacity']}/{target['MaxCapacity']}" if target else "not scalable",
        )
    console.print(table)
    for v in variants:
        console.print()
        console.print(f"{v['VariantName']}  {v['ResourceId']}", style="bold")
        target = v["ScalableTarget"]
        if target is None:
            console.print("  no scalable target registered: Application Auto Scaling leaves this variant alone")
        else:
            flags = target.get("SuspendedState", {})
            suspended = [
                what
                for key, what in (
                    ("DynamicScalingInSuspended", "scale-in"),
                    ("DynamicScalingOutSuspended", "scale-out"),
                    ("ScheduledScalingSuspended", "scheduled scaling"),
                )
                if flags.get(key)
            ]
            console.print(
                f"  capacity {target['MinCapacity']} to {target['MaxCapacity']}, "
                f"suspended: {', '.join(suspended) or 'nothing'}"
            )
        if v["ScalingPolicies"]:
            policies = Table(title="scaling policies")
            for column in ("Policy", "Type", "Configuration", "Alarms"):
                policies.add_column(column, overflow="fold")  # alarm names are long, and all of one is needed
            for p in v["ScalingPolicies"]:
                alarms = "\n".join(f"{a['AlarmName']}: {a['StateValue'] or 'not found'}" for a in p["Alarms"])
                policies.add_row(p["PolicyName"], p["PolicyType"], policy_summary(p), alarms)
            console.print(policies)
        if v["ScheduledActions"]:
            scheduled = Table(title="scheduled actions")
            for column in ("Action", "Schedule", "Time zone", "Min", "Max"):
                scheduled.add_column(column)
            for a in v["ScheduledActions"]:
                change = a.get("ScalableTargetAction", {})
                scheduled.add_row(
                    a["ScheduledActionName"],
                    a["Schedule"],
                    a.get("Timezone", "UTC"),
                    str(change.get("MinCapacity", "")),
                    str(change.get("MaxCapacity", "")),
                )
            console.print(scheduled)
        if v["ScalingActivities"]:
            activities = Table(title=f"latest {len(v['ScalingActivities'])} scaling activities")
            for column in ("Started", "Status", "Description", "Cause"):
                activities.add_column(column)
            for a in v["ScalingActivities"]:
                activities.add_row(when(a["StartTime"]), a["StatusCode"], a["Description"], a["Cause"])
            console.print(activities)
        else:
            console.print("  no scaling activities")
