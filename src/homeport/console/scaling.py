"""A variant's "Configure auto scaling" page, as in SageMaker's console: minimum and maximum instances, a target
for SageMakerVariantInvocationsPerInstance, the cooldowns, disable scale-in. Made through the Application Auto
Scaling operations a client would call, with the policy's alarms and the recent scaling activities beside it."""

from __future__ import annotations

import urllib.parse
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from homeport.console.context import Console
from homeport.console.pages import attempt, change_form, failure, render, signed_in
from homeport.console.session import Viewer

NAMESPACE, DIMENSION = "sagemaker", "sagemaker:variant:DesiredInstanceCount"
METRIC = "SageMakerVariantInvocationsPerInstance"
DEFAULT_POLICY = "SageMakerEndpointInvocationScalingPolicy"  # the name SageMaker's console gives its policy
DEFAULT_COOLDOWN_S = 300


def routes() -> list[Route]:
    base = "/console/endpoints/{name}/variants/{variant}/scaling"
    return [
        Route(base, signed_in(_page), methods=["GET", "POST"]),
        Route(base + "/remove", signed_in(_remove), methods=["POST"]),
    ]


def resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def page_path(endpoint: str, variant: str) -> str:
    quoted = urllib.parse.quote(endpoint, safe=""), urllib.parse.quote(variant, safe="")
    return f"/console/endpoints/{quoted[0]}/variants/{quoted[1]}/scaling"


async def _page(request: Request, console: Console, who: Viewer) -> Response:
    endpoint, variant = request.path_params["name"], request.path_params["variant"]
    current = scaling_view(console, endpoint, variant)
    if current is None:
        return failure(request, who, 404, "No such variant", f"Endpoint {endpoint} has no variant {variant}.")
    if request.method == "GET":
        saved = request.query_params.get("saved") == "1"
        return render(request, "scaling.html", who=who, error=None, saved=saved, **current)
    form = await change_form(request, who)
    if isinstance(form, Response):
        return form
    error = configure(console, endpoint, variant, form, current["target"])
    if error is not None:
        return render(request, "scaling.html", 400, who=who, error=error, saved=False, **{**current, "form": form})
    return RedirectResponse(page_path(endpoint, variant) + "?saved=1", status_code=303)


async def _remove(request: Request, console: Console, who: Viewer) -> Response:
    endpoint, variant = request.path_params["name"], request.path_params["variant"]
    form = await change_form(request, who)
    if isinstance(form, Response):
        return form
    current = scaling_view(console, endpoint, variant)
    if current is None:
        return failure(request, who, 404, "No such variant", f"Endpoint {endpoint} has no variant {variant}.")
    params = {
        "ServiceNamespace": NAMESPACE,
        "ResourceId": resource_id(endpoint, variant),
        "ScalableDimension": DIMENSION,
    }
    _, error = attempt(console, "application-autoscaling", "DeregisterScalableTarget", params)
    if error is not None:
        return render(request, "scaling.html", 400, who=who, error=error, saved=False, **current)
    return RedirectResponse(page_path(endpoint, variant), status_code=303)


def scaling_view(console: Console, endpoint: str, variant: str) -> dict[str, Any] | None:
    described, error = attempt(console, "sagemaker", "DescribeEndpoint", {"EndpointName": endpoint})
    found = [v for v in described.get("ProductionVariants", []) if v["VariantName"] == variant]
    if error is not None or not found:
        return None
    rid = resource_id(endpoint, variant)
    which = {"ServiceNamespace": NAMESPACE, "ResourceIds": [rid], "ScalableDimension": DIMENSION}
    targets, _ = attempt(console, "application-autoscaling", "DescribeScalableTargets", which)
    target = next(iter(targets.get("ScalableTargets", [])), None)
    one = {"ServiceNamespace": NAMESPACE, "ResourceId": rid, "ScalableDimension": DIMENSION}
    policies, _ = attempt(console, "application-autoscaling", "DescribeScalingPolicies", one)
    policy = next((p for p in policies.get("ScalingPolicies", []) if _tracks_invocations(p)), None)
    alarms: list[dict[str, Any]] = []
    if policy and policy.get("Alarms"):
        names = [alarm["AlarmName"] for alarm in policy["Alarms"]]
        found_alarms, _ = attempt(console, "cloudwatch", "DescribeAlarms", {"AlarmNames": names})
        alarms = found_alarms.get("MetricAlarms", [])
    activities, _ = attempt(console, "application-autoscaling", "DescribeScalingActivities", {**one, "MaxResults": 20})
    return {
        "endpoint": endpoint,
        "variant": found[0],
        "target": target,
        "policy": policy,
        "alarms": alarms,
        "activities": activities.get("ScalingActivities", []),
        "form": _form_of(target, policy, found[0]),
        "path": page_path(endpoint, variant),
    }


