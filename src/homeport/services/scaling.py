"""Application Auto Scaling for SageMaker endpoint variants: scalable targets, target-tracking and step-scaling
policies, scheduled actions, scaling activities. The autoscaler (controllers/autoscaler.py) acts on them.

As in AWS, a target-tracking policy owns two CloudWatch alarms on its metric, AlarmHigh (3 of 3 periods above
the target) and AlarmLow (15 of 15 below 90 % of it, not made when scale-in is disabled), which anyone can see
with DescribeAlarms; a step-scaling policy runs while an alarm naming its ARN in AlarmActions is in ALARM.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

from homeport.core import schedules
from homeport.errors import InvalidNextTokenException, ObjectNotFound, ScalingLimitExceeded, ValidationError
from homeport.services.alarms import AlarmService
from homeport.services.context import Context
from homeport.store import Kind, alarms
from homeport.store.db import BadToken, decode_token, encode_token
from homeport.store.scaling import Item, find, get, put, remove, remove_resource

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
PROVISIONED = "sagemaker:variant:DesiredProvisionedConcurrency"  # a serverless variant's
INVOCATIONS_PER_INSTANCE = "SageMakerVariantInvocationsPerInstance"
PROVISIONED_UTILIZATION = "SageMakerVariantProvisionedConcurrencyUtilization"
PREDEFINED = {DIMENSION: INVOCATIONS_PER_INSTANCE, PROVISIONED: PROVISIONED_UTILIZATION}
DEFAULT_COOLDOWN = 300.0  # seconds, for SageMaker variants
HIGH_PERIODS, LOW_PERIODS, LOW_FACTOR = 3, 15, 0.9
MAX_POLICIES = 50  # per scalable target
MAX_SCHEDULED = 200


def resource_parts(resource_id: str) -> tuple[str, str]:
    """`endpoint/<endpoint>/variant/<variant>` → (endpoint, variant); ValidationException otherwise."""
    parts = resource_id.split("/")
    if len(parts) != 4 or parts[0] != "endpoint" or parts[2] != "variant" or not parts[1] or not parts[3]:
        raise ValidationError(
            f"Unsupported resource ID {resource_id}: a SageMaker variant is "
            "endpoint/<EndpointName>/variant/<VariantName>."
        )
    return parts[1], parts[3]


def _check_kind(params: dict[str, Any]) -> None:
    if params["ServiceNamespace"] != NAMESPACE:
        raise ValidationError(f"homeport scales SageMaker endpoint variants only: use ServiceNamespace {NAMESPACE}.")
    if "ScalableDimension" in params and params["ScalableDimension"] not in PREDEFINED:
        raise ValidationError(
            f"Unsupported scalable dimension {params['ScalableDimension']}: homeport scales {DIMENSION} and, for "
            f"serverless variants, {PROVISIONED}."
        )


def dimension_of(variant: dict[str, Any]) -> str:
    """What scales a deployed variant: its instances, or a serverless one's provisioned concurrency."""
    return PROVISIONED if "Serverless" in variant else DIMENSION


def capacity_of(variant: dict[str, Any]) -> int:
    """A deployed variant's capacity in its dimension's unit."""
    return int(variant["Serverless"].get("ProvisionedConcurrency", 0)) if "Serverless" in variant else variant["Count"]


def capacity_change(variant: str, dimension: str, capacity: int) -> dict[str, Any]:
    """The UpdateEndpointWeightsAndCapacities entry that sets a variant's capacity."""
    if dimension == PROVISIONED:
        return {"VariantName": variant, "ServerlessUpdateConfig": {"ProvisionedConcurrency": capacity}}
    return {"VariantName": variant, "DesiredInstanceCount": capacity}


def served_capacity(summary: dict[str, Any], dimension: str) -> int | None:
    """What a DescribeEndpoint variant summary shows serving in the dimension's unit."""
    if dimension == PROVISIONED:
        return summary.get("CurrentServerlessConfig", {}).get("ProvisionedConcurrency")
    return summary.get("CurrentInstanceCount")


