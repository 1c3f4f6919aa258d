"""An endpoint's route table entry, from its document and the healthy instances: built the same way by the front
door that runs the instances (the endpoint controller) and by those that follow it (`route_follower`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from homeport.core.states import TAKING_REQUESTS, EndpointStatus
from homeport.dataplane.capture import CaptureConfig
from homeport.dataplane.instances import Instance, InstanceState
from homeport.dataplane.multi_model import Loader
from homeport.dataplane.router import Route, VariantRoute
from homeport.dataplane.serverless import Gate

# (endpoint, deployment, variant) → what serves it: its healthy instances, its multi-model loader, its gate.
Healthy = Callable[[str, dict[str, Any], dict[str, Any]], list[Instance]]
LoaderOf = Callable[[str, str, dict[str, Any]], Loader | None]
GateOf = Callable[[str, dict[str, Any], dict[str, Any]], Gate | None]


def healthy_among(instances: Iterable[Instance]) -> Healthy:
    def healthy(endpoint: str, deployment: dict[str, Any], variant: dict[str, Any]) -> list[Instance]:
        return [
            i
            for i in instances
            if i.endpoint == endpoint
            and i.config == deployment["config"]
            and i.variant == variant["VariantName"]
            and i.state == InstanceState.HEALTHY
        ]

    return healthy


def route_for(doc: dict[str, Any], healthy: Healthy, loader: LoaderOf, gate: GateOf) -> Route | None:
    """The endpoint's route while it takes requests, else None."""
    serving, target = doc["_serving"], doc["_target"]
    if not serving or EndpointStatus(doc["EndpointStatus"]) not in TAKING_REQUESTS:
        return None
    share = (doc.get("_deployment") or {}).get("share", 0.0)
    name = doc["EndpointName"]
    return Route(
        name,
        [
            VariantRoute(
                v["VariantName"],
                v["Weight"],
                healthy(name, serving, v),
                healthy(name, target, v) if share else [],
                share,
                loader(name, serving["config"], v),
                loader(name, target["config"], variant_like(target, v)) if share else None,
                *containers(v),
                serverless=gate(name, serving, v),
            )
            for v in serving["variants"]
        ],
        serving.get("async"),
        shadow_routes(name, serving, healthy),
        CaptureConfig.from_api(serving.get("capture")),
    )


def shadow_routes(name: str, serving: dict[str, Any], healthy: Healthy) -> list[VariantRoute]:
    """Each shadow variant's route; its weight over the production variants' is the share of requests it gets a
    copy of (at most all of them), as SageMaker's shadow tests sample."""
    production = sum(v["Weight"] for v in serving["variants"]) or 1.0
    return [
        VariantRoute(v["VariantName"], min(1.0, v["Weight"] / production), healthy(name, serving, v))
        for v in serving.get("shadows", [])
    ]


def variant_like(deployment: dict[str, Any], like: dict[str, Any]) -> dict[str, Any]:
    """The variant of `deployment` with the name of `like` (`like` itself when it has none)."""
    return next((v for v in deployment["variants"] if v["VariantName"] == like["VariantName"]), like)


def containers(variant: dict[str, Any]) -> tuple[tuple[str, ...], bool]:
    """A multi-container variant's hostnames, and whether they are invoked directly."""
    pipeline = variant["Container"].get("Pipeline", [])
    return tuple(c["Hostname"] for c in pipeline), variant["Container"].get("ExecutionMode") == "Direct"
