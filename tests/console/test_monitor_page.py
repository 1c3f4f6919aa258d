"""The console's Model Monitor page in a real browser, against a real server: a capturing endpoint sent data
shifted from its baseline, a schedule run at once, and its execution's report — per feature the baseline against
the current distribution, the drift over its threshold and the violations; an execution whose report is gone says
so, and one that is not there is a 404."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from homeport.monitoring.statistics import constraints, statistics
from homeport.server.process import ServerProcess
from tests.conftest import ROLE, boto_client, unique
from tests.console.conftest import screenshot
from tests.integration.conftest import PROBE, code_only_model
from tests.integration.test_data_capture import capture_config, deploy
from tests.integration.test_lifecycle import until
from tests.integration.test_model_monitor import to_csv
from tests.integration.test_monitoring_schedules import definition, finished, schedule

expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture(scope="module")
def monitored(console_server: ServerProcess, csm: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An endpoint sent rows whose f0 and f1 are shifted from the baseline's, and a schedule's execution over them."""
    s3 = boto_client("s3", console_server.url)
    runtime = boto_client("sagemaker-runtime", console_server.url)
    bucket = unique("monitored")
    s3.create_bucket(Bucket=bucket)
    rows = np.random.default_rng(11).normal(size=(260, 3))
    # The baseline's two files as the analyzer writes them (its job is driven in test_model_monitor.py).
    stats = statistics(pa.table({f"f{i}": rows[:200, i] for i in range(3)}))
    for name, document in (("statistics", stats), ("constraints", constraints(stats))):
        s3.put_object(Bucket=bucket, Key=f"baseline/{name}.json", Body=json.dumps(document).encode())
    model = unique("probe")
    container = {"Image": "homeport/python", "ModelDataUrl": code_only_model(tmp_path_factory.mktemp("p"), PROBE)}
    csm.create_model(ModelName=model, PrimaryContainer=container, ExecutionRoleArn=ROLE)
    endpoint = deploy(csm, model, capture_config(bucket))
    shifted = rows[200:] + np.array([3.0, 1.5, 0.0])
    for row in shifted:
        runtime.invoke_endpoint(EndpointName=endpoint, Body=to_csv(row[None, :]).encode(), ContentType="text/csv")
    until(lambda: s3.list_objects_v2(Bucket=bucket, Prefix=f"capture/{endpoint}/").get("KeyCount", 0) > 0)
    time.sleep(0.5)  # the last flush of what was captured
    name = schedule(csm, definition(csm, endpoint, bucket, "baseline"))
    execution = finished(csm, name)
    assert execution["MonitoringExecutionStatus"] == "CompletedWithViolations", execution.get("FailureReason")
    return {"endpoint": endpoint, "schedule": name, "execution": execution, "bucket": bucket, "s3": s3}


def test_a_schedule_shows_each_features_baseline_against_its_current_distribution(
    signed_in: Any, monitored: dict[str, Any]
) -> None:
    page = signed_in
    page.goto(f"/console/endpoints/{monitored['endpoint']}")
    page.click("text=Model monitor schedules")
    expect(page.locator("#schedules")).to_contain_text(monitored["schedule"])
    expect(page.locator("#schedules")).to_contain_text("DataQuality")
    page.click(f"text={monitored['schedule']}")

    expect(page.locator("#executions")).to_contain_text("CompletedWithViolations")
    features = page.locator("figure.feature")
    expect(features).to_have_count(3)
    f0, f2 = page.locator("[data-feature=f0]"), page.locator("[data-feature=f2]")
    # f0 moved by three standard deviations: most of it lies beyond the baseline's buckets, and its drift is flagged.
    expect(f0).to_have_class(re.compile(r"\bviolated\b"))
    expect(f0).to_contain_text("baseline_drift_check")
    expect(f0).to_contain_text("beyond the baseline's range")
    expect(f0.locator("svg.distribution rect.baseline")).to_have_count(10)
    expect(f0.locator("svg.distribution rect.current")).to_have_count(10)
    expect(f2).not_to_have_class(re.compile(r"\bviolated\b"))  # drawn from the same distribution as the baseline
    expect(page.locator("#violations")).to_contain_text("f0")
    expect(page.locator("#violations")).not_to_contain_text("f2")
    drift = float(re.search(r"Drift\s*([0-9.]+)", f0.inner_text()).group(1))  # type: ignore[union-attr]
    assert drift > 0.5
    screenshot(page, "model-monitor")


def test_an_execution_whose_report_is_gone_says_so_and_an_unknown_one_is_a_404(
    signed_in: Any, csm: Any, monitored: dict[str, Any]
) -> None:
    page = signed_in
    job_name = monitored["execution"]["ProcessingJobArn"].rsplit("/", 1)[1]
    job = csm.describe_processing_job(ProcessingJobName=job_name)
    report = job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    key = report.removeprefix(f"s3://{monitored['bucket']}/") + "/statistics.json"
    monitored["s3"].delete_object(Bucket=monitored["bucket"], Key=key)
    page.goto(f"/console/monitoring/{monitored['schedule']}?execution={job_name}")
    expect(page.locator("[role=alert]")).to_contain_text("statistics.json")
    expect(page.locator("figure.feature")).to_have_count(0)

    reply = page.goto(f"/console/monitoring/{monitored['schedule']}?execution=no-such-job")
    assert reply is not None and reply.status == 404
    expect(page.locator("main")).to_contain_text("no-such-job")
