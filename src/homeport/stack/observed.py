"""What a server has that a stack's plan depends on, read through the same API any client uses."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from homeport.stack.document import NAMESPACE, STACK_TAG, Stack

T = TypeVar("T")
Clients = Callable[[str], Any]  # a service's name -> a boto3 client aimed at the server
DIGESTED = re.compile(r".+-[0-9a-f]{8}$")  # the names apply gives models and endpoint configs
TRACKING_ALARM = "TargetTracking-"  # alarms a target-tracking policy owns: the policy is what the file declares


@dataclass
class Observed:
    """Each resource kind by name; a resource's tags under "Tags" as a dict."""

    models: dict[str, dict[str, Any]] = field(default_factory=dict)  # declared or owned
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)  # declared, owned or serving an endpoint
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)  # every endpoint
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)  # by ResourceId
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # by ResourceId/PolicyName
    alarms: dict[str, dict[str, Any]] = field(default_factory=dict)  # declared or owned
    schedules: dict[str, dict[str, Any]] = field(default_factory=dict)  # declared or owned


def observe(clients: Clients, stack: Stack) -> Observed:
    sm, aas, cw = clients("sagemaker"), clients("application-autoscaling"), clients("cloudwatch")
    seen = Observed()

    def owned(tags: dict[str, str]) -> bool:
        return tags.get(STACK_TAG) == stack.name

    for e in _all(sm, "list_endpoints", "Endpoints"):
        doc = _unless_gone(sm.describe_endpoint, EndpointName=e["EndpointName"])
        tags = _unless_gone(_tags, sm, doc["EndpointArn"]) if doc else None
        if doc is not None and tags is not None:
            seen.endpoints[e["EndpointName"]] = {**doc, "Tags": tags}
    serving = {c for e in seen.endpoints.values() for c in in_use(e)}

    for c in _all(sm, "list_endpoint_configs", "EndpointConfigs"):
        name = c["EndpointConfigName"]
        if name in stack.section("EndpointConfigs") or name in serving or DIGESTED.match(name):
            tags = _unless_gone(_tags, sm, c["EndpointConfigArn"])
            if tags is not None and (name in stack.section("EndpointConfigs") or name in serving or owned(tags)):
                doc = _unless_gone(sm.describe_endpoint_config, EndpointConfigName=name)
                if doc is not None:
                    seen.configs[name] = {**doc, "Tags": tags}

    for m in _all(sm, "list_models", "Models"):
        name = m["ModelName"]
        if name in stack.section("Models") or DIGESTED.match(name):
            tags = _unless_gone(_tags, sm, m["ModelArn"])
            if tags is not None and (name in stack.section("Models") or owned(tags)):
                seen.models[name] = {"ModelName": name, "Tags": tags}

    for t in _all(aas, "describe_scalable_targets", "ScalableTargets", ServiceNamespace=NAMESPACE):
        seen.targets[t["ResourceId"]] = t
    for p in _all(aas, "describe_scaling_policies", "ScalingPolicies", ServiceNamespace=NAMESPACE):
        seen.policies[f"{p['ResourceId']}/{p['PolicyName']}"] = p

    for a in _all(cw, "describe_alarms", "MetricAlarms"):
        if a["AlarmName"].startswith(TRACKING_ALARM):
            continue
        listed = _unless_gone(cw.list_tags_for_resource, ResourceARN=a["AlarmArn"])
        tags = {t["Key"]: t["Value"] for t in (listed or {}).get("Tags", [])}
        if listed is not None and (a["AlarmName"] in stack.section("Alarms") or owned(tags)):
            seen.alarms[a["AlarmName"]] = {**a, "Tags": tags}

    for s in _all(sm, "list_monitoring_schedules", "MonitoringScheduleSummaries"):
        name = s["MonitoringScheduleName"]
        tags = _unless_gone(_tags, sm, s["MonitoringScheduleArn"])
        if tags is not None and (name in stack.section("MonitoringSchedules") or owned(tags)):
            doc = _unless_gone(sm.describe_monitoring_schedule, MonitoringScheduleName=name)
            if doc is not None:
                seen.schedules[name] = {**doc, "Tags": tags}
    return seen


def in_use(endpoint: dict[str, Any]) -> list[str]:
    """The endpoint configs an endpoint serves from or is moving to."""
    names = [endpoint.get("EndpointConfigName"), endpoint.get("PendingDeploymentSummary", {}).get("EndpointConfigName")]
    return [n for n in names if n]


def _unless_gone(read: Callable[..., T], *args: Any, **params: Any) -> T | None:
    """A read of something a listing just named, or None when it was deleted since (a listing is not a snapshot)."""
    from botocore.exceptions import ClientError

    try:
        return read(*args, **params)
    except ClientError as e:
        code, message = e.response["Error"]["Code"], e.response["Error"].get("Message", "")
        if code in ("ResourceNotFound", "ResourceNotFoundException") or "Could not find" in message:
            return None
        raise


def _tags(sm: Any, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in _all(sm, "list_tags", "Tags", ResourceArn=arn)}


def _all(client: Any, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in client.get_paginator(operation).paginate(**params):
        found += page[key]
    return found
