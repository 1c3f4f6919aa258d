"""What a server has that a stack's plan depends on, read through the same API any client uses."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from homeport.stack.document import NAMESPACE, STACK_TAG, Stack

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
        doc = sm.describe_endpoint(EndpointName=e["EndpointName"])
        seen.endpoints[e["EndpointName"]] = {**doc, "Tags": _tags(sm, doc["EndpointArn"])}
    serving = {c for e in seen.endpoints.values() for c in in_use(e)}

    for c in _all(sm, "list_endpoint_configs", "EndpointConfigs"):
        name = c["EndpointConfigName"]
        if name in stack.section("EndpointConfigs") or name in serving or DIGESTED.match(name):
            tags = _tags(sm, c["EndpointConfigArn"])
            if name in stack.section("EndpointConfigs") or name in serving or owned(tags):
                seen.configs[name] = {**sm.describe_endpoint_config(EndpointConfigName=name), "Tags": tags}

    for m in _all(sm, "list_models", "Models"):
        name = m["ModelName"]
        if name in stack.section("Models") or DIGESTED.match(name):
            tags = _tags(sm, m["ModelArn"])
            if name in stack.section("Models") or owned(tags):
                seen.models[name] = {"ModelName": name, "Tags": tags}

    for t in _all(aas, "describe_scalable_targets", "ScalableTargets", ServiceNamespace=NAMESPACE):
        seen.targets[t["ResourceId"]] = t
    for p in _all(aas, "describe_scaling_policies", "ScalingPolicies", ServiceNamespace=NAMESPACE):
        seen.policies[f"{p['ResourceId']}/{p['PolicyName']}"] = p

    for a in _all(cw, "describe_alarms", "MetricAlarms"):
        if a["AlarmName"].startswith(TRACKING_ALARM):
            continue
        tags = {t["Key"]: t["Value"] for t in cw.list_tags_for_resource(ResourceARN=a["AlarmArn"])["Tags"]}
        if a["AlarmName"] in stack.section("Alarms") or owned(tags):
            seen.alarms[a["AlarmName"]] = {**a, "Tags": tags}

    for s in _all(sm, "list_monitoring_schedules", "MonitoringScheduleSummaries"):
        name = s["MonitoringScheduleName"]
        tags = _tags(sm, s["MonitoringScheduleArn"])
        if name in stack.section("MonitoringSchedules") or owned(tags):
            seen.schedules[name] = {**sm.describe_monitoring_schedule(MonitoringScheduleName=name), "Tags": tags}
    return seen


def in_use(endpoint: dict[str, Any]) -> list[str]:
    """The endpoint configs an endpoint serves from or is moving to."""
    names = [endpoint.get("EndpointConfigName"), endpoint.get("PendingDeploymentSummary", {}).get("EndpointConfigName")]
    return [n for n in names if n]


def _tags(sm: Any, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in _all(sm, "list_tags", "Tags", ResourceArn=arn)}


def _all(client: Any, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in client.get_paginator(operation).paginate(**params):
        found += page[key]
    return found
