"""The monitoring controller: its decisions as a pure function of schedules, running executions, their jobs and the
time; and the controller stepped hour by hour with an injected clock over a real store and object store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from homeport.controllers.monitoring import Activate, Execute, MonitoringController, Settle, next_event, plan
from homeport.core.clock import ManualClock
from homeport.objects.local import LocalObjectStore
from homeport.objects.locations import Locator
from homeport.server.serve import build_services
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store import Kind, Store

HOURLY = "cron(0 * ? * * *)"


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def schedule(status: str = "Scheduled", expression: str = HOURLY, after: float = 0.0, **extra: Any) -> dict[str, Any]:
    return {
        "MonitoringScheduleName": "s",
        "MonitoringScheduleStatus": status,
        "MonitoringScheduleConfig": {"ScheduleConfig": {"ScheduleExpression": expression}},
        "_after": after,
        **extra,
    }


def execution(status: str = "InProgress", job: str | None = "job-1") -> dict[str, Any]:
    doc: dict[str, Any] = {"_key": "job-1", "MonitoringExecutionStatus": status}
    if job:
        doc["_job"] = job
    return doc


def test_a_pending_schedule_is_activated_and_a_stopped_one_left_alone() -> None:
    assert plan([schedule("Pending")], [], {}, 0.0) == [Activate("s")]
    assert plan([schedule("Stopped", after=0.0)], [], {}, at("2026-12-05T12:00:00")) == []
    assert plan([schedule("Failed")], [], {}, at("2026-12-05T12:00:00")) == []


def test_now_runs_once_at_once() -> None:
    assert plan([schedule(expression="NOW")], [], {}, 50.0) == [Execute("s", 50.0)]
    assert plan([schedule(expression="NOW", _ran=True)], [], {}, 60.0) == []


def test_an_hourly_schedule_is_due_on_the_hour_after_its_last_run() -> None:
    created = at("2026-12-05T10:30:00")
    assert plan([schedule(after=created)], [], {}, at("2026-12-05T10:59:59")) == []
    eleven = at("2026-12-05T11:00:00")
    assert plan([schedule(after=created)], [], {}, eleven + 0.4) == [Execute("s", eleven)]
    assert plan([schedule(after=eleven)], [], {}, eleven + 120) == []


def test_an_execution_settles_when_its_job_ends_or_is_gone() -> None:
    assert plan([], [execution()], {"job-1": "InProgress"}, 0.0) == []
    for ended in ("Completed", "Failed", "Stopped"):
        assert plan([], [execution()], {"job-1": ended}, 0.0) == [Settle("job-1", "job-1")]
    assert plan([], [execution()], {"job-1": "Stopping"}, 0.0) == [Settle("job-1", "job-1")]
    assert plan([], [execution("Stopping")], {"job-1": "Stopping"}, 0.0) == []
    assert plan([], [execution()], {}, 0.0) == [Settle("job-1", None)]


def test_the_controller_sleeps_until_the_next_run_or_ticks_while_one_runs() -> None:
    now = at("2026-12-05T10:30:00")
    assert next_event([schedule(after=now)], [], now) == 1800.0
    assert next_event([schedule(after=now)], [execution()], now) == 1.0
    assert next_event([schedule("Pending")], [], now) == 1.0
    assert next_event([schedule("Stopped")], [], now) == 3600.0


class World:
    """A store, an object store and the services on a manual clock, with an endpoint that captures into
    s3://capture/data, one record in the 10:00 hour."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = ManualClock(at("2026-12-05T10:30:00"))
        objects = LocalObjectStore(tmp_path / "objects", self.clock)
        objects.create_bucket("capture")
        self.ctx = Context(Settings(data_dir=tmp_path), Store(f"sqlite:///{tmp_path / 'db.sqlite'}"), self.clock)
        self.ctx.objects = Locator(objects)
        self.services = build_services(self.ctx)
        self.controller = MonitoringController(self.ctx, self.services.monitoring_schedules)
        capture = {"EnableCapture": True, "DestinationS3Uri": "s3://capture/data"}
        with self.ctx.store.transaction() as conn:
            config = {"EndpointConfigName": "c", "DataCaptureConfig": capture, "CreationTime": 0.0}
            self.ctx.store.insert(conn, Kind.ENDPOINT_CONFIG, config, name="c", arn="arn:c")
            endpoint = {"EndpointName": "ep", "EndpointConfigName": "c", "CreationTime": 0.0}
            endpoint["ProductionVariants"] = [{"VariantName": "v1"}]
            self.ctx.store.insert(conn, Kind.ENDPOINT, endpoint, name="ep", arn="arn:ep")
        self.ctx.objects.put_bytes("s3://capture/data/ep/v1/2026/12/05/10/40-00-000-x.jsonl", b"{}\n")

    def create(self, expression: str) -> None:
        job = {
            "MonitoringInputs": [{"EndpointInput": {"EndpointName": "ep", "LocalPath": "/opt/ml/processing/input"}}],
            "MonitoringOutputConfig": {
                "MonitoringOutputs": [
                    {"S3Output": {"S3Uri": "s3://capture/reports", "LocalPath": "/opt/ml/processing/output"}}
                ]
            },
            "MonitoringResources": {
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}
            },
            "MonitoringAppSpecification": {"ImageUri": "sagemaker-model-monitor-analyzer"},
            "RoleArn": "arn:aws:iam::000000000000:role/r",
        }
        self.services.monitoring_schedules.create(
            {"MonitoringScheduleName": "s", "MonitoringScheduleConfig": {
                "ScheduleConfig": {"ScheduleExpression": expression}, "MonitoringJobDefinition": job}}
        )  # fmt: skip

    def executions(self) -> list[dict[str, Any]]:
        with self.ctx.store.reading() as conn:
            return self.ctx.store.all(conn, Kind.MONITORING_EXECUTION)

    def job(self, name: str) -> dict[str, Any]:
        with self.ctx.store.reading() as conn:
            doc = self.ctx.store.get(conn, Kind.PROCESSING_JOB, name)
        assert doc is not None
        return doc

    def end_job(self, name: str, status: str, violations: int) -> None:
        doc = self.job(name)
        doc["ProcessingJobStatus"] = status
        with self.ctx.store.transaction() as conn:
            self.ctx.store.replace(conn, Kind.PROCESSING_JOB, name, doc, status=status)
        report = doc["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
        found = [{"feature_name": "f", "constraint_check_type": "data_type_check", "description": "."}] * violations
        self.ctx.objects.put_bytes(f"{report}/constraint_violations.json", json.dumps({"violations": found}).encode())


def test_an_hourly_schedule_stepped_hour_by_hour(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.create(HOURLY)
    world.controller.run_once()
    assert world.services.monitoring_schedules.describe("s")["MonitoringScheduleStatus"] == "Scheduled"
    assert world.executions() == []

    world.clock.t = at("2026-12-05T11:00:00.3")
    world.controller.run_once()
    (first,) = world.executions()
    assert first["ScheduledTime"] == at("2026-12-05T11:00:00") and first["MonitoringExecutionStatus"] == "InProgress"
    job = world.job(first["_job"])
    assert job["Environment"]["start_time"] == "2026-12-05T10:00:00Z"
    assert job["Environment"]["end_time"] == "2026-12-05T11:00:00Z"
    (data,) = [i for i in job["ProcessingInputs"] if i["InputName"].startswith("endpoint")]
    assert data["S3Input"]["S3Uri"] == "s3://capture/data/ep/v1/2026/12/05/10/"
    assert data["S3Input"]["LocalPath"] == "/opt/ml/processing/input/ep/v1/2026/12/05/10"
    report = job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert report == "s3://capture/reports/ep/s/2026/12/05/11"

    world.end_job(first["_job"], "Completed", violations=2)
    world.controller.run_once()
    assert world.executions()[0]["MonitoringExecutionStatus"] == "CompletedWithViolations"

    # Down from 11:00 to 13:20: the 13:00 run is due, and it finds nothing captured in its hour.
    world.clock.t = at("2026-12-05T13:20:00")
    world.controller.run_once()
    latest = max(world.executions(), key=lambda e: e["ScheduledTime"])
    assert len(world.executions()) == 2 and latest["ScheduledTime"] == at("2026-12-05T13:00:00")
    assert latest["MonitoringExecutionStatus"] == "Failed" and "had no data" in latest["FailureReason"]
    summary = world.services.monitoring_schedules.describe("s")["LastMonitoringExecutionSummary"]
    assert summary["ScheduledTime"] == latest["ScheduledTime"]


def test_a_stopped_schedule_skips_its_runs_and_a_restarted_one_waits_for_its_next(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.create(HOURLY)
    world.controller.run_once()
    world.services.monitoring_schedules.stop("s")
    world.clock.t = at("2026-12-05T11:10:00")
    world.controller.run_once()
    world.services.monitoring_schedules.start("s")
    world.controller.run_once()
    assert world.executions() == []
    world.clock.t = at("2026-12-05T12:00:00")
    world.controller.run_once()
    assert [e["ScheduledTime"] for e in world.executions()] == [at("2026-12-05T12:00:00")]


def test_an_execution_whose_job_failed_or_vanished_fails(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.create(HOURLY)
    world.clock.t = at("2026-12-05T11:00:00")
    world.controller.run_once()
    world.controller.run_once()
    (first,) = world.executions()
    doc = world.job(first["_job"])
    doc.update(ProcessingJobStatus="Failed", FailureReason="AlgorithmError: boom")
    with world.ctx.store.transaction() as conn:
        world.ctx.store.replace(conn, Kind.PROCESSING_JOB, first["_job"], doc, status="Failed")
    world.controller.run_once()
    (failed,) = world.executions()
    assert failed["MonitoringExecutionStatus"] == "Failed" and failed["FailureReason"] == "AlgorithmError: boom"
