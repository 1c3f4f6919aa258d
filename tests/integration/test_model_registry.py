"""The model registry with boto3 against a real `homeport serve`: groups, numbered versions with their metrics and
approval, updates, deletes, every refusal, an endpoint deployed from a registered version, the approval gate, and
the state-change events at a webhook."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import KEYS, ROLE, XGBOOST_IMAGE, assert_scores, boto_client, csv_rows, unique
from tests.integration.test_cli import homeport
from tests.integration.test_data_capture import deploy, refused
from tests.integration.test_lifecycle import until
from tests.integration.test_transform_jobs import run_job


def spec(xgb_model: dict[str, Any], **environment: str) -> dict[str, Any]:
    container: dict[str, Any] = {"Image": XGBOOST_IMAGE, "ModelDataUrl": xgb_model["url"]}
    if environment:
        container["Environment"] = environment
    return {
        "Containers": [container],
        "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"],
        "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
        "SupportedTransformInstanceTypes": ["ml.m5.large"],
    }


METRICS = {
    "ModelQuality": {
        "Statistics": {"ContentType": "application/json", "S3Uri": "s3://reports/quality/statistics.json"},
        "Constraints": {"ContentType": "application/json", "S3Uri": "s3://reports/quality/constraints.json"},
    }
}


@pytest.fixture
def group(fsm: Any) -> str:
    name = unique("abalone")
    fsm.create_model_package_group(
        ModelPackageGroupName=name, ModelPackageGroupDescription="Abalone age", Tags=[{"Key": "team", "Value": "ml"}]
    )
    return name


def test_a_group_holds_numbered_versions_with_their_metrics_and_approval(
    fsm: Any, group: str, xgb_model: dict[str, Any]
) -> None:
    described = fsm.describe_model_package_group(ModelPackageGroupName=group)
    assert described["ModelPackageGroupStatus"] == "Completed"
    assert described["ModelPackageGroupDescription"] == "Abalone age"
    assert described["ModelPackageGroupArn"].endswith(f":model-package-group/{group}")
    listed = fsm.list_model_package_groups(NameContains=group)["ModelPackageGroupSummaryList"]
    assert [g["ModelPackageGroupName"] for g in listed] == [group]

    first = fsm.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription="first",
        InferenceSpecification=spec(xgb_model),
        ModelMetrics=METRICS,
        CustomerMetadataProperties={"rmse": "2.1", "data": "v1"},
        ClientToken="token-1",
    )["ModelPackageArn"]
    assert first.endswith(f":model-package/{group}/1")
    again = fsm.create_model_package(
        ModelPackageGroupName=group, InferenceSpecification=spec(xgb_model), ClientToken="token-1"
    )
    assert again["ModelPackageArn"] == first  # the same request again: the same version
    second = fsm.create_model_package(
        ModelPackageGroupName=group, InferenceSpecification=spec(xgb_model), ModelApprovalStatus="Approved"
    )["ModelPackageArn"]
    assert second.endswith(f"/{group}/2")

    package = fsm.describe_model_package(ModelPackageName=first)
    assert (package["ModelPackageGroupName"], package["ModelPackageVersion"]) == (group, 1)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"  # what the SDK registers by default too
    assert package["ModelPackageStatus"] == "Completed" and package["ModelMetrics"] == METRICS
    assert package["InferenceSpecification"]["Containers"][0]["Image"] == XGBOOST_IMAGE
    assert fsm.list_tags(ResourceArn=first)["Tags"] == [{"Key": "team", "Value": "ml"}]  # the group's

    def versions(**filters: Any) -> list[int]:
        found = fsm.list_model_packages(ModelPackageGroupName=group, **filters)["ModelPackageSummaryList"]
        return [p["ModelPackageVersion"] for p in found]

    assert versions() == [1, 2]
    assert versions(ModelApprovalStatus="Approved") == [2]
    assert versions(SortBy="CreationTime", SortOrder="Descending") == [2, 1]

    fsm.update_model_package(
        ModelPackageArn=first,
        ModelApprovalStatus="Approved",
        ApprovalDescription="passed the staging checks",
        CustomerMetadataProperties={"rmse": "2.0"},
        CustomerMetadataPropertiesToRemove=["data"],
    )
    package = fsm.describe_model_package(ModelPackageName=first)
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["ApprovalDescription"] == "passed the staging checks"
    assert package["CustomerMetadataProperties"] == {"rmse": "2.0"}
    extra = {"Name": "gpu", "Containers": [{"Image": XGBOOST_IMAGE, "ModelDataUrl": xgb_model["url"]}]}
    fsm.update_model_package(ModelPackageArn=first, AdditionalInferenceSpecificationsToAdd=[extra])
    added = fsm.describe_model_package(ModelPackageName=first)["AdditionalInferenceSpecifications"]
    assert [a["Name"] for a in added] == ["gpu"]
    assert package["LastModifiedTime"] >= package["CreationTime"]

    assert refused(fsm.delete_model_package_group, ModelPackageGroupName=group)[0] == "ValidationException"
    fsm.delete_model_package(ModelPackageName=second)
    third = fsm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec(xgb_model))
    assert third["ModelPackageArn"].endswith(f"/{group}/3")  # numbers are never reused
    for arn in (first, third["ModelPackageArn"]):
        fsm.delete_model_package(ModelPackageName=arn)
    fsm.delete_model_package_group(ModelPackageGroupName=group)
    code, message = refused(fsm.describe_model_package_group, ModelPackageGroupName=group)
    assert code == "ValidationException" and "does not exist" in message


def test_unversioned_packages_are_listed_apart(fsm: Any, group: str, xgb_model: dict[str, Any]) -> None:
    name = unique("standalone")
    arn = fsm.create_model_package(ModelPackageName=name, InferenceSpecification=spec(xgb_model))["ModelPackageArn"]
    fsm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec(xgb_model))
    assert fsm.describe_model_package(ModelPackageName=name)["ModelPackageArn"] == arn
    names = [p["ModelPackageName"] for p in fsm.list_model_packages()["ModelPackageSummaryList"]]
    assert name in names and group not in names  # Unversioned by default
    both = fsm.list_model_packages(ModelPackageType="Both", MaxResults=100)["ModelPackageSummaryList"]
    assert {name, group} <= {p["ModelPackageName"] for p in both}
    fsm.delete_model_package(ModelPackageName=name)


def test_an_endpoint_deployed_from_a_registered_version(
    fsm: Any, frt: Any, group: str, xgb_model: dict[str, Any]
) -> None:
    arn = fsm.create_model_package(
        ModelPackageGroupName=group, InferenceSpecification=spec(xgb_model, FROM="package", SHARED="package")
    )["ModelPackageArn"]
    model = unique("registered")
    fsm.create_model(
        ModelName=model,
        PrimaryContainer={"ModelPackageName": arn, "Environment": {"SHARED": "model"}},
        ExecutionRoleArn=ROLE,
    )
    container = fsm.describe_model(ModelName=model)["PrimaryContainer"]
    assert container["ModelPackageName"] == arn and container["Image"] == XGBOOST_IMAGE
    assert container["Environment"] == {"FROM": "package", "SHARED": "model"}  # the model's own wins
    endpoint = deploy(fsm, model, None)
    x = xgb_model["x"][:5]
    reply = frt.invoke_endpoint(EndpointName=endpoint, Body=csv_rows(x), ContentType="text/csv")
    assert_scores(reply["Body"].read(), xgb_model, x)


def test_what_the_registry_refuses(fsm: Any, group: str, xgb_model: dict[str, Any]) -> None:
    code, message = refused(fsm.create_model_package_group, ModelPackageGroupName=group)
    assert code == "ValidationException" and "already existing" in message
    for params, fragment in (
        ({"ModelPackageGroupName": group, "ModelPackageName": "x"}, "not both"),
        ({}, "not both"),
        ({"ModelPackageGroupName": group}, "InferenceSpecification is required"),
        ({"ModelPackageGroupName": group, "Tags": [{"Key": "k", "Value": "v"}]}, "group's tags"),
        ({"ModelPackageGroupName": unique("nogroup")}, "does not exist"),
    ):
        if "InferenceSpecification is required" not in fragment and "Tags" not in params:
            params = {"InferenceSpecification": spec(xgb_model), **params}
        code, message = refused(fsm.create_model_package, **params)
        assert code == "ValidationException" and fragment in message, message
    code, message = refused(
        fsm.create_model_package,
        ModelPackageGroupName=group,
        InferenceSpecification={
            "Containers": [{"Image": ""}],
            "SupportedContentTypes": [],
            "SupportedResponseMIMETypes": [],
        },
    )
    assert code == "ValidationException"
    missing = f"arn:aws:sagemaker:us-east-1:000000000000:model-package/{group}/9"
    for call, params in (
        (fsm.describe_model_package, {"ModelPackageName": missing}),
        (fsm.update_model_package, {"ModelPackageArn": missing, "ModelApprovalStatus": "Approved"}),
        (fsm.delete_model_package, {"ModelPackageName": missing}),
        (fsm.create_model, {"ModelName": unique("m"), "PrimaryContainer": {"ModelPackageName": missing},
                            "ExecutionRoleArn": ROLE}),
    ):  # fmt: skip
        code, message = refused(call, **params)
        assert code == "ValidationException" and "does not exist" in message, message


@pytest.fixture(scope="module")
def receiver() -> Iterator[Any]:
    """A webhook for the gated server's events."""
    from tests.integration.test_async_notifications import Webhook

    hook = Webhook()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory, receiver: Any) -> Iterator[Any]:
    """A server that deploys only Approved versions, and sends its events to `receiver`."""
    from homeport.server.process import ServerProcess

    env = {
        "HOMEPORT_REQUIRE_APPROVED_MODELS": "true",
        "HOMEPORT_EVENT_WEBHOOKS": f"{receiver.url}/events",
        "HOMEPORT_LOG_LEVEL": "warning",
        **KEYS,
    }
    with ServerProcess(tmp_path_factory.mktemp("gated"), env=env) as proc:
        yield proc


