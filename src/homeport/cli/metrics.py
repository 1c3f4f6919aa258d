"""`homeport metrics ENDPOINT`: an endpoint's recent metrics, as sparklines in the terminal or a PNG.

It reads only the public APIs (SageMaker, Application Auto Scaling, CloudWatch). A variant's instance count over
time is no metric: it is rebuilt from the scaling activities ("Setting desired instance count to N.") and the
DesiredInstanceCount now.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from homeport.cli.output import has_matplotlib, when
from homeport.cli.scaling import NAMESPACE, Clients, number, resource_id
from homeport.dataplane.meters import INSTANCES, SAGEMAKER

LEVELS = "▁▂▃▄▅▆▇█"
GAP = "·"
ENDPOINT_WIDE = "(endpoint)"  # stands for the variant of the async backlog metrics, which name only the endpoint
INSTANCE_COUNT = "DesiredInstanceCount"
SETS_COUNT = re.compile(r"Setting desired instance count to (\d+)\.")


@dataclass(frozen=True)
class Spec:
    """One series the chart shows: a metric, a statistic, and how a person reads its values."""

    name: str
    stat: str
    namespace: str = SAGEMAKER
    unit: str = ""  # shown after each value
    scale: float = 1.0  # from CloudWatch's unit to the shown one
    per_variant: bool = True  # dimensions EndpointName and VariantName, else EndpointName alone
    only: str = ""  # the kind of endpoint that alone has it: "asynchronous" or "serverless"

    @property
    def label(self) -> str:
        # A metric's usual statistic goes unnamed; ModelLatency's p99 needs telling apart from its Average.
        return self.name if self.stat in ("Sum", "Average") else f"{self.name} {self.stat}"


MS = 1e-3  # SageMaker's latencies are in microseconds
ASYNCHRONOUS, SERVERLESS, REAL_TIME = "asynchronous", "serverless", "real-time"
SPECS = (
    Spec("Invocations", "Sum"),
    Spec("InvocationsPerInstance", "Sum"),
    Spec("ModelLatency", "Average", unit="ms", scale=MS),
    Spec("ModelLatency", "p99", unit="ms", scale=MS),
    Spec("OverheadLatency", "Average", unit="ms", scale=MS),
    Spec("Invocation4XXErrors", "Sum"),
    Spec("Invocation5XXErrors", "Sum"),
    Spec("CPUUtilization", "Average", namespace=INSTANCES, unit="%"),
    Spec("MemoryUtilization", "Average", namespace=INSTANCES, unit="%"),
    Spec("ApproximateBacklogSize", "Average", per_variant=False, only=ASYNCHRONOUS),
    Spec("ApproximateBacklogSizePerInstance", "Average", per_variant=False, only=ASYNCHRONOUS),
    Spec("HasBacklogWithoutCapacity", "Average", per_variant=False, only=ASYNCHRONOUS),
    Spec("ModelSetupTime", "Average", unit="ms", scale=MS, only=SERVERLESS),
    Spec("ServerlessConcurrentExecutionsUtilization", "Maximum", only=SERVERLESS),
    Spec("ServerlessProvisionedConcurrencyUtilization", "Maximum", only=SERVERLESS),
)


@dataclass(frozen=True)
class Series:
    """Values at times (epoch seconds), oldest first."""

    times: list[float]
    values: list[float]

    def to_json(self) -> dict[str, list[Any]]:
        return {"Timestamps": [datetime.fromtimestamp(t, UTC).isoformat() for t in self.times], "Values": self.values}


# --- pure parts ------------------------------------------------------------------------------------------------


def select(wanted: Sequence[str] | None, kind: str) -> tuple[list[Spec], bool]:
    """The series to show, and whether to show the instance count: all that apply to the endpoint's `kind`
    (real-time, asynchronous or serverless), or the named ones. A name that is no metric, or one another kind of
    endpoint alone has, is a ValueError. A serverless variant has no instance count to show."""
    known = {s.name for s in SPECS} | {INSTANCE_COUNT}
    unknown = sorted(set(wanted or ()) - known)
    if unknown:
        raise ValueError(f"no metric {', '.join(unknown)}: choose from {', '.join(sorted(known))}")
    applicable = [s for s in SPECS if s.only in ("", kind)]
    counted = kind != SERVERLESS
    if wanted is None:
        return applicable, counted
    absent = [s for s in SPECS if s.name in wanted and s not in applicable]
    if absent:
        names = ", ".join(sorted({s.name for s in absent}))
        raise ValueError(f"{names}: only {absent[0].only} endpoints have it")
    if INSTANCE_COUNT in wanted and not counted:
        raise ValueError(f"{INSTANCE_COUNT}: a serverless endpoint has no instance count")
    return [s for s in applicable if s.name in wanted], INSTANCE_COUNT in wanted


def window(now: float, minutes: float, period: int) -> tuple[float, int]:
    """The chart's first period's start, and how many periods it has: whole periods up to the last boundary before
    `now`, since the period `now` is in has not been collected yet."""
    end = now - now % period
    count = max(1, math.ceil(minutes * 60 / period))
    return end - count * period, count


def metric_queries(
    specs: Sequence[Spec], endpoint: str, variants: Sequence[str], period: int
) -> list[tuple[Spec, str, dict[str, Any]]]:
    """One GetMetricData MetricStat query per metric and variant (per metric, for those that name only the
    endpoint), each with the variant it is for."""
    out: list[tuple[Spec, str, dict[str, Any]]] = []
    for spec in specs:
        for variant in variants if spec.per_variant else [ENDPOINT_WIDE]:
            dimensions = [{"Name": "EndpointName", "Value": endpoint}]
            if spec.per_variant:
                dimensions.append({"Name": "VariantName", "Value": variant})
            metric = {"Namespace": spec.namespace, "MetricName": spec.name, "Dimensions": dimensions}
            query = {"Id": f"q{len(out)}", "MetricStat": {"Metric": metric, "Period": period, "Stat": spec.stat}}
            out.append((spec, variant, query))
    return out


def count_set(activity: dict[str, Any]) -> int | None:
    """The instance count a successful scaling activity set, None for any other activity."""
    match = SETS_COUNT.fullmatch(activity.get("Description", ""))
    return int(match.group(1)) if match and activity.get("StatusCode") == "Successful" else None


def instance_steps(activities: Iterable[dict[str, Any]], desired: int, start: float, now: float) -> Series:
    """A variant's DesiredInstanceCount from `start` to `now` as the points where it changed, oldest first: the
    count at `start`, each count a scaling activity set after it, and `desired` (the count now) at `now`.

    With no such activity ever, the count has been `desired` throughout; when all are after `start`, what it was
    before the first one is not known, so the series begins there."""
    changes = sorted((a["StartTime"].timestamp(), n) for a in activities if (n := count_set(a)) is not None)
    before = [n for t, n in changes if t <= start]
    first = [(start, before[-1])] if before else [] if changes else [(start, desired)]
    points = [*first, *((t, n) for t, n in changes if start < t < now), (now, desired)]
    return Series([t for t, _ in points], [float(n) for _, n in points])


def sample(steps: Series, times: Sequence[float]) -> list[float | None]:
    """A step series' value at each time: the latest change at or before it (None before the first)."""
    out: list[float | None] = []
    for t in times:
        i = bisect.bisect_right(steps.times, t)
        out.append(steps.values[i - 1] if i else None)
    return out