def _tracks_invocations(policy: dict[str, Any]) -> bool:
    config = policy.get("TargetTrackingScalingPolicyConfiguration") or {}
    return (config.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType") == METRIC


def _form_of(target: dict[str, Any] | None, policy: dict[str, Any] | None, variant: dict[str, Any]) -> dict[str, str]:
    """The form's fields as they stand: the registered target and policy, else the defaults SageMaker shows."""
    config = (policy or {}).get("TargetTrackingScalingPolicyConfiguration") or {}
    count = str(variant.get("CurrentInstanceCount", 1))
    return {
        "min": str(target["MinCapacity"]) if target else count,
        "max": str(target["MaxCapacity"]) if target else count,
        "target": f"{config['TargetValue']:g}" if "TargetValue" in config else "",
        "scale_in_cooldown": str(config.get("ScaleInCooldown", DEFAULT_COOLDOWN_S)),
        "scale_out_cooldown": str(config.get("ScaleOutCooldown", DEFAULT_COOLDOWN_S)),
        "disable_scale_in": "on" if config.get("DisableScaleIn") else "",
        "policy_name": (policy or {}).get("PolicyName", DEFAULT_POLICY),
    }


def configure(
    console: Console, endpoint: str, variant: str, form: dict[str, str], before: dict[str, Any] | None
) -> str | None:
    """Register the target and put the policy; None when done, else what to fix. A policy refused after the
    target was registered puts the target back as it was: nothing is left half-made."""
    try:
        low, high = _whole(form, "min", "Minimum instance count"), _whole(form, "max", "Maximum instance count")
        value = _number(form, "target", "Target value")
        scale_in = _whole(form, "scale_in_cooldown", "Scale-in cooldown")
        scale_out = _whole(form, "scale_out_cooldown", "Scale-out cooldown")
    except ValueError as exc:
        return str(exc)
    rid = resource_id(endpoint, variant)
    one = {"ServiceNamespace": NAMESPACE, "ResourceId": rid, "ScalableDimension": DIMENSION}
    _, error = attempt(
        console, "application-autoscaling", "RegisterScalableTarget", {**one, "MinCapacity": low, "MaxCapacity": high}
    )
    if error is not None:
        return error
    config = {
        "TargetValue": value,
        "PredefinedMetricSpecification": {"PredefinedMetricType": METRIC},
        "ScaleInCooldown": scale_in,
        "ScaleOutCooldown": scale_out,
        "DisableScaleIn": form.get("disable_scale_in") == "on",
    }
    name = form.get("policy_name", "").strip() or DEFAULT_POLICY
    _, error = attempt(
        console,
        "application-autoscaling",
        "PutScalingPolicy",
        {
            **one,
            "PolicyName": name,
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": config,
        },
    )
    if error is not None:
        if before is None:
            attempt(console, "application-autoscaling", "DeregisterScalableTarget", one)
        else:
            restore = {**one, "MinCapacity": before["MinCapacity"], "MaxCapacity": before["MaxCapacity"]}
            attempt(console, "application-autoscaling", "RegisterScalableTarget", restore)
    return error


def _whole(form: dict[str, str], field: str, label: str) -> int:
    return int(_parsed(form, field, label, int, "a whole number"))


def _number(form: dict[str, str], field: str, label: str) -> float:
    return _parsed(form, field, label, float, "a number")


def _parsed(form: dict[str, str], field: str, label: str, kind: type[float] | type[int], what: str) -> float:
    text = form.get(field, "").strip()
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{label} must be {what}, not {text!r}.") from None