def test_versions_created_and_approved_are_events_at_the_webhook(
    gated: Any, receiver: Any, xgb_model: dict[str, Any]
) -> None:
    """SageMaker's "Model Package State Change" events, on create and on approval, delivered at least once to a
    receiver that refuses the first attempt."""
    sm = boto_client("sagemaker", gated.url)
    group = unique("evented")
    sm.create_model_package_group(ModelPackageGroupName=group)
    receiver.failures = 1
    arn = sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec(xgb_model))[
        "ModelPackageArn"
    ]
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    sm.update_model_package(ModelPackageArn=arn, ApprovalDescription="no change of approval: no event")

    def events() -> list[dict[str, Any]]:
        with receiver.lock:
            return [r for r in receiver.received if r["path"] == "/events" and r["message"]["resources"] == [arn]]

    until(lambda: len([e for e in events() if e["answer"] == 204]) == 2, timeout=30)
    # In no promised order (the refused one came later), as from EventBridge: its detail's times order them.
    delivered = sorted(
        (e["message"] for e in events() if e["answer"] == 204), key=lambda m: m["detail"]["LastModifiedTime"]
    )
    assert [e["detail"]["ModelApprovalStatus"] for e in delivered] == ["PendingManualApproval", "Approved"]
    first = delivered[0]
    assert first["detail-type"] == "SageMaker Model Package State Change" and first["source"] == "aws.sagemaker"
    assert first["detail"]["ModelPackageVersion"] == 1 and first["detail"]["ModelPackageGroupName"] == group
    assert isinstance(first["detail"]["CreationTime"], int) and first["time"].endswith("Z")
    # Either event may reach the receiver first and be the one refused; its retry repeats the same event id.
    refused_once = [e["message"]["id"] for e in events() if e["answer"] == 503]
    assert len(refused_once) == 1 and refused_once[0] in {m["id"] for m in delivered}