def slotted(series: Series, start: float, period: int, count: int) -> list[float | None]:
    """A metric's value in each of the chart's `count` periods from `start`, None where it has none."""
    out: list[float | None] = [None] * count
    for t, value in zip(series.times, series.values, strict=True):
        slot = round((t - start) / period)
        if 0 <= slot < count:
            out[slot] = value
    return out


def sparkline(values: Sequence[float | None], width: int | None = None) -> str:
    """One character per value, oldest left, from ▁ (zero, or the least value if below zero) to █ (the greatest);
    GAP where there is none. Beyond `width` values, runs of them are averaged so that the line fits."""
    if width and len(values) > width:
        run = math.ceil(len(values) / width)
        values = [_mean(values[i : i + run]) for i in range(0, len(values), run)]
    present = [v for v in values if v is not None]
    if not present:
        return GAP * len(values)
    low = min(0.0, *present)
    span = max(present) - low
    top = len(LEVELS) - 1
    return "".join(GAP if v is None else LEVELS[round((v - low) / span * top) if span else 0] for v in values)


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


# --- homeport metrics --------------------------------------------------------------------------------------------


def cmd_metrics(args: argparse.Namespace, clients: Clients) -> int:
    if args.minutes <= 0 or args.period <= 0:
        print("homeport: --minutes and --period must be positive", file=sys.stderr)
        return 1
    if args.png and not has_matplotlib():
        return 1
    sm = clients("sagemaker")
    doc = sm.describe_endpoint(EndpointName=args.endpoint)
    kind = endpoint_kind(doc)
    try:
        specs, with_count = select(args.metric, kind)
    except ValueError as exc:
        print(f"homeport: {exc}", file=sys.stderr)
        return 1
    variants = {v["VariantName"]: v.get("DesiredInstanceCount") or 0 for v in doc.get("ProductionVariants", [])}
    now = time.time()
    start, count = window(now, args.minutes, args.period)
    end = start + count * args.period
    queries = metric_queries(specs, args.endpoint, list(variants), args.period)
    series = _metric_data(clients("cloudwatch"), queries, start, end) if queries else {}
    steps: dict[str, Series] = {}
    if with_count:
        aas = clients("application-autoscaling")
        for variant, desired in variants.items():
            history = _activities_back_to(aas, resource_id(args.endpoint, variant), start)
            steps[variant] = instance_steps(history, desired, start, now)
    chart = Chart(specs, series, steps, start, args.period, count)
    if args.png:
        _save_png(args.png, f"{args.endpoint}, per {args.period} s", chart)
    if args.json:
        doc_out = {label: {v: s.to_json() for v, s in by_variant.items()} for label, by_variant in series.items()}
        if steps:
            doc_out[INSTANCE_COUNT] = {v: s.to_json() for v, s in steps.items()}
        print(json.dumps(doc_out, indent=2))
        return 0
    heading = (
        f"{args.endpoint} ({kind}): {count} x {args.period} s, {when(_moment(start))} to {_moment(end):%H:%M:%S} UTC"
    )
    _show_metrics(heading, chart)
    if args.png:
        print(f"chart saved to {args.png}")
    return 0


