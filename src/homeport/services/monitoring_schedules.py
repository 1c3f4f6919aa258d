"""CreateMonitoringSchedule, Describe…, List…, Update…, Delete…, Start…, Stop….

A schedule is recorded Pending; the monitoring controller makes it Scheduled and starts its executions when they
are due (`controllers/monitoring`). Its job is a data or model quality job definition it names (what the SDK
sends) or an inline MonitoringJobDefinition. The endpoint it watches must exist and capture data; a BatchTransformInput
reads what transform jobs captured instead.
"""

from __future__ import annotations

from typing import Any

from homeport.core.arns import arn
from homeport.core.monitoring_schedule import NOW, offsets, parse_expression, window
from homeport.core.schedules import ScheduleError
from homeport.errors import ResourceInUse, ResourceNotFound, ValidationError
from homeport.services import listing
from homeport.services.context import Context, public
from homeport.services.monitoring_definitions import KINDS, as_monitoring, check, data_input, endpoint_of
from homeport.services.monitoring_executions import MonitoringExecutionService, matching
from homeport.store import Kind
from homeport.store.db import Duplicate

KIND = Kind.MONITORING_SCHEDULE
SUMMARY = (
    "MonitoringScheduleName",
    "MonitoringScheduleArn",
    "CreationTime",
    "LastModifiedTime",
    "MonitoringScheduleStatus",
    "EndpointName",
    "MonitoringJobDefinitionName",
    "MonitoringType",
)
SUPPORTED_TYPES = ("DataQuality", "ModelQuality")


