"""`homeport monitor ENDPOINT --html FILE`: the same report as the terminal's, as one self-contained HTML page (each
feature's two distributions drawn as inline SVG, so it needs neither matplotlib nor a network) to keep or share."""

from __future__ import annotations

from html import escape
from typing import Any

from homeport.cli.output import when
from homeport.console.charts import distribution

STYLE = """
body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: middle; }
th { background: #f4f4f4; }
.bad { color: #b00020; font-weight: 600; }
.warn { color: #a15c00; }
"""


def page(
    endpoint: str,
    schedules: list[dict[str, Any]],
    executions: list[dict[str, Any]],
    latest: dict[str, Any] | None,
    features: list[Any],
    judged: dict[str, Any] | None,
    metrics: list[Any],
) -> str:
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(endpoint)}: model monitor</title>",
        f"<style>{STYLE}</style></head><body><h1>{escape(endpoint)}</h1>",
        f"<h2>{len(schedules)} monitoring schedule(s)</h2>",
        _table(
            ("Schedule", "Status", "Type", "Expression", "Last execution"),
            [
                (
                    s["MonitoringScheduleName"],
                    s["MonitoringScheduleStatus"],
                    s.get("MonitoringType", ""),
                    s["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"],
                    _last(s.get("LastMonitoringExecutionSummary")),
                )
                for s in schedules
            ],
        ),
        f"<h2>{len(executions)} recent execution(s)</h2>",
        _table(
            ("Scheduled", "Schedule", "Status", "Processing job", "Reason"),
            [
                (
                    when(e["ScheduledTime"]),
                    e["MonitoringScheduleName"],
                    _status(e["MonitoringExecutionStatus"]),
                    e.get("ProcessingJobArn", "").rsplit("/", 1)[-1],
                    e.get("FailureReason", ""),
                )
                for e in executions
            ],
        ),
    ]
    if latest is None:
        parts.append("<p>No data quality execution has completed yet: no features to compare.</p>")
    else:
        parts += [
            f"<h2>Features at {escape(when(latest['ScheduledTime']))} "
            f"({escape(latest['MonitoringScheduleName'])})</h2>",
            _table(
                ("Feature", "Type", "Baseline", "Current", "Non-null", "Drift", "Distribution", "Violations"),
                [
                    (
                        f.name,
                        f.kind,
                        f.baseline,
                        f.current,
                        "" if f.completeness is None else f"{f.completeness:.1%}",
                        _drift(f),
                        Raw(distribution(f.name, f.labels, f.baseline_shares, f.current_shares)),
                        Raw(f"<span class='bad'>{escape(', '.join(f.violations))}</span>") if f.violations else "",
                    )
                    for f in features
                ],
            ),
        ]
    if judged is not None:
        parts += [
            f"<h2>Model quality at {escape(when(judged['ScheduledTime']))} "
            f"({escape(judged['MonitoringScheduleName'])})</h2>",
            _table(
                ("Metric", "Value", "Constraint", "Violation"),
                [
                    (
                        m.name,
                        f"{m.value:.4g}" + ("" if m.standard_deviation is None else f" ± {m.standard_deviation:.3g}"),
                        f"{m.operator} {m.threshold:.4g}" if m.threshold is not None else "",
                        Raw("<span class='bad'>violated</span>") if m.violated else "",
                    )
                    for m in metrics
                ],
            ),
        ]
    parts.append("</body></html>\n")
    return "".join(parts)


class Raw(str):
    """Markup of our own, put in a cell as it is (every other value is escaped)."""


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{v if isinstance(v, Raw) else escape(str(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _last(summary: dict[str, Any] | None) -> Any:
    return (
        Raw(f"{_status(summary['MonitoringExecutionStatus'])} {escape(when(summary['ScheduledTime']))}")
        if summary
        else ""
    )


def _status(status: str) -> Raw:
    css = {"CompletedWithViolations": "warn", "Failed": "bad"}.get(status)
    return Raw(f"<span class='{css}'>{escape(status)}</span>" if css else escape(status))


def _drift(f: Any) -> Any:
    if f.drift is None:
        return ""
    text = escape(f"{f.drift:.3f} / {f.threshold:g}")
    return Raw(f"<span class='bad'>{text}</span>" if f.drift > f.threshold else text)
