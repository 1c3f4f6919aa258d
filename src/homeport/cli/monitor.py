"""`homeport monitor ENDPOINT`: an endpoint's monitoring schedules (or one schedule, by its name), their recent
executions and, from the latest one that completed, each feature's baseline against its current distribution, the
drift distance and the checks that failed. `--png FILE` draws the two distributions of every feature side by side;
`--html FILE` writes the whole report as one page."""

from __future__ import annotations

import argparse
import contextlib
import json
from dataclasses import asdict
from typing import Any

from homeport.cli.metrics import LEVELS
from homeport.cli.output import has_matplotlib, print_json, when
from homeport.cli.scaling import Clients

COMPLETED = ("Completed", "CompletedWithViolations")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("endpoint", help="an endpoint, or a monitoring schedule's name (for one over transform jobs)")
    p.add_argument("--executions", type=int, default=10, help="how many recent executions to list (default 10)")
    p.add_argument("--png", metavar="FILE", help="also save the distributions as a PNG (needs matplotlib)")
    p.add_argument("--html", metavar="FILE", help="also write the report as one self-contained HTML page")


def cmd_monitor(args: argparse.Namespace, clients: Clients) -> int:
    from botocore.exceptions import ClientError

    if args.png and not has_matplotlib():
        return 1
    sm = clients("sagemaker")
    schedules = []
    for page in sm.get_paginator("list_monitoring_schedules").paginate(EndpointName=args.endpoint):
        for summary in page["MonitoringScheduleSummaries"]:
            schedules.append(sm.describe_monitoring_schedule(MonitoringScheduleName=summary["MonitoringScheduleName"]))
    scope = {"EndpointName": args.endpoint}
    if not schedules:  # a schedule's name: one with no endpoint, over what transform jobs captured
        with contextlib.suppress(ClientError):
            schedules = [sm.describe_monitoring_schedule(MonitoringScheduleName=args.endpoint)]
            scope = {"MonitoringScheduleName": args.endpoint}
    executions = sm.list_monitoring_executions(
        **scope, SortBy="ScheduledTime", SortOrder="Descending", MaxResults=max(1, args.executions)
    )["MonitoringExecutionSummaries"]
    done = [e for e in executions if e["MonitoringExecutionStatus"] in COMPLETED]
    latest = next((e for e in done if e.get("MonitoringType", "DataQuality") == "DataQuality"), None)
    judged = next((e for e in done if e.get("MonitoringType") == "ModelQuality"), None)
    features = _features(sm, clients("s3"), latest) if latest else []
    metrics = _model_metrics(sm, clients("s3"), judged) if judged else []
    if args.json:
        print_json(
            {
                "schedules": schedules,
                "executions": executions,
                "features": [asdict(f) for f in features],
                "model_metrics": [asdict(m) for m in metrics],
            }
        )
        return 0
    _show(args.endpoint, schedules, executions, latest, features)
    if judged:
        _show_metrics(judged, metrics)
    if args.html:
        from homeport.cli.monitor_html import page

        with open(args.html, "w", encoding="utf-8") as out:
            out.write(page(args.endpoint, schedules, executions, latest, features, judged, metrics))
        print(f"saved {args.html}")
    if args.png and features:
        _save_png(
            args.png, f"{args.endpoint}: baseline and {when(latest['ScheduledTime']) if latest else ''}", features
        )
        print(f"saved {args.png}")
    return 0


def _job(sm: Any, execution: dict[str, Any]) -> dict[str, Any]:
    job: dict[str, Any] = sm.describe_processing_job(ProcessingJobName=execution["ProcessingJobArn"].rsplit("/", 1)[1])
    return job


def _model_metrics(sm: Any, s3: Any, execution: dict[str, Any]) -> list[Any]:
    from homeport.monitoring.report import execution_metrics

    return execution_metrics(_job(sm, execution), lambda uri: _read(s3, uri))


def _features(sm: Any, s3: Any, execution: dict[str, Any]) -> list[Any]:
    from homeport.monitoring.report import execution_features

    return execution_features(_job(sm, execution), lambda uri: _read(s3, uri))


def _read(s3: Any, uri: str) -> dict[str, Any]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    document: dict[str, Any] = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return document


