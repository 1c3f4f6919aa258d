"""`homeport experiments [NAME]`: inference experiments (shadow tests), and for one, its two variants side by side.

Without a name: every experiment, newest first. With one: its status, schedule and endpoint, and a table comparing
the production and the shadow variant on the same requests over the experiment's time (from its StartTime to its
end, or now): invocations, model latency (average, and the worst period's p99) and errors, read from CloudWatch's
`AWS/SageMaker` metrics, each variant under its own `VariantName`. `--json` prints the same for scripts.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from homeport.cli.output import when
from homeport.dataplane.meters import SAGEMAKER

MAX_POINTS = 1440  # GetMetricStatistics' most datapoints in one reply
COMPARED = (
    ("Invocations", "Sum"),
    ("ModelLatency", "Average"),
    ("ModelLatency", "p99"),
    ("Invocation4XXErrors", "Sum"),
    ("Invocation5XXErrors", "Sum"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="an experiment: its variants compared (default: list them all)")


def listing(sagemaker: Any) -> list[dict[str, Any]]:
    found, token = [], None
    while True:
        page = sagemaker.list_inference_experiments(**({"NextToken": token} if token else {}), MaxResults=100)
        found += page["InferenceExperiments"]
        if not (token := page.get("NextToken")):
            return found


def snapshot(sagemaker: Any, cloudwatch: Any, name: str, now: float) -> dict[str, Any]:
    doc = sagemaker.describe_inference_experiment(Name=name)
    doc.pop("ResponseMetadata", None)
    start = _epoch(doc["Schedule"]["StartTime"])
    end = _epoch(doc["CompletionTime"]) if "CompletionTime" in doc else min(now, _epoch(doc["Schedule"]["EndTime"]))
    shadow = doc["ShadowModeConfig"]["ShadowModelVariants"][0]
    roles = {
        doc["ShadowModeConfig"]["SourceModelVariantName"]: "production",
        shadow["ShadowModelVariantName"]: "shadow",
    }
    endpoint = doc["EndpointMetadata"]["EndpointName"]
    compared = {}
    if doc["Status"] not in ("Created", "Starting") and end > start:
        compared = {v: compare(cloudwatch, endpoint, v, start, end) for v in roles}
    return {
        "Name": doc["Name"],
        "Status": doc["Status"],
        "StatusReason": doc.get("StatusReason"),
        "Endpoint": doc["EndpointMetadata"],
        "Schedule": {"StartTime": start, "EndTime": _epoch(doc["Schedule"]["EndTime"])},
        "SamplingPercentage": shadow.get("SamplingPercentage"),
        "Variants": [{**_variant(v), "Role": roles.get(v["VariantName"], "")} for v in doc["ModelVariants"]],
        "Compared": compared,
    }


def compare(cloudwatch: Any, endpoint: str, variant: str, start: float, end: float) -> dict[str, float | None]:
    """One variant's figures over [start, end]: sums and a sample-weighted average over periods; the highest p99."""
    period = max(60, math.ceil((end - start) / MAX_POINTS / 60) * 60)
    dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    figures: dict[str, float | None] = {}
    for metric in dict.fromkeys(name for name, _ in COMPARED):
        stats = cloudwatch.get_metric_statistics(
            Namespace=SAGEMAKER,
            MetricName=metric,
            Dimensions=dims,
            StartTime=start - period,  # whole periods around the window
            EndTime=end + period,
            Period=period,
            Statistics=["Sum", "SampleCount"],
            ExtendedStatistics=["p99"],
        )["Datapoints"]
        total, count = sum(p["Sum"] for p in stats), sum(p["SampleCount"] for p in stats)
        p99s = [p["ExtendedStatistics"]["p99"] for p in stats if "p99" in p.get("ExtendedStatistics", {})]
        figures[f"{metric} Sum"] = total if stats else 0.0
        figures[f"{metric} Average"] = total / count if count else None
        figures[f"{metric} p99"] = max(p99s) if p99s else None
    return {f"{m} {s}": figures[f"{m} {s}"] for m, s in COMPARED}


def _variant(v: dict[str, Any]) -> dict[str, Any]:
    config = v["InfrastructureConfig"]["RealTimeInferenceConfig"]
    return {
        "VariantName": v["VariantName"],
        "ModelName": v["ModelName"],
        "InstanceType": config["InstanceType"],
        "InstanceCount": config["InstanceCount"],
        "Status": v.get("Status"),
    }


def _epoch(value: Any) -> float:
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _shown(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    if metric.startswith("ModelLatency"):
        return f"{value / 1000:.2f} ms"  # SageMaker's latencies are in microseconds
    return f"{value:,.0f}"


def render_one(view: dict[str, Any]) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    endpoint = view["Endpoint"]
    schedule = view["Schedule"]
    parts: list[Any] = [
        Text.from_markup(f"[bold]{view['Name']}[/bold]  {view['Status']}"),
        Text(
            f"endpoint {endpoint['EndpointName']} ({endpoint.get('EndpointStatus', '?')}, config "
            f"{endpoint.get('EndpointConfigName', '?')}); from {when(_at(schedule['StartTime']))} to "
            f"{when(_at(schedule['EndTime']))}; the shadow gets {view['SamplingPercentage']}% of the requests"
        ),
    ]
    if view.get("StatusReason"):
        parts.append(Text(f"reason: {view['StatusReason']}"))
    variants = Table(show_edge=False)
    for column in ("Role", "Variant", "Model", "Instances", "Status"):
        variants.add_column(column)
    for v in view["Variants"]:
        count = f"{v['InstanceCount']} x {v['InstanceType']}"
        variants.add_row(v["Role"], v["VariantName"], v["ModelName"], count, v["Status"] or "")
    parts.append(variants)
    if not view["Compared"]:
        parts.append(Text("no figures yet: the experiment has not started"))
        return Group(*parts)
    names = [v["VariantName"] for v in sorted(view["Variants"], key=lambda v: v["Role"] != "production")]
    compared = Table(title="the two variants over the experiment (p99: its worst period)", show_edge=False)
    for column in ("Metric", *names, "shadow / production"):
        compared.add_column(column)
    for metric, stat in COMPARED:
        key = f"{metric} {stat}"
        values = [view["Compared"].get(n, {}).get(key) for n in names]
        ratio = values[1] / values[0] if len(values) == 2 and values[0] and values[1] is not None else None
        compared.add_row(key, *(_shown(key, v) for v in values), f"{ratio:.2f}" if ratio is not None else "-")
    parts.append(compared)
    return Group(*parts)


def render_list(experiments: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title="inference experiments", show_edge=False)
    for column in ("Name", "Status", "Created", "Ends", "Reason"):
        table.add_column(column)
    for x in experiments:
        ends = when(_at(_epoch(x["Schedule"]["EndTime"]))) if "Schedule" in x else ""
        table.add_row(x["Name"], x["Status"], when(_at(_epoch(x["CreationTime"]))), ends, x.get("StatusReason", ""))
    return table


def cmd_experiments(args: argparse.Namespace, client: Callable[[str], Any]) -> int:
    sagemaker = client("sagemaker")
    if args.name:
        view: Any = snapshot(sagemaker, client("cloudwatch"), args.name, time.time())
    else:
        view = listing(sagemaker)
    if args.json:
        print(json.dumps(view, indent=2, default=str))
        return 0
    from rich.console import Console

    Console().print(render_one(view) if args.name else render_list(view))
    return 0
