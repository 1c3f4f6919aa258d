"""Endpoints: the list, and each endpoint's page (status, variants, instances, charts, recent logs)."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from homeport.console.charts import Line, svg
from homeport.console.context import Console, InstanceView
from homeport.console.pages import attempt, failure, render, signed_in
from homeport.console.session import Viewer

PAGE_SIZE = 100
CHART_PERIODS = 60  # a chart spans this many metric periods: a minute at 1 s, an hour at 60 s
LOG_LINES = 50
SAGEMAKER, INSTANCES = "AWS/SageMaker", "/aws/sagemaker/Endpoints"


def routes() -> list[Route]:
    return [
        Route("/console/endpoints", signed_in(_list)),
        Route("/console/endpoints/{name}", signed_in(_page)),
        Route("/console/endpoints/{name}/live", signed_in(_live)),
        Route("/console/endpoints/{name}/logs", signed_in(_logs)),
    ]


async def _list(request: Request, console: Console, who: Viewer) -> Response:
    params: dict[str, Any] = {"MaxResults": PAGE_SIZE, "SortBy": "CreationTime", "SortOrder": "Descending"}
    if token := request.query_params.get("next"):
        params["NextToken"] = token
    if contains := request.query_params.get("name", "").strip():
        params["NameContains"] = contains
    reply, error = attempt(console, "sagemaker", "ListEndpoints", params)
    fragment = bool(request.headers.get("hx-request"))
    return render(
        request,
        "_endpoint_rows.html" if fragment else "endpoints.html",
        who=who,
        endpoints=reply.get("Endpoints", []),
        next=reply.get("NextToken"),
        name=contains,
        error=error,
    )


async def _page(request: Request, console: Console, who: Viewer) -> Response:
    view = endpoint_view(console, request.path_params["name"])
    if view is None:
        return failure(request, who, 404, "No such endpoint", f"Could not find endpoint {request.path_params['name']}.")
    return render(request, "endpoint.html", who=who, **view)


async def _live(request: Request, console: Console, who: Viewer) -> Response:
    view = endpoint_view(console, request.path_params["name"])
    if view is None:
        return Response("The endpoint is gone.", status_code=404)
    return render(request, "_endpoint_live.html", who=who, **view)


async def _logs(request: Request, console: Console, who: Viewer) -> Response:
    return render(request, "_endpoint_logs.html", lines=recent_logs(console, request.path_params["name"]))


def endpoint_view(console: Console, name: str) -> dict[str, Any] | None:
    endpoint, error = attempt(console, "sagemaker", "DescribeEndpoint", {"EndpointName": name})
    if error is not None:
        return None
    config, _ = attempt(
        console, "sagemaker", "DescribeEndpointConfig", {"EndpointConfigName": endpoint["EndpointConfigName"]}
    )
    types = {v["VariantName"]: v.get("InstanceType", "serverless") for v in config.get("ProductionVariants", [])}
    variants = endpoint.get("ProductionVariants", [])
    now = console.clock.now()
    return {
        "endpoint": endpoint,
        "variants": variants,
        "types": types,
        "instances": [_instance_row(i, now) for i in console.instances(name)],
        "charts": charts(console, name, [v["VariantName"] for v in variants], now),
        "now": now,
    }


def _instance_row(instance: InstanceView, now: float) -> dict[str, Any]:
    return {
        "id": instance.id,
        "variant": instance.variant,
        "zone": instance.zone,
        "type": instance.instance_type or "serverless",
        "state": instance.state,
        "uptime": duration(now - instance.started_at),
        "cpu": "-" if instance.cpu is None else f"{instance.cpu:.0f} %",
        "memory": "-" if instance.memory is None else f"{instance.memory:.1f} %",
        "failure": instance.failure,
    }


def charts(console: Console, endpoint: str, variants: list[str], now: float) -> list[tuple[str, Markup]]:
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
            points = list(zip(map(_epoch, result.get("Timestamps", [])), result.get("Values", []), strict=True))
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


def _epoch(value: Any) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def recent_logs(console: Console, endpoint: str) -> list[dict[str, Any]]:
    """The last lines the endpoint's instances wrote, newest last, from its CloudWatch Logs group."""
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    streams, error = attempt(
        console,
        "logs",
        "DescribeLogStreams",
        {"logGroupName": group, "orderBy": "LastEventTime", "descending": True, "limit": 5},
    )
    if error is not None:
        return []
    lines: list[dict[str, Any]] = []
    for stream in streams.get("logStreams", []):
        events, _ = attempt(
            console,
            "logs",
            "GetLogEvents",
            {
                "logGroupName": group,
                "logStreamName": stream["logStreamName"],
                "startFromHead": False,
                "limit": LOG_LINES,
            },
        )
        lines += [{"stream": stream["logStreamName"], **event} for event in events.get("events", [])]
    lines.sort(key=lambda event: event.get("timestamp", 0))
    return lines[-LOG_LINES:]


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d"
