"""A stack's plan as a pure function of the file and what the server has: stepped case by case, no server."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from homeport.stack.document import STACK_TAG, StackError, parse, substitute
from homeport.stack.observed import Observed
from homeport.stack.plan import _differs, plan

ROLE = "arn:aws:iam::000000000000:role/homeport"
RESOURCE = "endpoint/web/variant/AllTraffic"


def file(**more: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "Models": [{"ModelName": "web", "ExecutionRoleArn": ROLE, "PrimaryContainer": {"Image": "xgboost"}}],
        "EndpointConfigs": [
            {
                "EndpointConfigName": "web",
                "ProductionVariants": [
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": "web",
                        "InstanceType": "ml.m5.large",
                        "InitialInstanceCount": 1,
                    }
                ],
            }
        ],
        "Endpoints": [{"EndpointName": "web", "EndpointConfigName": "web"}],
    }
    doc.update(more)
    return doc


def owned(doc: dict[str, Any], stack: str = "s") -> dict[str, Any]:
    return {**doc, "Tags": {STACK_TAG: stack}}


def applied(doc: dict[str, Any], stack: str = "s") -> Observed:
    """What a server has once `doc` was applied, its endpoint in service."""
    s = parse(copy.deepcopy(doc), stack)
    seen = Observed()
    for name in s.section("Models"):
        seen.models[name] = owned({"ModelName": name}, stack)
    for name, params in s.section("EndpointConfigs").items():
        seen.configs[name] = owned(params, stack)
    for name, params in s.section("Endpoints").items():
        seen.endpoints[name] = owned(
            {
                "EndpointName": name,
                "EndpointArn": f"arn:{name}",
                "EndpointStatus": "InService",
                "EndpointConfigName": params["EndpointConfigName"],
            },
            stack,
        )
    for key, params in s.section("ScalableTargets").items():
        seen.targets[key] = {**params, "CreationTime": 0}
    for key, params in s.section("ScalingPolicies").items():
        seen.policies[key] = {**params, "PolicyARN": "arn:policy"}
    for name, params in s.section("Alarms").items():
        seen.alarms[name] = owned({k: v for k, v in params.items() if k != "Tags"}, stack)
    for name, params in s.section("MonitoringSchedules").items():
        seen.schedules[name] = owned({**params, "MonitoringScheduleStatus": "Scheduled"}, stack)
    return seen


def summary(doc: dict[str, Any], seen: Observed, stack: str = "s") -> list[tuple[str, str, str]]:
    return [(c.action, c.kind, c.operation) for c in plan(parse(copy.deepcopy(doc), stack), seen).changes]


SCALING = {
    "ScalableTargets": [{"ResourceId": RESOURCE, "MinCapacity": 1, "MaxCapacity": 3}],
    "ScalingPolicies": [
        {
            "PolicyName": "p",
            "ResourceId": RESOURCE,
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 5.0},
        }
    ],
    "Alarms": [
        {
            "AlarmName": "errors",
            "MetricName": "Invocation5XXErrors",
            "Namespace": "AWS/SageMaker",
            "Threshold": 1.0,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
        }
    ],
    "MonitoringSchedules": [
        {
            "MonitoringScheduleName": "drift",
            "MonitoringScheduleConfig": {"MonitoringJobDefinitionName": "d", "MonitoringType": "DataQuality"},
        }
    ],
}


def test_an_empty_server_gets_everything_in_dependency_order_tagged_with_the_stack() -> None:
    doc = file(**SCALING)
    changes = plan(parse(copy.deepcopy(doc), "s"), Observed()).changes
    assert [c.operation for c in changes] == [
        "CreateModel",
        "CreateEndpointConfig",
        "PutMetricAlarm",  # before the endpoint: its deployment's rollback alarms must exist
        "CreateEndpoint",
        "RegisterScalableTarget",
        "PutScalingPolicy",
        "CreateMonitoringSchedule",
    ]
    model, config, endpoint = changes[0].params, changes[1].params, changes[3].params
    assert config["ProductionVariants"][0]["ModelName"] == model["ModelName"]  # references follow the digest
    assert endpoint["EndpointConfigName"] == config["EndpointConfigName"]
    for params in (model, config, endpoint, changes[2].params, changes[6].params):
        assert {"Key": STACK_TAG, "Value": "s"} in params["Tags"]
    assert changes[4].params["ServiceNamespace"] == "sagemaker"


def test_what_the_server_already_has_plans_nothing() -> None:
    doc = file(**SCALING)
    assert summary(doc, applied(doc)) == []
    # Fields the server adds (times, ARNs, defaults) are not differences.
    seen = applied(doc)
    seen.alarms["errors"]["StateValue"] = "OK"
    seen.targets[RESOURCE]["SuspendedState"] = {"DynamicScalingInSuspended": False}
    assert summary(doc, seen) == []


def test_a_changed_model_is_new_model_new_config_and_an_update_keeping_the_old_ones_while_they_serve() -> None:
    before = file()
    after = file(
        Endpoints=[
            {
                "EndpointName": "web",
                "EndpointConfigName": "web",
                "DeploymentConfig": {
                    "BlueGreenUpdatePolicy": {
                        "TrafficRoutingConfiguration": {"Type": "LINEAR", "WaitIntervalInSeconds": 5}
                    }
                },
            }
        ]
    )
    after["Models"][0]["PrimaryContainer"]["Image"] = "sklearn"
    seen = applied(before)
    steps = plan(parse(copy.deepcopy(after), "s"), seen)
    assert [(c.action, c.operation) for c in steps.changes] == [
        ("create", "CreateModel"),
        ("create", "CreateEndpointConfig"),
        ("update", "UpdateEndpoint"),
    ]
    update = steps.changes[2]
    assert update.params["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "LINEAR"
    assert "Tags" not in update.params and "blue/green linear" in update.detail

    # While the server moves to the new config, a plan waits for it; once it has, the old ones go.
    target = steps.changes[1].params["EndpointConfigName"]
    moving = applied(before)
    for c in steps.changes[:2]:
        kind = moving.models if c.kind == "model" else moving.configs
        kind[c.name] = owned(c.params)
    moving.endpoints["web"] = {
        **moving.endpoints["web"],
        "EndpointStatus": "Updating",
        "PendingDeploymentSummary": {"EndpointConfigName": target},
    }
    waiting = plan(parse(copy.deepcopy(after), "s"), moving)
    assert waiting.changes == [] and "web" in waiting.under_way
    moved = copy.deepcopy(moving)
    moved.endpoints["web"] = {**moved.endpoints["web"], "EndpointStatus": "InService", "EndpointConfigName": target}
    del moved.endpoints["web"]["PendingDeploymentSummary"]
    assert summary(after, moved) == [
        ("delete", "endpoint config", "DeleteEndpointConfig"),
        ("delete", "model", "DeleteModel"),
    ]


def test_a_model_an_endpoint_outside_the_stack_still_serves_from_is_kept() -> None:
    doc = file()
    seen = applied(doc)
    old_config = next(iter(seen.configs))
    # The stack moves on to another config and the endpoint is gone; another stack's endpoint serves the old one.
    seen.endpoints = {
        "other": {
            "EndpointName": "other",
            "EndpointArn": "arn:other",
            "EndpointStatus": "InService",
            "EndpointConfigName": old_config,
            "Tags": {},
        }
    }
    assert summary({}, seen) == []
    seen.endpoints = {}
    assert summary({}, seen) == [
        ("delete", "endpoint config", "DeleteEndpointConfig"),
        ("delete", "model", "DeleteModel"),
    ]


def test_deletes_come_in_reverse_order_and_touch_only_the_stack() -> None:
    doc = file(**SCALING)
    seen = applied(doc)
    # Another stack's alarm and another endpoint's scaling are not this stack's to delete.
    seen.alarms["theirs"] = owned({"AlarmName": "theirs"}, "t")
    seen.targets["endpoint/theirs/variant/v"] = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/theirs/variant/v",
        "ScalableDimension": "x",
    }
    assert summary({}, seen) == [
        ("delete", "monitoring schedule", "DeleteMonitoringSchedule"),
        ("delete", "scaling policy", "DeleteScalingPolicy"),
        ("delete", "scalable target", "DeregisterScalableTarget"),
        ("delete", "endpoint", "DeleteEndpoint"),
        ("delete", "alarm", "DeleteAlarms"),
    ]  # the config and model go once the endpoint has
    assert summary({}, seen, stack="t") == [("delete", "alarm", "DeleteAlarms")]


def test_changed_scaling_alarm_and_schedule_are_updates() -> None:
    doc = file(**SCALING)
    seen = applied(doc)
    changed = copy.deepcopy(doc)
    changed["ScalableTargets"][0]["MaxCapacity"] = 4
    changed["ScalingPolicies"][0]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] = 9.0
    changed["Alarms"][0]["Threshold"] = 2.0
    changed["Alarms"][0]["Tags"] = [{"Key": "team", "Value": "ml"}]  # tags apply at creation only, as in CloudWatch
    changed["MonitoringSchedules"][0]["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"] = "e"
    steps = plan(parse(changed, "s"), seen).changes
    assert [(c.action, c.operation) for c in steps] == [
        ("update", "PutMetricAlarm"),
        ("update", "RegisterScalableTarget"),
        ("update", "PutScalingPolicy"),
        ("update", "UpdateMonitoringSchedule"),
    ]
    assert "Tags" not in steps[0].params
    assert steps[3].params == {
        "MonitoringScheduleName": "drift",
        "MonitoringScheduleConfig": changed["MonitoringSchedules"][0]["MonitoringScheduleConfig"],
    }


def test_an_endpoint_made_elsewhere_is_adopted_by_tag() -> None:
    doc = file()
    seen = applied(doc)
    seen.endpoints["web"]["Tags"] = {}
    assert summary(doc, seen) == [("update", "endpoint", "AddTags")]


def test_names_follow_content_not_key_order_or_tags() -> None:
    a = parse(file(), "s")
    reordered = file()
    reordered["Models"][0] = dict(reversed(list(reordered["Models"][0].items())))
    reordered["Models"][0]["Tags"] = [{"Key": "k", "Value": "v"}]
    assert list(parse(reordered, "s").section("Models")) == list(a.section("Models"))
    changed = file()
    changed["Models"][0]["PrimaryContainer"]["Image"] = "other"
    b = parse(changed, "s")
    assert list(b.section("Models")) != list(a.section("Models"))
    assert list(b.section("EndpointConfigs")) != list(a.section("EndpointConfigs"))  # its model's name changed
    # A model the file does not declare is named as written: it is the server's.
    external = file(Models=[])
    assert parse(external, "s").section("EndpointConfigs").popitem()[1]["ProductionVariants"][0]["ModelName"] == "web"


def test_variables() -> None:
    assert substitute({"a": ["${X}-${Y}", "$${X}"]}, {"X": "1", "Y": "2"}) == {"a": ["1-2", "${X}"]}
    with pytest.raises(StackError, match=r"a\[0\]: \$\{Z\} has no value"):
        substitute({"a": ["${Z}"]}, {})


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"Endpoints": [{"EndpointName": "e", "EndpointConfigName": "c", "RetainAllVariantProperties": "yes"}]},
            "Endpoints[0]: Invalid type for parameter RetainAllVariantProperties",
        ),
        ({"ScalingPolicies": [{"PolicyName": "p"}]}, 'Missing required parameter in input: "ResourceId"'),
        ({"Alarms": ["errors"]}, "Alarms[0] must be a mapping"),
    ],
)
def test_refusals(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(StackError) as raised:
        parse(doc, "s")
    assert message in str(raised.value)


def test_differs_counts_only_what_the_file_declares() -> None:
    assert not _differs({"a": 1, "b": [{"c": 2}]}, {"a": 1.0, "b": [{"c": 2, "d": 3}], "e": 4})
    assert _differs({"a": [1, 2]}, {"a": [1]})
    assert _differs({"a": {"b": 1}}, {"a": 5})
    assert _differs({"a": 1}, {})


def test_a_file_is_read_with_its_variables_and_named_by_its_stack(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from homeport.stack.document import load

    monkeypatch.setenv("FROM_ENV", "env")
    path = tmp_path / "prod.json"
    path.write_text('{"Stack": "web-${STAGE}", "Alarms": [{"AlarmName": "${FROM_ENV}-${STAGE}"}]}')
    stack = load(path, {"STAGE": "prod"})
    assert stack.name == "web-prod" and list(stack.section("Alarms")) == ["env-prod"]
    path.write_text("Alarms: []\n")
    assert load(path).name == "prod" and load(path, stack="other").name == "other"
    path.write_text("- a list\n")
    with pytest.raises(StackError, match="must hold a mapping"):
        load(path)


def test_a_resource_deleted_between_a_listing_and_its_read_is_skipped_not_an_error() -> None:
    from botocore.exceptions import ClientError

    from homeport.stack.observed import _unless_gone

    def gone(code: str, message: str) -> Any:
        def read(**_: Any) -> Any:
            raise ClientError({"Error": {"Code": code, "Message": message}}, "Describe")

        return read

    assert _unless_gone(gone("ValidationException", 'Could not find endpoint "e".')) is None
    assert _unless_gone(gone("ResourceNotFound", "Monitoring schedule s does not exist.")) is None
    assert _unless_gone(lambda **p: p, Name="x") == {"Name": "x"}
    with pytest.raises(ClientError):
        _unless_gone(gone("ThrottlingException", "slow down"))


class Server:
    """Just enough of a server for apply: no resources until CreateEndpoint, then DescribeEndpoint says `then`."""

    def __init__(self, then: dict[str, Any]) -> None:
        self.then, self.calls = then, []

    def __call__(self, service: str) -> Any:
        return self

    def get_paginator(self, operation: str) -> Any:
        key = {"list_endpoints": "Endpoints"}.get(operation)
        pages = [{"Endpoints": [{"EndpointName": "web"}]}] if key and "CreateEndpoint" in self.calls else [{}]
        return type("P", (), {"paginate": lambda _, **p: [{k: [] for k in KEYS} | page for page in pages]})()

    def __getattr__(self, name: str) -> Any:
        from botocore import xform_name

        def call(**params: Any) -> Any:
            if name == "describe_endpoint":
                return {"EndpointArn": "arn:web", **self.then}
            if name == "list_tags":
                return {"Tags": [{"Key": STACK_TAG, "Value": "s"}]}
            self.calls.append(next(op for op in OPERATIONS if xform_name(op) == name))
            return {}

        return call


KEYS = ("Endpoints", "EndpointConfigs", "Models", "ScalableTargets", "ScalingPolicies", "MetricAlarms",
        "MonitoringScheduleSummaries", "Tags")  # fmt: skip
OPERATIONS = ("CreateModel", "CreateEndpointConfig", "CreateEndpoint")


def test_apply_refuses_an_endpoint_that_failed_or_was_rolled_back_and_no_wait_returns_after_the_calls() -> None:
    from homeport.stack.apply import apply

    stack = parse(file(), "s")
    config = next(iter(stack.section("EndpointConfigs")))
    failed = Server({"EndpointStatus": "Failed", "EndpointConfigName": config, "FailureReason": "no /ping"})
    with pytest.raises(StackError, match="Endpoint web failed creating it: no /ping"):
        apply(failed, stack, poll=0)
    assert failed.calls == list(OPERATIONS)
    other = Server({"EndpointStatus": "InService", "EndpointConfigName": "web-old", "FailureReason": "alarm"})
    with pytest.raises(StackError, match="Endpoint web rolled back to web-old creating it: alarm"):
        apply(other, stack, poll=0)
    moving = Server({"EndpointStatus": "Creating", "EndpointConfigName": config})
    assert [c.operation for c in apply(moving, stack, wait=False).changes] == list(OPERATIONS)
    with pytest.raises(StackError, match="still not settled after 0s"):
        apply(Server({"EndpointStatus": "Creating", "EndpointConfigName": config}), stack, timeout=0, poll=0)