def _show(
    endpoint: str,
    schedules: list[dict[str, Any]],
    executions: list[dict[str, Any]],
    latest: dict[str, Any] | None,
    features: list[Any],
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"{endpoint}: {len(schedules)} monitoring schedule(s)")
    for column in ("Schedule", "Status", "Type", "Expression", "Last execution"):
        table.add_column(column)
    for s in schedules:
        last = s.get("LastMonitoringExecutionSummary")
        table.add_row(
            s["MonitoringScheduleName"],
            s["MonitoringScheduleStatus"] + (f" ({s['FailureReason']})" if s.get("FailureReason") else ""),
            s.get("MonitoringType", ""),
            s["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"],
            f"{last['MonitoringExecutionStatus']} {when(last['ScheduledTime'])}" if last else "",
        )
    console.print(table)
    table = Table(title=f"{len(executions)} recent execution(s)")
    for column in ("Scheduled", "Schedule", "Status", "Processing job", "Reason"):
        table.add_column(column)
    for e in executions:
        style = {"CompletedWithViolations": "yellow", "Failed": "red"}.get(e["MonitoringExecutionStatus"], "")
        table.add_row(
            when(e["ScheduledTime"]),
            e["MonitoringScheduleName"],
            f"[{style}]{e['MonitoringExecutionStatus']}[/]" if style else e["MonitoringExecutionStatus"],
            e.get("ProcessingJobArn", "").rsplit("/", 1)[-1],
            e.get("FailureReason", ""),
        )
    console.print(table)
    if latest is None:
        console.print("No data quality execution has completed yet: no features to compare.")
        return
    table = Table(title=f"Features at {when(latest['ScheduledTime'])} ({latest['MonitoringScheduleName']})")
    for column in ("Feature", "Type", "Baseline", "Current", "Non-null", "Drift", "Distribution", "Violations"):
        table.add_column(column)
    for f in features:
        drift = "" if f.drift is None else f"{f.drift:.3f} / {f.threshold:g}"
        if f.drift is not None and f.drift > f.threshold:
            drift = f"[red]{drift}[/]"
        table.add_row(
            f.name,
            f.kind,
            f.baseline,
            f.current,
            "" if f.completeness is None else f"{f.completeness:.1%}",
            drift,
            f"{bars(f.baseline_shares, f.current_shares)}",
            f"[red]{', '.join(f.violations)}[/]" if f.violations else "",
        )
    console.print(table)
    console.print("Distribution: the baseline's buckets, then the current data's share of each (one scale).")


def _show_metrics(execution: dict[str, Any], metrics: list[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Model quality at {when(execution['ScheduledTime'])} ({execution['MonitoringScheduleName']})")
    for column in ("Metric", "Value", "Constraint", "Violation"):
        table.add_column(column)
    for m in metrics:
        spread = "" if m.standard_deviation is None else f" ± {m.standard_deviation:.3g}"
        rule = f"{m.operator} {m.threshold:.4g}" if m.threshold is not None else ""
        table.add_row(m.name, f"{m.value:.4g}{spread}", rule, "[red]violated[/]" if m.violated else "")
    Console().print(table)


def bars(first: list[float], second: list[float]) -> str:
    """Two distributions as block characters on one scale, `first → second`."""
    top = max([*first, *second, 0.0])

    def line(values: list[float]) -> str:
        last = len(LEVELS) - 1
        return "".join(LEVELS[round(v / top * last)] if top else LEVELS[0] for v in values)

    return f"{line(first)} → {line(second)}" if second else line(first)


def _save_png(path: str, title: str, features: list[Any]) -> None:
    """A subplot per feature: the baseline's and the current share of each bucket, side by side."""
    from matplotlib.figure import Figure

    drawn = [f for f in features if f.labels]
    columns = min(3, len(drawn)) or 1
    rows = -(-len(drawn) // columns) or 1
    figure = Figure(figsize=(4.2 * columns, 2.6 * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, f in zip(axes, drawn, strict=False):
        positions = range(len(f.labels))
        ax.bar([p - 0.2 for p in positions], f.baseline_shares, width=0.4, label="baseline")
        if f.current_shares:
            ax.bar([p + 0.2 for p in positions], f.current_shares, width=0.4, label="current")
        ax.set_xticks(list(positions), f.labels, rotation=60, fontsize=6)
        drift = "" if f.drift is None else f"  drift {f.drift:.3f}"
        outside = 1 - sum(f.current_shares) if f.current_shares and f.kind != "String" else 0.0
        beyond = f"  ({outside:.0%} outside the baseline's range)" if outside > 0.005 else ""
        ax.set_title(f"{f.name}{drift}{beyond}", loc="left", fontsize=9, color="red" if f.violations else "black")
        ax.legend(fontsize=6)
    for ax in axes[len(drawn) :]:
        ax.set_visible(False)
    figure.suptitle(title)
    figure.savefig(path, dpi=100)
