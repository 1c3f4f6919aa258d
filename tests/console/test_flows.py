"""The console in a real browser (headless Chromium, Playwright) against a real `homeport serve`: sign in, see an
endpoint, watch its charts move under load, configure auto scaling and find it through boto3, stop a transform
job, and have a forged change refused."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homeport.server.process import ServerProcess
from tests.conftest import KEYS, boto_client, deploy, unique
from tests.console.conftest import screenshot, sign_in
from tests.integration.conftest import PROBE, code_only_model

expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture(scope="module")
def endpoint(csm: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    model_url = code_only_model(tmp_path_factory.mktemp("probe"), PROBE)
    return deploy(csm, model_url, image="homeport/python")["endpoint"]


@pytest.fixture
def load(console_server: ServerProcess, endpoint: str) -> Iterator[None]:
    """Requests to the endpoint, about 20 a second, while the test runs."""
    runtime = boto_client("sagemaker-runtime", console_server.url)
    done = threading.Event()

    def send() -> None:
        while not done.is_set():
            runtime.invoke_endpoint(EndpointName=endpoint, Body=b"1,2,3", ContentType="text/csv")
            done.wait(0.05)

    worker = threading.Thread(target=send, daemon=True)
    worker.start()
    yield
    done.set()
    worker.join(5)


def test_signing_in_takes_a_known_pair_only_and_renders_no_secret(page: Any, endpoint: str) -> None:
    page.goto(f"/console/endpoints/{endpoint}")
    page.wait_for_url(re.compile(r"/console/login\?next="))  # not signed in: sent to sign in, and back after
    sign_in(page, secret="not-the-secret")
    expect(page.get_by_role("alert")).to_contain_text("not a pair this server knows")
    sign_in(page)
    page.wait_for_url(f"**/console/endpoints/{endpoint}")
    expect(page.locator("#endpoint-status")).to_have_text("InService")
    assert KEYS["HOMEPORT_SECRET_ACCESS_KEY"] not in page.content()
    cookie = next(c for c in page.context.cookies() if c["name"] == "homeport-console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > time.time()
    assert KEYS["HOMEPORT_SECRET_ACCESS_KEY"] not in cookie["value"]
    page.click("text=Sign out")
    page.wait_for_url("**/console/login")
    page.goto("/console/endpoints")
    page.wait_for_url(re.compile(r"/console/login"))


def test_an_endpoint_page_shows_its_variant_and_instance_and_its_charts_move_under_load(
    signed_in: Any, endpoint: str, load: None
) -> None:
    page = signed_in
    expect(page.get_by_role("link", name=endpoint)).to_be_visible()
    screenshot(page, "endpoints")
    page.click(f"text={endpoint}")
    page.wait_for_url(f"**/console/endpoints/{endpoint}")
    expect(page.locator("#variants tr[data-variant=v1] td.count")).to_have_text("1 / 1")
    expect(page.locator("#instances tbody tr")).to_have_count(1)
    expect(page.locator("#instances tbody")).to_contain_text("Healthy")
    invocations = page.locator('svg[data-title="Invocations"] text.legend').first
    # The page is not reloaded: its live part is swapped in every 2 s, and the requests sent meanwhile show.
    expect(invocations).to_have_attribute("data-points", re.compile(r"^[2-9]|^\d\d"), timeout=30_000)
    expect(page.locator('svg[data-title="Model latency"] polyline').first).to_be_visible()
    expect(page.locator("#logs pre.logs")).to_be_visible(timeout=30_000)  # the instance's output, shipped as logs
    screenshot(page, "endpoint")


def test_configure_auto_scaling_makes_the_target_and_policy_boto3_sees(
    signed_in: Any, console_server: ServerProcess, endpoint: str
) -> None:
    page = signed_in
    aas = boto_client("application-autoscaling", console_server.url)
    resource = f"endpoint/{endpoint}/variant/v1"
    page.goto(f"/console/endpoints/{endpoint}")
    page.click("#variants >> text=Configure auto scaling")
    expect(page.get_by_role("heading", name="Configure auto scaling: v1")).to_be_visible()
    page.fill("input[name=min]", "1")
    page.fill("input[name=max]", "3")
    page.fill("input[name=target]", "200")
    page.fill("input[name=scale_in_cooldown]", "120")
    page.fill("input[name=scale_out_cooldown]", "60")
    page.check("input[name=disable_scale_in]")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    (target,) = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 3)
    (policy,) = aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource)["ScalingPolicies"]
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert config["TargetValue"] == 200.0
    assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    assert (config["ScaleInCooldown"], config["ScaleOutCooldown"], config["DisableScaleIn"]) == (120, 60, True)
    # The policy's alarms are beside the form, as the service made them.
    expect(page.locator("#alarms tbody tr")).to_have_count(len(policy["Alarms"]))
    expect(page.locator("#alarms")).to_contain_text(policy["Alarms"][0]["AlarmName"])
    screenshot(page, "scaling")

    # A bad form is refused with the service's own words, and nothing changes.
    page.fill("input[name=min]", "5")
    page.fill("input[name=max]", "2")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("ValidationException")
    page.fill("input[name=min]", "one")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("Minimum instance count must be a whole number")
    (still,) = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])["ScalableTargets"]
    assert (still["MinCapacity"], still["MaxCapacity"]) == (1, 3)

    page.get_by_role("button", name="Deregister auto scaling").click()
    expect(page.locator("body")).to_contain_text("Auto scaling is off")
    assert aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])["ScalableTargets"] == []


def test_a_refused_policy_leaves_no_scalable_target_behind(
    signed_in: Any, console_server: ServerProcess, endpoint: str
) -> None:
    page = signed_in
    aas = boto_client("application-autoscaling", console_server.url)
    page.goto(f"/console/endpoints/{endpoint}/variants/v1/scaling")
    page.fill("input[name=min]", "1")
    page.fill("input[name=max]", "2")
    page.fill("input[name=target]", "200")
    page.fill("input[name=policy_name]", "x" * 300)  # the target is fine; the policy's name is too long
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("ValidationException")
    resource = f"endpoint/{endpoint}/variant/v1"
    assert aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])["ScalableTargets"] == []


def test_a_transform_job_shows_its_progress_and_stops_from_the_console(
    signed_in: Any, console_server: ServerProcess, csm: Any, tmp_path: Path
) -> None:
    from tests.integration.test_transform_jobs import create_model, run_job

    s3 = boto_client("s3", console_server.url)
    bucket = unique("console")
    s3.create_bucket(Bucket=bucket)
    for n in range(20):  # progress moves as files (their ranges) finish: about 2 s each
        s3.put_object(Bucket=bucket, Key=f"in/{n:02}.csv", Body="".join(f"{i},1\n" for i in range(40)).encode())
    model = create_model(csm, code_only_model(tmp_path, PROBE), env={"PROBE_MODE": "sleep", "PROBE_SLEEP": "0.05"})
    job = run_job(
        csm, model, f"s3://{bucket}/in/", f"s3://{bucket}/out/", wait=False,
        BatchStrategy="SingleRecord", MaxConcurrentTransforms=1,
    )["TransformJobName"]  # fmt: skip
    page = signed_in
    page.goto("/console/transform-jobs")
    row = page.locator(f"tr[data-job='{job}']")
    expect(row).to_contain_text("InProgress")
    expect(row.locator("progress")).to_be_visible(timeout=30_000)
    expect(row).to_contain_text(re.compile(r"[1-9]\d* records"), timeout=30_000)
    screenshot(page, "transform-jobs")
    row.get_by_role("button", name="Stop").click()
    page.wait_for_url("**/console/transform-jobs")
    deadline = time.monotonic() + 60
    while csm.describe_transform_job(TransformJobName=job)["TransformJobStatus"] != "Stopped":
        assert time.monotonic() < deadline, "the job did not stop"
        time.sleep(0.2)
    expect(page.locator(f"tr[data-job='{job}']")).to_contain_text("Stopped")


def test_a_forged_change_is_refused_and_changes_nothing(
    signed_in: Any, console_server: ServerProcess, endpoint: str
) -> None:
    """A post with the session's cookie but not its CSRF token, or from another origin, is refused (403)."""
    page = signed_in
    aas = boto_client("application-autoscaling", console_server.url)
    path = f"/console/endpoints/{endpoint}/variants/v1/scaling"
    form = {"min": "1", "max": "4", "target": "50", "scale_in_cooldown": "1", "scale_out_cooldown": "1"}
    forged = page.request.post(path, form=form, max_redirects=0)
    assert forged.status == 403 and "CSRF" in forged.text()
    page.goto(path)
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    elsewhere = page.request.post(
        path, form={**form, "csrf": token}, headers={"Origin": "http://evil.example"}, max_redirects=0
    )
    assert elsewhere.status == 403
    wrong = page.request.post(path, form={**form, "csrf": token[:-2] + "xx"}, max_redirects=0)
    assert wrong.status == 403
    resource = f"endpoint/{endpoint}/variant/v1"
    assert aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])["ScalableTargets"] == []
    honest = page.request.post(path, form={**form, "csrf": token}, max_redirects=0)
    assert honest.status == 303  # the same post with the page's token goes through
    assert aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])["ScalableTargets"]
    aas.deregister_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension="sagemaker:variant:DesiredInstanceCount"
    )
    again = page.request.post(path + "/remove", form={"csrf": token}, max_redirects=0)
    assert again.status == 400 and "ObjectNotFoundException" in again.text()  # nothing left to deregister
