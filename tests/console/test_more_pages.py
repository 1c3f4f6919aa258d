"""The console's deployment, async queue and alarm views in a real browser, against a real server: a canary
deployment's split and baking phase, then its rollback when its alarm fires; an async endpoint's backlog and
notification log; alarms and their state history."""

from __future__ import annotations

import re
from typing import Any

import pytest

from homeport.server.process import ServerProcess
from tests.conftest import boto_client, deploy, unique
from tests.console.conftest import screenshot
from tests.integration.conftest import PROBE, code_only_model

expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture(scope="module")
def probe_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return code_only_model(tmp_path_factory.mktemp("probe"), PROBE)


def put_alarm(cw: Any, name: str) -> None:
    cw.put_metric_alarm(
        AlarmName=name, Namespace="Homeport/Console", MetricName=unique("m"), Statistic="Maximum", Period=60,
        EvaluationPeriods=1, Threshold=10.0, ComparisonOperator="GreaterThanOrEqualToThreshold",
    )  # fmt: skip


def test_a_canary_deployment_shows_its_split_and_phase_and_rolls_back_when_its_alarm_fires(
    signed_in: Any, console_server: ServerProcess, csm: Any, probe_url: str
) -> None:
    cw = boto_client("cloudwatch", console_server.url)
    alarm = unique("rollback-alarm")
    put_alarm(cw, alarm)
    endpoint = deploy(csm, probe_url, image="homeport/python", count=2)["endpoint"]
    blue = csm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    model = csm.describe_endpoint_config(EndpointConfigName=blue)["ProductionVariants"][0]["ModelName"]
    green = unique("green")
    variant = {"VariantName": "v1", "ModelName": model, "InitialInstanceCount": 2, "InstanceType": "ml.m5.large"}
    csm.create_endpoint_config(EndpointConfigName=green, ProductionVariants=[variant])
    csm.update_endpoint(
        EndpointName=endpoint,
        EndpointConfigName=green,
        DeploymentConfig={
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {
                    "Type": "CANARY",
                    "WaitIntervalInSeconds": 300,
                    "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
                },
                "TerminationWaitInSeconds": 0,
                "MaximumExecutionTimeoutInSeconds": 600,
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]},
        },
    )  # fmt: skip
    page = signed_in
    page.goto(f"/console/endpoints/{endpoint}")
    section = page.locator("#deployment")
    expect(section).to_contain_text("Baking", timeout=30_000)  # the canary has its traffic and bakes
    expect(page.locator("#green-share")).to_have_text(re.compile(r"^[1-9]\d? %$"))
    expect(section).to_contain_text(green)
    expect(section.get_by_role("link", name=alarm)).to_be_visible()
    # The split over time: from 0 % to the canary's share at the step's event, held until now.
    legend = section.locator("figure.split-history text.legend")
    expect(legend).to_have_text(re.compile(r"^new fleet [1-9][\d.]* %$"))
    assert int(legend.get_attribute("data-points") or 0) >= 5
    screenshot(page, "deployment")
    cw.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="the console test's rollback")
    # The live part follows the rollback without a reload: back on the blue fleet, no deployment under way.
    expect(page.locator("#endpoint-status")).to_have_text("InService", timeout=60_000)
    expect(section).to_have_count(0)
    assert csm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"] == blue


def test_an_async_endpoint_shows_its_backlog_and_notification_log(
    signed_in: Any, console_server: ServerProcess, csm: Any, probe_url: str
) -> None:
    from tests.integration.test_async_inference import deploy_async

    s3 = boto_client("s3", console_server.url)
    bucket = unique("async-console")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="in.csv", Body=b"1,2\n")
    endpoint = deploy_async(
        csm, probe_url, bucket, notification={"SuccessTopic": "http://127.0.0.1:9/refused"}
    )  # the receiver refuses: the notification stays, with its error
    runtime = boto_client("sagemaker-runtime", console_server.url)
    runtime.invoke_endpoint_async(EndpointName=endpoint, InputLocation=f"s3://{bucket}/in.csv")
    page = signed_in
    page.goto(f"/console/endpoints/{endpoint}")
    queue = page.locator("#async-queue")
    expect(queue).to_contain_text("ApproximateBacklogSize")
    expect(page.locator("#notifications")).to_contain_text("InferenceResult", timeout=30_000)
    expect(page.locator("#notifications")).to_contain_text("127.0.0.1:9")
    screenshot(page, "async-queue")


def test_alarms_are_listed_with_their_state_and_history(signed_in: Any, console_server: ServerProcess) -> None:
    cw = boto_client("cloudwatch", console_server.url)
    name = unique("console/alarm")  # a "/" in the name, as a scaling policy's alarms have
    put_alarm(cw, name)
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="first")
    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="second")
    page = signed_in
    page.goto(f"/console/alarms?prefix={name}")
    page.get_by_role("link", name=name).click()
    # SetAlarmState holds until the alarm is next evaluated (each period): then it has no data
    expect(page.locator("#alarm-state")).to_have_text(re.compile("^(OK|INSUFFICIENT_DATA)$"))
    changes = page.locator("#history tbody tr td:nth-child(3)").all_inner_texts()
    assert changes[-2:] == ["OK", "ALARM"]  # newest first: the two states set, after anything the evaluator did
    screenshot(page, "alarm")
    page.goto("/console/alarms?state=ALARM")
    expect(page.locator("#alarm-list")).not_to_contain_text(name)


def test_a_registry_version_is_approved_and_rejected_from_the_console(
    signed_in: Any, console_server: ServerProcess, csm: Any, probe_url: str
) -> None:
    group = unique("registry-group")
    csm.create_model_package_group(ModelPackageGroupName=group, ModelPackageGroupDescription="the console's test")
    spec = {
        "Containers": [{"Image": "homeport/python", "ModelDataUrl": probe_url}],
        "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"],
    }
    arns = [
        csm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec)["ModelPackageArn"]
        for _ in range(2)
    ]
    page = signed_in
    page.goto("/console/registry")
    page.get_by_role("link", name=group).click()
    rows = page.locator("#versions tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("PendingManualApproval")
    forged = page.request.post(f"/console/registry/{group}/1/approve", form={"csrf": "forged"}, max_redirects=0)
    assert forged.status == 403
    assert csm.describe_model_package(ModelPackageName=arns[0])["ModelApprovalStatus"] == "PendingManualApproval"
    page.locator("tr[data-version='1']").get_by_role("button", name="Approve").click()
    expect(page.locator("tr[data-version='1']")).to_contain_text("Approved")
    page.locator("tr[data-version='2']").get_by_role("button", name="Reject").click()
    expect(page.locator("tr[data-version='2']")).to_contain_text("Rejected")
    statuses = [csm.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] for arn in arns]
    assert statuses == ["Approved", "Rejected"]
    screenshot(page, "registry")
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    missing = page.request.post(f"/console/registry/{group}/9/approve", form={"csrf": token}, max_redirects=0)
    assert missing.status == 404 and "no version 9" in missing.text()
    odd = page.request.post(f"/console/registry/{group}/1/promote", form={"csrf": token}, max_redirects=0)
    assert odd.status == 404