def capacity_words(dimension: str) -> str:
    return "desired provisioned concurrency" if dimension == PROVISIONED else "desired instance count"


def _offset(token: str | None) -> int:
    try:
        return decode_token(token) if token else 0
    except BadToken:
        raise InvalidNextTokenException("The NextToken is not one this server gave out.") from None


def _page(items: list[dict[str, Any]], key: str, params: dict[str, Any], default: int) -> dict[str, Any]:
    offset, limit = _offset(params.get("NextToken")), params.get("MaxResults", default)
    reply: dict[str, Any] = {key: [_public(i) for i in items[offset : offset + limit]]}
    if offset + limit < len(items):
        reply["NextToken"] = encode_token(offset + limit)
    return reply


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


class ScalingService:
    def __init__(self, ctx: Context, alarm_service: AlarmService) -> None:
        self.ctx = ctx
        self.alarms = alarm_service

    def _arn(self, kind: str, resource_id: str, name: str) -> str:
        s = self.ctx.settings
        where = f"resource/{NAMESPACE}/{resource_id}:{name}"
        return f"arn:aws:autoscaling:{s.region}:{s.account_id}:{kind}:{uuid.uuid4()}:{where}"

    def _target(self, conn: Any, params: dict[str, Any]) -> dict[str, Any]:
        doc = get(conn, Item.TARGET, params["ResourceId"])
        if doc is None:
            raise ObjectNotFound(
                f"No scalable target registered for service namespace: {NAMESPACE}, resource ID: "
                f"{params['ResourceId']}, scalable dimension: {params.get('ScalableDimension', DIMENSION)}"
            )
        return doc

    # --- scalable targets ------------------------------------------------------------------------

    def register(self, params: dict[str, Any]) -> dict[str, Any]:
        _check_kind(params)
        resource_id = params["ResourceId"]
        endpoint, variant = resource_parts(resource_id)
        now = self.ctx.clock.now()
        with self.ctx.store.transaction() as conn:
            doc = self.ctx.store.get(conn, Kind.ENDPOINT, endpoint)
            serving = ((doc or {}).get("_serving") or (doc or {}).get("_target")) or {}
            variants = {v["VariantName"]: v for v in serving.get("variants", [])}
            if doc is None or variant not in variants:
                raise ValidationError(
                    f"The endpoint variant {resource_id} does not exist: create the endpoint (with variant {variant}) "
                    "before registering it."
                )
            dimension = dimension_of(variants[variant])
            if params.get("ScalableDimension", dimension) != dimension:
                kind = "serverless" if dimension == PROVISIONED else "on instances"
                raise ValidationError(
                    f"Variant {variant} of endpoint {endpoint} is {kind}: its scalable dimension is {dimension}."
                )
            old = get(conn, Item.TARGET, resource_id)
            if old is None and ("MinCapacity" not in params or "MaxCapacity" not in params):
                raise ValidationError("MinCapacity and MaxCapacity are required to register a new scalable target.")
            minimum = params.get("MinCapacity", old["MinCapacity"] if old else 0)
            maximum = params.get("MaxCapacity", old["MaxCapacity"] if old else 0)
            if minimum > maximum:
                raise ValidationError(f"MinCapacity ({minimum}) must not be greater than MaxCapacity ({maximum}).")
            if minimum < 1 and "async" not in serving:
                raise ValidationError(
                    "MinCapacity must be at least 1 for a real-time endpoint: only asynchronous endpoints scale to "
                    "zero."
                )
            limit = self.ctx.settings.max_instances_per_variant
            if dimension == PROVISIONED:
                concurrency = variants[variant]["Serverless"]["MaxConcurrency"]
                if maximum > concurrency:
                    raise ValidationError(
                        f"MaxCapacity {maximum} is over variant {variant}'s MaxConcurrency of {concurrency}: its "
                        "provisioned concurrency cannot exceed it."
                    )
            elif maximum > limit:
                raise ValidationError(
                    f"MaxCapacity {maximum} is over this server's limit of {limit} instances per variant "
                    "(HOMEPORT_MAX_INSTANCES_PER_VARIANT)."
                )
            target = {
                "ServiceNamespace": NAMESPACE,
                "ResourceId": resource_id,
                "ScalableDimension": dimension,
                "MinCapacity": minimum,
                "MaxCapacity": maximum,
                "RoleARN": params.get("RoleARN", (old or {}).get("RoleARN", self._role())),
                "CreationTime": old["CreationTime"] if old else now,
                "SuspendedState": {
                    "DynamicScalingInSuspended": False,
                    "DynamicScalingOutSuspended": False,
                    "ScheduledScalingSuspended": False,
                    **(old or {}).get("SuspendedState", {}),
                    **params.get("SuspendedState", {}),
                },
                "ScalableTargetARN": (old or {}).get("ScalableTargetARN")
                or f"arn:aws:application-autoscaling:{self.ctx.settings.region}:{self.ctx.settings.account_id}:"
                f"scalable-target/{uuid.uuid4().hex}",
                "_history": (old or {}).get("_history"),
            }
            put(conn, Item.TARGET, resource_id, resource_id, target["CreationTime"], target)
        self.ctx.wake()  # the autoscaler brings the current capacity into the new range
        return {"ScalableTargetARN": target["ScalableTargetARN"]}

    def _role(self) -> str:
        s = self.ctx.settings
        return (
            f"arn:aws:iam::{s.account_id}:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
            "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
        )

    def describe_targets(self, params: dict[str, Any]) -> dict[str, Any]:
        _check_kind(params)
        with self.ctx.store.reading() as conn:
            targets = find(conn, Item.TARGET)
        if params.get("ResourceIds"):
            targets = [t for t in targets if t["ResourceId"] in params["ResourceIds"]]
        return _page(targets, "ScalableTargets", params, 50)

    def deregister(self, params: dict[str, Any]) -> dict[str, Any]:
        _check_kind(params)
        with self.ctx.store.transaction() as conn:
            self._target(conn, params)
            for policy in find(conn, Item.POLICY, params["ResourceId"]):
                alarms.delete_alarms(conn, [a["AlarmName"] for a in policy.get("Alarms", [])])
            remove_resource(conn, params["ResourceId"], (Item.TARGET, Item.POLICY, Item.SCHEDULED))
        return {}

    # --- scaling policies ------------------------------------------------------------------------

    def put_policy(self, params: dict[str, Any]) -> dict[str, Any]:
        _check_kind(params)
        kind = params.get("PolicyType", "StepScaling")
        resource_id, name = params["ResourceId"], params["PolicyName"]
        config_key = {
            "TargetTrackingScaling": "TargetTrackingScalingPolicyConfiguration",
            "StepScaling": "StepScalingPolicyConfiguration",
        }.get(kind)
        if config_key is None:
            raise ValidationError(
                f"homeport does not support {kind} policies: use TargetTrackingScaling or StepScaling."
            )
        if config_key not in params:
            raise ValidationError(f"A {kind} policy needs its {config_key}.")
        config = dict(params[config_key])
        if kind != "TargetTrackingScaling":
            _check_steps(config)
        now = self.ctx.clock.now()
        with self.ctx.store.transaction() as conn:
            dimension = self._target(conn, params)["ScalableDimension"]
            if kind == "TargetTrackingScaling":
                self._check_target_tracking(config, dimension)
            old = _existing(conn, Item.POLICY, resource_id, name, MAX_POLICIES, "scaling policies")
            arn = old["PolicyARN"] if old else self._arn("scalingPolicy", resource_id, f"policyName/{name}")
            if old:
                alarms.delete_alarms(conn, [a["AlarmName"] for a in old.get("Alarms", [])])
            doc: dict[str, Any] = {
                "PolicyARN": arn,
                "PolicyName": name,
                "ServiceNamespace": NAMESPACE,
                "ResourceId": resource_id,
                "ScalableDimension": dimension,
                "PolicyType": kind,
                config_key: config,
                "CreationTime": old["CreationTime"] if old else now,
            }
            if kind == "TargetTrackingScaling":
                doc["Alarms"] = self._tracking_alarms(conn, doc, config, now)
            put(conn, Item.POLICY, arn, resource_id, doc["CreationTime"], doc)
        reply: dict[str, Any] = {"PolicyARN": arn}
        if "Alarms" in doc:
            reply["Alarms"] = doc["Alarms"]
        self.ctx.wake()
        return reply

    def _check_target_tracking(self, config: dict[str, Any], dimension: str) -> None:
        predefined = config.get("PredefinedMetricSpecification")
        custom = config.get("CustomizedMetricSpecification")
        if (predefined is None) == (custom is None):
            raise ValidationError(
                "Give exactly one of PredefinedMetricSpecification and CustomizedMetricSpecification."
            )
        if predefined and predefined["PredefinedMetricType"] != PREDEFINED[dimension]:
            raise ValidationError(
                f"homeport does not support the predefined metric {predefined['PredefinedMetricType']} for "
                f"{dimension}: use {PREDEFINED[dimension]} or a CustomizedMetricSpecification."
            )
        if custom and "Metrics" in custom:
            queries = custom["Metrics"]
            if sum(1 for q in queries if q.get("ReturnData", True)) != 1:
                raise ValidationError(
                    "Exactly one query of CustomizedMetricSpecification.Metrics must have ReturnData true: the "
                    "final expression the policy tracks."
                )
            for query in queries:
                if ("MetricStat" in query) == ("Expression" in query):
                    raise ValidationError(
                        f"Metrics query {query['Id']} needs exactly one of MetricStat and Expression."
                    )
        elif custom:
            for required in ("MetricName", "Namespace", "Statistic"):
                if required not in custom:
                    raise ValidationError(f"CustomizedMetricSpecification.{required} is required.")
        if config["TargetValue"] <= 0:
            raise ValidationError("TargetValue must be greater than 0.")

    def _tracking_alarms(
        self, conn: Any, policy: dict[str, Any], config: dict[str, Any], now: float
    ) -> list[dict[str, str]]:
        """The policy's AlarmHigh and AlarmLow, made in `conn`'s transaction."""
        resource_id = policy["ResourceId"]
        metric, scale = self.tracked_metric(resource_id, config)
        target = config["TargetValue"] * scale
        made = []
        shapes = [("AlarmHigh", "GreaterThanThreshold", HIGH_PERIODS, target)]
        if not config.get("DisableScaleIn", False):
            shapes.append(("AlarmLow", "LessThanThreshold", LOW_PERIODS, LOW_FACTOR * target))
        for suffix, comparison, periods, threshold in shapes:
            name = f"TargetTracking-{resource_id}-{suffix}-{uuid.uuid4()}"
            self.alarms.create_managed(
                conn,
                {
                    "AlarmName": name,
                    "AlarmDescription": "DO NOT EDIT OR DELETE. For TargetTrackingScaling policy "
                    f"{policy['PolicyARN']}.",
                    **metric,
                    # A metric-math alarm's period is its queries'.
                    **({} if "Metrics" in metric else {"Period": self.ctx.settings.metric_period_seconds}),
                    "EvaluationPeriods": periods,
                    "DatapointsToAlarm": periods,
                    "Threshold": threshold,
                    "ComparisonOperator": comparison,
                    "AlarmActions": [policy["PolicyARN"]],
                },
                now,
            )
            made.append({"AlarmName": name, "AlarmARN": self.alarms.arn(name)})
        return made

    def tracked_metric(self, resource_id: str, config: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """The alarm fields of a target-tracking policy's metric, and the factor from TargetValue to the metric's
        unit per period: SageMakerVariantInvocationsPerInstance is per minute whatever the metric period is."""
        custom = config.get("CustomizedMetricSpecification")
        if custom and "Metrics" in custom:
            # The policy's alarms are metric-math alarms; their MetricStats take the server's metric period.
            period = self.ctx.settings.metric_period_seconds
            queries = [
                {**q, "MetricStat": {**q["MetricStat"], "Period": period}} if "MetricStat" in q else dict(q)
                for q in custom["Metrics"]
            ]
            return {"Metrics": [{**q, "ReturnData": q.get("ReturnData", True)} for q in queries]}, 1.0
        if custom:
            fields = {k: custom[k] for k in ("MetricName", "Namespace", "Statistic", "Unit") if k in custom}
            return {**fields, "Dimensions": custom.get("Dimensions", [])}, 1.0
        endpoint, variant = resource_parts(resource_id)
        dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
        if config["PredefinedMetricSpecification"]["PredefinedMetricType"] == PROVISIONED_UTILIZATION:
            return {
                "Namespace": "AWS/SageMaker",
                "MetricName": "ServerlessProvisionedConcurrencyUtilization",
                "Statistic": "Average",
                "Dimensions": dimensions,
            }, 1.0
        metric = {
            "Namespace": "AWS/SageMaker",
            "MetricName": "InvocationsPerInstance",
            "Statistic": "Sum",
            "Dimensions": dimensions,
        }
        return metric, self.ctx.settings.metric_period_seconds / 60.0

    def describe_policies(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._described(params, Item.POLICY, "PolicyNames", "ScalingPolicies")

    def _described(self, params: dict[str, Any], kind: Item, names: str, key: str) -> dict[str, Any]:
        """A page of the policies or scheduled actions, of one target when ResourceId is given, by name if asked."""
        _check_kind(params)
        with self.ctx.store.reading() as conn:
            found = find(conn, kind, params.get("ResourceId"))
        if params.get(names):
            found = [d for d in found if d[NAME_FIELD[kind]] in params[names]]
        return _page(found, key, params, 50)

    def delete_policy(self, params: dict[str, Any]) -> dict[str, Any]:
        _check_kind(params)
        with self.ctx.store.transaction() as conn:
            policy = _named(conn, Item.POLICY, params["ResourceId"], params["PolicyName"])
            if policy is None:
                raise ObjectNotFound(
                    f"No scaling policy found for service namespace: {NAMESPACE}, resource ID: "
                    f"{params['ResourceId']}, scalable dimension: {params.get('ScalableDimension', DIMENSION)}, "
                    f"policy name: {params['PolicyName']}"
                )
            alarms.delete_alarms(conn, [a["AlarmName"] for a in policy.get("Alarms", [])])
            remove(conn, Item.POLICY, policy["PolicyARN"])
        return {}

    # --- scheduled actions -----------------------------------------------------------------------

    def put_scheduled(self, params: dict[str, Any]) -> dict[str, Any]:
        _check_kind(params)
        resource_id, name = params["ResourceId"], params["ScheduledActionName"]
        try:
            schedule = schedules.parse(params["Schedule"])
            schedules.zone(params.get("Timezone", "UTC"))
        except schedules.ScheduleError as exc:
            raise ValidationError(str(exc)) from None
        action = params.get("ScalableTargetAction", {})
        if "MinCapacity" not in action and "MaxCapacity" not in action:
            raise ValidationError("ScalableTargetAction needs a MinCapacity, a MaxCapacity or both.")
        if action.get("MinCapacity", 0) > action.get("MaxCapacity", action.get("MinCapacity", 0)):
            raise ValidationError("ScalableTargetAction.MinCapacity must not be greater than its MaxCapacity.")
        now = self.ctx.clock.now()
        with self.ctx.store.transaction() as conn:
            dimension = self._target(conn, params)["ScalableDimension"]
            old = _existing(conn, Item.SCHEDULED, resource_id, name, MAX_SCHEDULED, "scheduled actions")
            arn = (
                old["ScheduledActionARN"]
                if old
                else self._arn("scheduledAction", resource_id, f"scheduledActionName/{name}")
            )
            doc: dict[str, Any] = {
                "ScheduledActionName": name,
                "ScheduledActionARN": arn,
                "ServiceNamespace": NAMESPACE,
                "Schedule": params["Schedule"],
                "Timezone": params.get("Timezone", "UTC"),
                "ResourceId": resource_id,
                "ScalableDimension": dimension,
                "ScalableTargetAction": action,
                "CreationTime": old["CreationTime"] if old else now,
                **{k: params[k] for k in ("StartTime", "EndTime") if k in params},
            }
            doc["_next"] = next_run(doc, schedule, now)
            put(conn, Item.SCHEDULED, arn, resource_id, doc["CreationTime"], doc)
        self.ctx.wake()
        return {}

    def describe_scheduled(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._described(params, Item.SCHEDULED, "ScheduledActionNames", "ScheduledActions")

    def delete_scheduled(self, params: dict[str, Any]) -> dict[str, Any]:
        _check_kind(params)
        with self.ctx.store.transaction() as conn:
            action = _named(conn, Item.SCHEDULED, params["ResourceId"], params["ScheduledActionName"])
            if action is None:
                raise ObjectNotFound(f"No scheduled action found with name {params['ScheduledActionName']}.")
            remove(conn, Item.SCHEDULED, action["ScheduledActionARN"])
        return {}

    # --- scaling activities ----------------------------------------------------------------------

    def describe_activities(self, params: dict[str, Any]) -> dict[str, Any]:
        _check_kind(params)
        with self.ctx.store.reading() as conn:
            found = find(conn, Item.ACTIVITY, params.get("ResourceId"), newest_first=True)
        # IncludeNotScaledActivities changes nothing: homeport records only activities that scaled.
        return _page(found, "ScalingActivities", params, 50)


NAME_FIELD = {Item.POLICY: "PolicyName", Item.SCHEDULED: "ScheduledActionName"}


def _named(conn: Any, kind: Item, resource_id: str, name: str) -> dict[str, Any] | None:
    """The target's policy or scheduled action of that name."""
    return next((d for d in find(conn, kind, resource_id) if d[NAME_FIELD[kind]] == name), None)


def _existing(conn: Any, kind: Item, resource_id: str, name: str, limit: int, what: str) -> dict[str, Any] | None:
    """The item a Put replaces, or None for a new one, which must fit in the target's `limit`."""
    items = find(conn, kind, resource_id)
    old = next((d for d in items if d[NAME_FIELD[kind]] == name), None)
    if old is None and len(items) >= limit:
        raise ScalingLimitExceeded(f"A scalable target has at most {limit} {what}.")
    return old


def next_run(doc: dict[str, Any], schedule: schedules.Schedule, after: float) -> float | None:
    """When a scheduled action runs next after `after` (epoch seconds); rate schedules count from StartTime or
    from when the action was made."""

    def moment(epoch: float) -> datetime:
        return datetime.fromtimestamp(epoch, UTC)

    start = doc.get("StartTime")
    end = doc.get("EndTime")
    when = schedules.next_run(
        schedule,
        moment(after),
        doc.get("Timezone", "UTC"),
        start=moment(start if start is not None else doc["CreationTime"]),
        end=moment(end) if end is not None else None,
    )
    return when.timestamp() if when else None


def _check_steps(config: dict[str, Any]) -> None:
    if config.get("AdjustmentType") not in ("ChangeInCapacity", "PercentChangeInCapacity", "ExactCapacity"):
        raise ValidationError(
            "StepScalingPolicyConfiguration.AdjustmentType must be ChangeInCapacity, PercentChangeInCapacity or "
            "ExactCapacity."
        )
    steps = config.get("StepAdjustments") or []
    if not steps:
        raise ValidationError("StepScalingPolicyConfiguration needs at least one StepAdjustment.")
    spans = sorted(
        (s.get("MetricIntervalLowerBound", float("-inf")), s.get("MetricIntervalUpperBound", float("inf")))
        for s in steps
    )
    if any(low >= high for low, high in spans) or any(a[1] != b[0] for a, b in itertools.pairwise(spans)):
        raise ValidationError(
            "StepAdjustments must not overlap or leave gaps: each step's MetricIntervalUpperBound must be the "
            "next step's MetricIntervalLowerBound."
        )
    if config.get("MinAdjustmentMagnitude") is not None and config["AdjustmentType"] != "PercentChangeInCapacity":
        raise ValidationError("MinAdjustmentMagnitude applies only to PercentChangeInCapacity.")