def endpoint_kind(doc: dict[str, Any]) -> str:
    """Real-time, asynchronous or serverless, from DescribeEndpoint's reply."""
    if "AsyncInferenceConfig" in doc:
        return ASYNCHRONOUS
    if any("DesiredServerlessConfig" in v for v in doc.get("ProductionVariants", [])):
        return SERVERLESS
    return REAL_TIME


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _metric_data(
    cw: Any, queries: list[tuple[Spec, str, dict[str, Any]]], start: float, end: float
) -> dict[str, dict[str, Series]]:
    """{label: {variant: series}}, every page of GetMetricData's answer joined."""
    found: dict[str, Series] = {q["Id"]: Series([], []) for _, _, q in queries}
    pages = cw.get_paginator("get_metric_data").paginate(
        MetricDataQueries=[q for _, _, q in queries],
        StartTime=_moment(start),
        EndTime=_moment(end),
        ScanBy="TimestampAscending",
    )
    for page in pages:
        for result in page["MetricDataResults"]:
            found[result["Id"]].times.extend(t.timestamp() for t in result["Timestamps"])
            found[result["Id"]].values.extend(result["Values"])
    out: dict[str, dict[str, Series]] = {}
    for spec, variant, query in queries:
        out.setdefault(spec.label, {})[variant] = found[query["Id"]]
    return out


def _activities_back_to(aas: Any, rid: str, since: float) -> list[dict[str, Any]]:
    """The variant's scaling activities, newest first, back to the first one that set a count at or before `since`
    (the count the chart begins with)."""
    out: list[dict[str, Any]] = []
    for page in aas.get_paginator("describe_scaling_activities").paginate(ServiceNamespace=NAMESPACE, ResourceId=rid):
        out.extend(page["ScalingActivities"])
        if any(count_set(a) is not None and a["StartTime"].timestamp() <= since for a in page["ScalingActivities"]):
            break
    return out