def test_the_approval_gate_deploys_only_approved_versions(gated: Any, receiver: Any, xgb_model: dict[str, Any]) -> None:
    sm = boto_client("sagemaker", gated.url)
    group = unique("gated")
    sm.create_model_package_group(ModelPackageGroupName=group)
    arn = sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec(xgb_model))[
        "ModelPackageArn"
    ]
    model = {"PrimaryContainer": {"ModelPackageName": arn}, "ExecutionRoleArn": ROLE}
    code, message = refused(sm.create_model, ModelName=unique("m"), **model)
    assert code == "ValidationException" and "PendingManualApproval" in message and "only Approved" in message
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    name = unique("approved")
    sm.create_model(ModelName=name, **model)
    endpoint = deploy(sm, name, None)

    # Rejected later: what serves it keeps serving it, and nothing new deploys it.
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected")
    variant = {"VariantName": "v2", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    config = unique("again")
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[variant])
    for call, params in (
        (sm.create_endpoint, {"EndpointName": unique("e"), "EndpointConfigName": config}),
        (sm.update_endpoint, {"EndpointName": endpoint, "EndpointConfigName": config}),
    ):
        code, message = refused(call, **params)
        assert code == "ValidationException" and "Rejected" in message, message
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
    # The endpoint's statuses were events: Creating, then InService, spelled as EventBridge spells them.
    endpoint_arn = sm.describe_endpoint(EndpointName=endpoint)["EndpointArn"]

    def statuses() -> list[str]:
        with receiver.lock:
            return [
                r["message"]["detail"]["EndpointStatus"]
                for r in receiver.received
                if r["answer"] == 204 and r["message"]["resources"] == [endpoint_arn]
            ]

    until(lambda: sorted(statuses()) == ["CREATING", "IN_SERVICE"], timeout=30)
    runtime = boto_client("sagemaker-runtime", gated.url)
    x = xgb_model["x"][:2]
    assert_scores(
        runtime.invoke_endpoint(EndpointName=endpoint, Body=csv_rows(x), ContentType="text/csv")["Body"].read(),
        xgb_model,
        x,
    )


