"""An endpoint's charts: its metrics read by the same GetMetricData a CloudWatch client calls, drawn as SVG."""

from __future__ import annotations

from markupsafe import Markup

from homeport.console.charts import Line, svg
from homeport.console.context import Console
from homeport.console.pages import attempt, epoch

CHART_PERIODS = 60  # a chart spans this many metric periods: a minute at 1 s, an hour at 60 s
SAGEMAKER, INSTANCES = "AWS/SageMaker", "/aws/sagemaker/Endpoints"


def endpoint_charts(console: Console, endpoint: str, variants: list[str], now: float) -> list[tuple[str, Markup]]:
    """Invocations, model latency (p50, p99), errors and healthy instances per variant, from the metrics the
    server keeps, by the same GetMetricData a CloudWatch client would call."""
    period = console.metric_period
    start, end = now - CHART_PERIODS * period, now
    queries, names = [], {}
    wanted = [
        ("inv", SAGEMAKER, "Invocations", "Sum"),
        ("p50", SAGEMAKER, "ModelLatency", "p50"),
        ("p99", SAGEMAKER, "ModelLatency", "p99"),
        ("e4", SAGEMAKER, "Invocation4XXErrors", "Sum"),
        ("e5", SAGEMAKER, "Invocation5XXErrors", "Sum"),
        ("cpu", INSTANCES, "CPUUtilization", "SampleCount"),  # one reading per healthy instance per period
    ]
    for i, variant in enumerate(variants):
        dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
        for key, namespace, metric, stat in wanted:
            query_id = f"{key}_{i}"
            names[query_id] = (key, variant)
            queries.append(
                {
                    "Id": query_id,
                    "MetricStat": {
                        "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dims},
                        "Period": period,
                        "Stat": stat,
                    },
                }
            )
    series: dict[tuple[str, str], list[tuple[float, float]]] = {}
    if queries:
        reply, _ = attempt(
            console,
            "cloudwatch",
            "GetMetricData",
            {"MetricDataQueries": queries, "StartTime": start, "EndTime": end, "ScanBy": "TimestampAscending"},
        )
        for result in reply.get("MetricDataResults", []):
            points = list(zip(map(epoch, result.get("Timestamps", [])), result.get("Values", []), strict=True))
            series[names[result["Id"]]] = points

    def lines(key: str, label: str, scale: float = 1.0) -> list[Line]:
        return [
            Line(f"{variant} {label}".strip(), [(t, v * scale) for t, v in series.get((key, variant), [])])
            for variant in variants
        ]

    errors = [Line(f"{v} errors", _added(series.get(("e4", v), []), series.get(("e5", v), []))) for v in variants]
    drawn = [
        ("Invocations", lines("inv", ""), ""),
        ("Model latency", [*lines("p50", "p50", 1e-3), *lines("p99", "p99", 1e-3)], " ms"),
        ("Errors (4xx + 5xx)", errors, ""),
        ("Healthy instances", lines("cpu", ""), ""),
    ]
    per = f"per {period} s" if period < 60 else f"per {period // 60} min"
    return [(f"{title} ({per})", svg(title, chart, start, end, unit)) for title, chart, unit in drawn]


def _added(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    total: dict[float, float] = {}
    for t, v in [*a, *b]:
        total[t] = total.get(t, 0.0) + v
    return sorted(total.items())
