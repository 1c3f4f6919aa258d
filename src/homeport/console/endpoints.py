"""Endpoints: the list, and each endpoint's page (status, variants, instances, charts, recent logs)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from homeport.console.context import Console, InstanceView
from homeport.console.deployments import deployment_view
from homeport.console.endpoint_metrics import endpoint_charts
from homeport.console.pages import attempt, duration, failure, newest_first, render, signed_in
from homeport.console.session import Viewer

PAGE_SIZE = 100
LOG_LINES = 50


def routes() -> list[Route]:
    return [
        Route("/console/endpoints", signed_in(_list)),
        Route("/console/endpoints/{name}", signed_in(_page)),
        Route("/console/endpoints/{name}/live", signed_in(_live)),
        Route("/console/endpoints/{name}/logs", signed_in(_logs)),
    ]


async def _list(request: Request, console: Console, who: Viewer) -> Response:
    params = newest_first(request, PAGE_SIZE)
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
        "charts": endpoint_charts(console, name, [v["VariantName"] for v in variants], now),
        "deployment": deployment_view(console, endpoint, now),
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
