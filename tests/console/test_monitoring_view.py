"""The Model Monitor page over files of the test's own (no server): a model quality execution's metrics against
their constraints, and the reports it cannot read — gone, not JSON, too large, or not in Model Monitor's format —
each said on the page, never a 5xx."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from homeport.api.auth.keys import AccessKey, KeyRing
from homeport.console import monitoring
from homeport.console.app import console_app
from homeport.console.context import Console
from homeport.core.clock import ManualClock
from homeport.errors import ResourceNotFound
from homeport.objects.locations import Locator

KEY, SECRET = "AKIDMONITOR", "monitor-secret"
JOB = "monitoring-mq-202612061300-abc123"


def fake_server(folder: Path, kind: str) -> Console:
    schedule = {
        "MonitoringScheduleName": "mq",
        "MonitoringScheduleStatus": "Scheduled",
        "MonitoringType": kind,
        "CreationTime": 1_000_000.0,
        "MonitoringScheduleConfig": {"ScheduleConfig": {"ScheduleExpression": "NOW"}},
    }
    execution = {
        "MonitoringScheduleName": "mq",
        "ScheduledTime": 1_000_000.0,
        "MonitoringExecutionStatus": "CompletedWithViolations",
        "ProcessingJobArn": f"arn:aws:sagemaker:us-east-1:000000000000:processing-job/{JOB}",
        "MonitoringType": kind,
    }
    job = {
        "ProcessingInputs": [
            {"InputName": name, "S3Input": {"S3Uri": f"file://{folder}/baseline/{name}.json"}}
            for name in ("statistics", "constraints")
        ],
        "ProcessingOutputConfig": {"Outputs": [{"S3Output": {"S3Uri": f"file://{folder}/report/"}}]},
    }
    replies = {
        "DescribeMonitoringSchedule": schedule,
        "ListMonitoringExecutions": {"MonitoringExecutionSummaries": [execution]},
        "DescribeProcessingJob": job,
    }

    def operate(service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        if operation == "DescribeMonitoringSchedule" and params["MonitoringScheduleName"] != "mq":
            raise ResourceNotFound(f"Monitoring schedule {params['MonitoringScheduleName']} does not exist.")
        return replies[operation]

    (folder / "baseline").mkdir()
    (folder / "report").mkdir()
    return Console(
        KeyRing([AccessKey(KEY, SECRET)]), ManualClock(1_000_000.0), operate, lambda _: [], 60, Locator(None)
    )


def write(path: Path, document: Any) -> None:
    path.write_text(document if isinstance(document, str) else json.dumps(document))


def page(console: Console) -> Any:
    with TestClient(console_app(console), base_url="http://testserver", follow_redirects=False) as http:
        http.post("/console/login", data={"access_key_id": KEY, "secret_access_key": SECRET})
        return http.get("/console/monitoring/mq")


def test_a_model_quality_execution_shows_each_metric_against_its_constraint(tmp_path: Path) -> None:
    console = fake_server(tmp_path, "ModelQuality")
    write(tmp_path / "baseline/statistics.json", {})
    rule = {"threshold": 0.5, "comparison_operator": "GreaterThanThreshold"}
    write(tmp_path / "baseline/constraints.json", {"regression_constraints": {"mae": rule}})
    metrics = {"mae": {"value": 0.75, "standard_deviation": 0.02}, "r2": {"value": 0.9}}
    write(tmp_path / "report/statistics.json", {"regression_metrics": metrics})
    broken = {"metric_name": "mae", "constraint_check_type": "GreaterThanThreshold", "description": "mae 0.75 > 0.5"}
    write(tmp_path / "report/constraint_violations.json", {"violations": [broken]})

    reply = page(console)
    assert reply.status_code == 200
    text = reply.text
    mae = text[text.index('data-metric="mae"') :].split("</tr>")[0]
    assert "0.75 ± 0.02" in mae and "GreaterThanThreshold 0.5" in mae and "violated" in mae
    r2 = text[text.index('data-metric="r2"') :].split("</tr>")[0]
    assert "0.9" in r2 and "violated" not in r2
    assert "mae 0.75 &gt; 0.5" in text and 'class="feature' not in text


@pytest.mark.parametrize(
    ("statistics", "said"),
    [
        (None, "Could not read"),
        ("{not json", "is not JSON"),
        ("[1, 2]", "is not a JSON object"),
        ({"features": [{"name": "x", "numerical_statistics": {}}]}, "not in Model Monitor&#39;s format"),
        ({"features": "none"}, "not in Model Monitor&#39;s format"),
    ],
)
def test_a_report_it_cannot_read_is_said_on_the_page(tmp_path: Path, statistics: Any, said: str) -> None:
    console = fake_server(tmp_path, "DataQuality")
    write(tmp_path / "report/statistics.json", {"dataset": {"item_count": 1}, "features": []})
    write(tmp_path / "report/constraint_violations.json", {"violations": []})
    write(tmp_path / "baseline/constraints.json", {})
    if statistics is not None:
        write(tmp_path / "baseline/statistics.json", statistics)
    reply = page(console)
    assert reply.status_code == 200 and 'role="alert"' in reply.text and said in reply.text, reply.text


def test_violations_that_are_not_a_list_of_objects_are_left_out(tmp_path: Path) -> None:
    console = fake_server(tmp_path, "DataQuality")
    write(tmp_path / "baseline/statistics.json", {"features": []})
    write(tmp_path / "baseline/constraints.json", {})
    write(tmp_path / "report/statistics.json", {"features": []})
    for listed in (5, ["text", {"feature_name": "x", "constraint_check_type": "data_type_check"}]):
        write(tmp_path / "report/constraint_violations.json", {"violations": listed})
        reply = page(console)
        assert reply.status_code == 200 and ("data_type_check" in reply.text) == (listed != 5)


def test_a_report_over_the_size_limit_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitoring, "MAX_REPORT_BYTES", 64)
    console = fake_server(tmp_path, "DataQuality")
    write(tmp_path / "report/constraint_violations.json", {"violations": [{"description": "x" * 100}]})
    reply = page(console)
    assert reply.status_code == 200 and "homeport monitor" in reply.text and "x" * 100 not in reply.text