class MonitoringScheduleService:
    def __init__(self, ctx: Context, executions: MonitoringExecutionService) -> None:
        self.ctx = ctx
        self.executions = executions

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["MonitoringScheduleName"]
        schedule_arn = arn(self.ctx.settings, "monitoring-schedule", name)
        now = self.ctx.clock.now()
        store = self.ctx.store
        with store.transaction() as conn:
            config = params["MonitoringScheduleConfig"]
            kind, endpoint = self._checked(conn, config)
            doc = {
                "MonitoringScheduleArn": schedule_arn,
                "MonitoringScheduleName": name,
                "MonitoringScheduleStatus": "Pending",
                "MonitoringType": kind,
                "CreationTime": now,
                "LastModifiedTime": now,
                "MonitoringScheduleConfig": config,
                **({"EndpointName": endpoint} if endpoint else {}),
                "_after": now,  # executions are due at the schedule's times after this one
            }
            try:
                store.insert(conn, KIND, doc, name=name, arn=schedule_arn, status="Pending")
            except Duplicate:
                raise ResourceInUse(f"Monitoring schedule {name} already exists ({schedule_arn}).") from None
            store.put_tags(conn, schedule_arn, params.get("Tags", []))
        self.ctx.wake()
        return {"MonitoringScheduleArn": schedule_arn}

    def _checked(self, conn: Any, config: dict[str, Any]) -> tuple[str, str | None]:
        """The schedule's MonitoringType and endpoint (None for a BatchTransformInput), once its configuration is one
        homeport can run."""
        named, inline = config.get("MonitoringJobDefinitionName"), config.get("MonitoringJobDefinition")
        if (named is None) == (inline is None):
            raise ValidationError(
                "MonitoringScheduleConfig needs exactly one of MonitoringJobDefinitionName (with MonitoringType) and "
                "MonitoringJobDefinition."
            )
        kind = config.get("MonitoringType", "DataQuality")
        if named is not None and "MonitoringType" not in config:
            raise ValidationError(
                "MonitoringScheduleConfig.MonitoringType is required with MonitoringJobDefinitionName."
            )
        if kind not in SUPPORTED_TYPES:
            raise ValidationError(
                f"homeport runs DataQuality and ModelQuality monitoring schedules; {kind} is not supported yet (see "
                "docs/not-yet.md)."
            )
        if inline is not None and kind != "DataQuality":
            raise ValidationError(
                "An inline MonitoringJobDefinition is a DataQuality job; for ModelQuality, create a model quality job "
                "definition and name it."
            )
        definition = self.definition(conn, config)
        if inline is not None:
            check(definition)
        schedule = config.get("ScheduleConfig")
        if schedule is None:
            raise ValidationError("MonitoringScheduleConfig.ScheduleConfig is required: when the executions run.")
        try:
            parse_expression(schedule["ScheduleExpression"])
            offsets(schedule, data_input(definition))
        except ScheduleError as exc:
            raise ValidationError(str(exc)) from None
        endpoint = endpoint_of(definition)
        if endpoint is None:
            return kind, None  # a BatchTransformInput: what transform jobs captured
        doc = self.ctx.store.get(conn, Kind.ENDPOINT, endpoint)
        if doc is None:
            raise ValidationError(f"Could not find endpoint {endpoint!r}: create it before monitoring it.")
        endpoint_config = self.ctx.store.get(conn, Kind.ENDPOINT_CONFIG, doc["EndpointConfigName"]) or {}
        if not endpoint_config.get("DataCaptureConfig", {}).get("EnableCapture", False):
            raise ValidationError(
                f"The endpoint {endpoint} does not capture data: update it to an endpoint config with "
                "DataCaptureConfig EnableCapture true before monitoring it."
            )
        return kind, endpoint

    def definition(self, conn: Any, config: dict[str, Any]) -> dict[str, Any]:
        """The schedule's job, in the inline MonitoringJobDefinition shape."""
        named = config.get("MonitoringJobDefinitionName")
        if named is None:
            return dict(config["MonitoringJobDefinition"])
        kind = config.get("MonitoringType", "DataQuality")
        doc = self.ctx.store.get(conn, KINDS[kind], named) if kind in KINDS else None
        if doc is None:
            raise ValidationError(f"The {kind} job definition {named} does not exist.")
        return as_monitoring(doc, kind)

    def get(self, conn: Any, name: str) -> dict[str, Any]:
        doc = self.ctx.store.get(conn, KIND, name)
        if doc is None:
            raise ResourceNotFound(f"Monitoring schedule {name} does not exist.")
        return doc

    def describe(self, name: str) -> dict[str, Any]:
        with self.ctx.store.reading() as conn:
            doc = public(self.get(conn, name))
            executions = self.executions.of(conn, name)
        if executions:
            latest = max(executions, key=lambda e: (e["ScheduledTime"], e["CreationTime"]))
            doc["LastMonitoringExecutionSummary"] = self.executions.summary(latest)
        return doc

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.store.reading() as conn:
            docs = self.ctx.store.all(conn, KIND)
        summaries = [
            {
                **{k: d[k] for k in SUMMARY if k in d},
                **({"MonitoringJobDefinitionName": n} if (n := d["MonitoringScheduleConfig"].get(
                    "MonitoringJobDefinitionName")) else {}),
            }
            for d in docs
        ]  # fmt: skip
        summaries = matching(summaries, params)
        return listing.filtered_reply(
            summaries, params, "MonitoringScheduleSummaries", "MonitoringScheduleName", "MonitoringScheduleStatus"
        )

    def update(self, params: dict[str, Any]) -> dict[str, Any]:
        """A new configuration; the schedule is Pending again, its next execution due at its next time (NOW runs
        once more)."""
        name, config = params["MonitoringScheduleName"], params["MonitoringScheduleConfig"]
        store = self.ctx.store
        with store.transaction() as conn:
            doc = self.get(conn, name)
            kind, endpoint = self._checked(conn, config)
            now = self.ctx.clock.now()
            doc.update(
                MonitoringScheduleConfig=config,
                MonitoringType=kind,
                MonitoringScheduleStatus="Pending",
                LastModifiedTime=now,
                _after=now,
            )
            doc.pop("FailureReason", None)
            doc.pop("_ran", None)
            doc.pop("EndpointName", None)
            if endpoint:
                doc["EndpointName"] = endpoint
            store.replace(conn, KIND, name, doc, status="Pending")
        self.ctx.wake()
        return {"MonitoringScheduleArn": doc["MonitoringScheduleArn"]}

    def delete(self, name: str) -> dict[str, Any]:
        """The schedule and its executions' records (their processing jobs stay, and finish)."""
        store = self.ctx.store
        with store.transaction() as conn:
            self.get(conn, name)
            for execution in self.executions.of(conn, name):
                store.delete(conn, Kind.MONITORING_EXECUTION, execution["_key"])
            store.delete(conn, KIND, name)
        return {}

    def start(self, name: str) -> dict[str, Any]:
        self._set(name, "Scheduled", ("Stopped",))
        return {}

    def stop(self, name: str) -> dict[str, Any]:
        self._set(name, "Stopped", ("Pending", "Scheduled"))
        return {}

    def _set(self, name: str, status: str, moves_from: tuple[str, ...]) -> None:
        store = self.ctx.store
        with store.transaction() as conn:
            doc = self.get(conn, name)
            if doc["MonitoringScheduleStatus"] not in moves_from:
                return  # already so (or Failed: nothing to start or stop)
            now = self.ctx.clock.now()
            doc.update(MonitoringScheduleStatus=status, LastModifiedTime=now, _after=now)
            store.replace(conn, KIND, name, doc, status=status)
        self.ctx.wake()

    # --- what the controller does --------------------------------------------------------------------------------

    def activate(self, name: str) -> None:
        """A Pending schedule becomes Scheduled (or Failed, when what it names has gone since)."""
        store = self.ctx.store
        with store.transaction() as conn:
            doc = store.get(conn, KIND, name)
            if doc is None or doc["MonitoringScheduleStatus"] != "Pending":
                return
            try:
                self._checked(conn, doc["MonitoringScheduleConfig"])
                doc["MonitoringScheduleStatus"] = "Scheduled"
            except ValidationError as exc:
                doc.update(MonitoringScheduleStatus="Failed", FailureReason=exc.message[:1024])
            doc["LastModifiedTime"] = self.ctx.clock.now()
            store.replace(conn, KIND, name, doc, status=doc["MonitoringScheduleStatus"])

    def execute(self, name: str, scheduled: float) -> None:
        """Start the execution due at `scheduled`, unless the schedule has changed since the controller read it."""
        store = self.ctx.store
        with store.transaction() as conn:
            doc = store.get(conn, KIND, name)
            if doc is None or doc["MonitoringScheduleStatus"] != "Scheduled":
                return
            config = doc["MonitoringScheduleConfig"]
            expression = config["ScheduleConfig"]["ScheduleExpression"]
            if doc.get("_ran") if expression == NOW else scheduled <= doc["_after"]:
                return  # already started
            definition = self.definition(conn, config)
            given = offsets(config["ScheduleConfig"], data_input(definition))
            span = window(parse_expression(expression), scheduled, given)
            self.executions.start(conn, doc, definition, scheduled, span)
            doc.update(_after=scheduled, _ran=True)
            store.replace(conn, KIND, name, doc, status=doc["MonitoringScheduleStatus"])