@dataclass(frozen=True)
class Row:
    label: str
    variant: str
    values: list[float | None]  # per period, in the shown unit
    unit: str

    def show(self, value: float | None) -> str:
        if value is None:
            return "-"
        return f"{number(value)} {self.unit}" if self.unit else number(value)


@dataclass(frozen=True)
class Chart:
    """What both renderings draw: the metrics' series and the instance counts over `count` periods from `start`."""

    specs: Sequence[Spec]
    series: dict[str, dict[str, Series]]
    steps: dict[str, Series]
    start: float
    period: int
    count: int

    def values(self, spec: Spec, series: Series) -> list[float | None]:
        """One value per period, in the shown unit."""
        slots = slotted(series, self.start, self.period, self.count)
        return [None if v is None else v * spec.scale for v in slots]


def _rows(chart: Chart) -> list[Row]:
    rows = []
    for spec in chart.specs:
        for variant, s in chart.series.get(spec.label, {}).items():
            rows.append(Row(spec.label, variant, chart.values(spec, s), spec.unit))
    ends = [chart.start + (i + 1) * chart.period for i in range(chart.count)]  # the count in force at each end
    rows.extend(Row(INSTANCE_COUNT, variant, sample(s, ends), "") for variant, s in chart.steps.items())
    return rows


def _show_metrics(heading: str, chart: Chart) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    rows = _rows(chart)
    count = chart.count
    several = len({r.variant for r in rows} - {ENDPOINT_WIDE}) > 1  # else the Variant column says nothing
    named = ["Metric", *(["Variant"] if several else [])]
    stats = ["Last", "Min", "Max", "Average"]
    cells = []
    for row in rows:
        present = [v for v in row.values if v is not None]
        summary = (present[-1], min(present), max(present), sum(present) / len(present)) if present else (None,) * 4
        cells.append([row.label, *([row.variant] if several else []), *(row.show(v) for v in summary)])
    # The sparkline gets what the other columns leave of the terminal (3 characters between two columns): one
    # character per period where that fits, runs of periods averaged where it does not.
    console = Console(markup=False)
    others = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(named + stats)]
    columns = len(others) + 1
    width = max(len("Chart"), min(count, console.width - 3 * (columns - 1) - sum(others)))
    table = Table(title=heading, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for header in named:
        table.add_column(header)
    table.add_column("Chart", no_wrap=True)
    for header in stats:
        table.add_column(header, justify="right")
    for row, cell in zip(rows, cells, strict=True):
        table.add_row(*cell[: len(named)], sparkline(row.values, width), *cell[len(named) :])
    console.print(table)


def _save_png(path: str, title: str, chart: Chart) -> None:
    """One subplot per metric (a line per variant, broken where a period has no value), then the instance counts
    as steps."""
    # A bare Figure renders with Agg and leaves pyplot's global state (and any display) alone.
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    start, period, count, steps = chart.start, chart.period, chart.count, chart.steps
    times = [_moment(start + i * period) for i in range(count)]
    figure = Figure(figsize=(10, 1.9 * (len(chart.specs) + bool(steps)) + 0.8), layout="constrained")
    axes = figure.subplots(len(chart.specs) + bool(steps), 1, sharex=True, squeeze=False)[:, 0]
    for ax, spec in zip(axes, chart.specs, strict=False):
        for variant, s in chart.series.get(spec.label, {}).items():
            values = [math.nan if v is None else v for v in chart.values(spec, s)]
            ax.plot(times, values, marker=".", markersize=3, label=variant)
        ax.set_title(spec.label, loc="left", fontsize=9)
        ax.set_ylabel(spec.unit)
    if steps:
        ax = axes[-1]
        for variant, s in steps.items():
            ax.step([_moment(t) for t in s.times], s.values, where="post", label=variant)
        ax.set_title(INSTANCE_COUNT, loc="left", fontsize=9)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes:
        ax.set_ylim(bottom=0)  # every one of these counts up from zero
        if ax.has_data():
            ax.legend(loc="upper left", fontsize=7)
    axes[-1].set_xlim(times[0], _moment(start + count * period))
    axes[-1].set_xlabel("UTC")
    figure.suptitle(title)
    figure.savefig(path, dpi=100)
