"""The calls that bring a server from what it has to what a stack declares: a pure function of the two."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from homeport.stack.document import NAME_TAG, STACK_TAG, Stack
from homeport.stack.observed import Observed, in_use

CREATE, UPDATE, DELETE = "create", "update", "delete"


@dataclass(frozen=True)
class Change:
    """One call: what it does to which resource, and the call itself."""

    action: str  # create | update | delete
    kind: str  # model, endpoint config, endpoint, scalable target, scaling policy, alarm, monitoring schedule
    name: str
    service: str
    operation: str  # botocore's operation name
    params: dict[str, Any]
    detail: str = ""


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    under_way: dict[str, str] = field(default_factory=dict)  # endpoint -> the deployment the server is making

    def add(self, *change: Change) -> None:
        self.changes.extend(change)


def plan(stack: Stack, seen: Observed) -> Plan:
    """Creates and updates first, in the order resources depend on each other (an endpoint's deployment names
    the alarms that roll it back, so they come before it); deletes after, in reverse."""
    result = Plan()
    tag = {"Key": STACK_TAG, "Value": stack.name}
    endpoints = stack.section("Endpoints")
    owned_endpoints = {n for n, e in seen.endpoints.items() if e["Tags"].get(STACK_TAG) == stack.name}
    ours = set(endpoints) | owned_endpoints

    for kind, section, have, operation in (
        ("model", "Models", seen.models, "CreateModel"),
        ("endpoint config", "EndpointConfigs", seen.configs, "CreateEndpointConfig"),
    ):
        for name, params in stack.section(section).items():
            if name not in have:
                tags = [*params.get("Tags", []), tag, {"Key": NAME_TAG, "Value": stack.declared[name]}]
                result.add(Change(CREATE, kind, name, "sagemaker", operation, {**params, "Tags": tags}))

    for name, params in stack.section("Alarms").items():
        old = seen.alarms.get(name)
        config = {k: v for k, v in params.items() if k != "Tags"}
        if old is None:
            result.add(
                Change(
                    CREATE,
                    "alarm",
                    name,
                    "cloudwatch",
                    "PutMetricAlarm",
                    {**params, "Tags": [*params.get("Tags", []), tag]},
                )
            )
        elif _differs(config, old):
            result.add(Change(UPDATE, "alarm", name, "cloudwatch", "PutMetricAlarm", config))

    for name, params in endpoints.items():
        _endpoint(result, name, params, seen.endpoints.get(name), tag)

    for resource_id, params in stack.section("ScalableTargets").items():
        old = seen.targets.get(resource_id)
        if old is None or _differs(params, old):
            detail = f"{params.get('MinCapacity', '?')}-{params.get('MaxCapacity', '?')} instances"
            action = CREATE if old is None else UPDATE
            result.add(
                Change(
                    action,
                    "scalable target",
                    resource_id,
                    "application-autoscaling",
                    "RegisterScalableTarget",
                    params,
                    detail,
                )
            )
    for key, params in stack.section("ScalingPolicies").items():
        old = seen.policies.get(key)
        if old is None or _differs(params, old):
            action = CREATE if old is None else UPDATE
            result.add(
                Change(
                    action,
                    "scaling policy",
                    key,
                    "application-autoscaling",
                    "PutScalingPolicy",
                    params,
                    params.get("PolicyType", ""),
                )
            )
    for name, params in stack.section("MonitoringSchedules").items():
        old = seen.schedules.get(name)
        if old is None:
            result.add(
                Change(
                    CREATE,
                    "monitoring schedule",
                    name,
                    "sagemaker",
                    "CreateMonitoringSchedule",
                    {**params, "Tags": [*params.get("Tags", []), tag]},
                )
            )
        elif _differs(params["MonitoringScheduleConfig"], old["MonitoringScheduleConfig"]):
            result.add(
                Change(
                    UPDATE,
                    "monitoring schedule",
                    name,
                    "sagemaker",
                    "UpdateMonitoringSchedule",
                    {"MonitoringScheduleName": name, "MonitoringScheduleConfig": params["MonitoringScheduleConfig"]},
                )
            )

    _deletes(result, stack, seen, ours)
    return result


def _endpoint(result: Plan, name: str, params: dict[str, Any], old: dict[str, Any] | None, tag: dict[str, str]) -> None:
    config = params["EndpointConfigName"]
    create = {
        k: v for k, v in params.items() if k not in ("RetainAllVariantProperties", "ExcludeRetainedVariantProperties")
    }
    if old is None:
        result.add(
            Change(
                CREATE,
                "endpoint",
                name,
                "sagemaker",
                "CreateEndpoint",
                {**create, "Tags": [*params.get("Tags", []), tag]},
                f"from {config}",
            )
        )
        return
    if old["Tags"].get(STACK_TAG) != tag["Value"]:
        result.add(
            Change(
                UPDATE,
                "endpoint",
                name,
                "sagemaker",
                "AddTags",
                {"ResourceArn": old["EndpointArn"], "Tags": [tag]},
                "adopted into the stack",
            )
        )
    if old.get("PendingDeploymentSummary", {}).get("EndpointConfigName") == config:
        result.under_way[name] = f"already moving to {config} ({old['EndpointStatus']})"
    elif old["EndpointConfigName"] != config:
        update = {k: v for k, v in params.items() if k != "Tags"}
        how = _strategy(params.get("DeploymentConfig"))
        result.add(
            Change(
                UPDATE,
                "endpoint",
                name,
                "sagemaker",
                "UpdateEndpoint",
                update,
                f"{old['EndpointConfigName']} → {config}, {how}",
            )
        )


def _strategy(deployment: dict[str, Any] | None) -> str:
    if not deployment:
        return "all at once"
    if "RollingUpdatePolicy" in deployment:
        return "rolling"
    policy = deployment.get("BlueGreenUpdatePolicy", {}).get("TrafficRoutingConfiguration", {})
    return f"blue/green {policy.get('Type', 'ALL_AT_ONCE').lower().replace('_', ' ')}"


def _deletes(result: Plan, stack: Stack, seen: Observed, ours: set[str]) -> None:
    def owned(doc: dict[str, Any]) -> bool:
        return bool(doc["Tags"].get(STACK_TAG) == stack.name)

    def on_ours(resource_id: str) -> bool:
        parts = resource_id.split("/")
        return len(parts) >= 2 and parts[0] == "endpoint" and parts[1] in ours

    for name, doc in seen.schedules.items():
        if owned(doc) and name not in stack.section("MonitoringSchedules"):
            result.add(
                Change(
                    DELETE,
                    "monitoring schedule",
                    name,
                    "sagemaker",
                    "DeleteMonitoringSchedule",
                    {"MonitoringScheduleName": name},
                )
            )
    for key, doc in seen.policies.items():
        if on_ours(doc["ResourceId"]) and key not in stack.section("ScalingPolicies"):
            result.add(
                Change(
                    DELETE,
                    "scaling policy",
                    key,
                    "application-autoscaling",
                    "DeleteScalingPolicy",
                    {k: doc[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension", "PolicyName")},
                )
            )
    for resource_id, doc in seen.targets.items():
        if on_ours(resource_id) and resource_id not in stack.section("ScalableTargets"):
            result.add(
                Change(
                    DELETE,
                    "scalable target",
                    resource_id,
                    "application-autoscaling",
                    "DeregisterScalableTarget",
                    {k: doc[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension")},
                )
            )
    for name, doc in seen.endpoints.items():
        if owned(doc) and name not in stack.section("Endpoints"):
            result.add(Change(DELETE, "endpoint", name, "sagemaker", "DeleteEndpoint", {"EndpointName": name}))
    for name, doc in seen.alarms.items():
        if owned(doc) and name not in stack.section("Alarms"):
            result.add(Change(DELETE, "alarm", name, "cloudwatch", "DeleteAlarms", {"AlarmNames": [name]}))
    # An endpoint config or model stays while an endpoint serves from it or moves to it: a rollback needs it.
    serving = {c for e in seen.endpoints.values() for c in in_use(e)}
    kept_configs = set(stack.section("EndpointConfigs")) | serving
    for name, doc in seen.configs.items():
        if owned(doc) and name not in kept_configs:
            result.add(
                Change(
                    DELETE, "endpoint config", name, "sagemaker", "DeleteEndpointConfig", {"EndpointConfigName": name}
                )
            )
    used = {v.get("ModelName") for c in kept_configs for v in _variants(stack, seen, c)}
    for name, doc in seen.models.items():
        if owned(doc) and name not in stack.section("Models") and name not in used:
            result.add(Change(DELETE, "model", name, "sagemaker", "DeleteModel", {"ModelName": name}))


def _variants(stack: Stack, seen: Observed, config: str) -> list[dict[str, Any]]:
    doc = stack.section("EndpointConfigs").get(config) or seen.configs.get(config, {})
    return [*doc.get("ProductionVariants", []), *doc.get("ShadowProductionVariants", [])]


def _differs(declared: Any, observed: Any) -> bool:
    """Whether what the file declares is not what the server has: fields the file leaves out (defaults, times,
    ARNs the server adds) do not count."""
    if isinstance(declared, dict):
        if not isinstance(observed, dict):
            return True
        return any(k not in observed or _differs(v, observed[k]) for k, v in declared.items())
    if isinstance(declared, list):
        if not isinstance(observed, list) or len(declared) != len(observed):
            return True
        return any(_differs(d, o) for d, o in zip(declared, observed, strict=True))
    return bool(declared != observed)