def test_homeport_registry_lists_groups_and_a_groups_versions(
    fast: Any, fsm: Any, group: str, xgb_model: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for approval in ("Approved", "PendingManualApproval"):
        fsm.create_model_package(
            ModelPackageGroupName=group,
            InferenceSpecification=spec(xgb_model),
            ModelApprovalStatus=approval,
            ModelMetrics=METRICS,
            ModelPackageDescription=f"v {approval}",
        )
    groups = json.loads(homeport("registry", "--json", url=fast.url).stdout)
    mine = next(g for g in groups if g["ModelPackageGroupName"] == group)
    assert (mine["Newest"]["ModelPackageVersion"], mine["Newest"]["ModelApprovalStatus"]) == (
        2,
        "PendingManualApproval",
    )
    versions = json.loads(homeport("registry", group, "--json", url=fast.url).stdout)
    assert [(v["ModelPackageVersion"], v["ModelApprovalStatus"]) for v in versions] == [
        (1, "Approved"),
        (2, "PendingManualApproval"),
    ]
    monkeypatch.setenv("COLUMNS", "200")
    shown = homeport("registry", group, url=fast.url)
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if "v Approved" in line)
    assert "Approved" in row and "ModelQuality.Statistics s3://reports/quality/statistics.json" in shown.stdout
    missing = homeport("registry", unique("nogroup"), url=fast.url)
    assert missing.returncode != 0 and "does not exist" in missing.stderr


def test_a_transform_jobs_state_changes_are_events_too(gated: Any, receiver: Any, xgb_model: dict[str, Any]) -> None:
    sm, s3 = boto_client("sagemaker", gated.url), boto_client("s3", gated.url)
    bucket = unique("events")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="in/rows.csv", Body=csv_rows(xgb_model["x"][:3]))
    model = unique("plain")  # not from a package: the gate does not apply
    sm.create_model(
        ModelName=model,
        PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": xgb_model["url"]},
        ExecutionRoleArn=ROLE,
    )
    job = run_job(sm, model, f"s3://{bucket}/in/", f"s3://{bucket}/out/")
    assert job["TransformJobStatus"] == "Completed"

    def statuses() -> list[str]:
        with receiver.lock:
            return [
                r["message"]["detail"]["TransformJobStatus"]
                for r in receiver.received
                if r["answer"] == 204 and r["message"]["resources"] == [job["TransformJobArn"]]
            ]

    until(lambda: sorted(statuses()) == ["Completed", "InProgress"], timeout=30)
    with receiver.lock:
        event = next(r["message"] for r in receiver.received if r["message"]["resources"] == [job["TransformJobArn"]])
    assert event["detail-type"] == "SageMaker Transform Job State Change"
    assert event["detail"]["TransformJobName"] == job["TransformJobName"] and event["detail"]["CreationTime"].endswith(
        "Z"
    )


def test_every_event_is_kept_in_a_log_group_that_homeport_events_reads(
    server: Any, sm: Any, xgb_model: dict[str, Any]
) -> None:
    """With no webhook at all: the events are in CloudWatch Logs (as an EventBridge rule with a log-group target
    keeps them), for boto3's FilterLogEvents and `homeport events`, which can follow them as they happen."""
    import itertools
    import os
    import subprocess
    import sys

    group = unique("logged")
    sm.create_model_package_group(ModelPackageGroupName=group)
    arn = sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec(xgb_model))[
        "ModelPackageArn"
    ]
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")

    logs = boto_client("logs", server.url)
    found = logs.filter_log_events(
        logGroupName="/aws/events/homeport", logStreamNames=["model-package-state-change"], filterPattern=f'"{arn}"'
    )["events"]
    kept = [json.loads(e["message"]) for e in found]
    assert [e["detail"]["ModelApprovalStatus"] for e in kept] == ["PendingManualApproval", "Approved"]
    assert {e["detail-type"] for e in kept} == {"SageMaker Model Package State Change"}

    shown = homeport("events", "--kind", "model-package", "--resource", arn, url=server.url)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[1].endswith(f"Model Package State Change  {group}/1  Approved"), lines
    as_json = homeport("events", "--resource", arn, "--json", url=server.url)
    assert [json.loads(line)["id"] for line in as_json.stdout.splitlines()] == [e["id"] for e in kept]
    bad = homeport("events", "--since", "yesterday", url=server.url)
    assert bad.returncode != 0 and "not a duration" in bad.stderr

    follow = subprocess.Popen(
        [sys.executable, "-m", "homeport", "events", "--follow", "--interval", "0.2", "--resource", group,
         "--endpoint-url", server.url],
        env={**os.environ, **KEYS},
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        second = sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec(xgb_model))
        assert follow.stdout is not None
        followed = list(itertools.takewhile(lambda line: f"{group}/2" not in line, iter(follow.stdout.readline, "")))
        assert len(followed) == 2  # the two that were there, then the new one as it happened
    finally:
        follow.terminate()
        follow.wait(10)
    sm.delete_model_package(ModelPackageName=second["ModelPackageArn"])
