"""The monitoring controller: makes new schedules Scheduled, starts each execution when its time comes, and gives
each execution its processing job's outcome when that ends.

`plan(schedules, executions, jobs, now)` decides, a pure function of the schedules, their running executions, the
statuses of those executions' processing jobs and the time; the controller applies it through the services.
Executions run on the processing-job runner, so a restart resumes them (see `server/serve`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from homeport.controllers.loop import Loop
from homeport.core.monitoring_schedule import NOW, latest_due, next_due, parse_expression
from homeport.core.schedules import Cron, ScheduleError
from homeport.errors import HomeportError
from homeport.services.context import Context
from homeport.services.monitoring_schedules import MonitoringScheduleService
from homeport.store import Kind

log = logging.getLogger(__name__)

TICK_S = 1.0  # how soon a running execution notices its job's end
IDLE_S = 3600.0
RUNNING = ("InProgress", "Stopping")
JOB_ENDED = ("Completed", "Failed", "Stopped")


@dataclass(frozen=True)
class Activate:
    name: str


@dataclass(frozen=True)
class Execute:
    name: str
    scheduled: float


@dataclass(frozen=True)
class Settle:
    """An execution's processing job has ended, is stopping, or is gone."""

    execution: str
    job: str | None


Action = Activate | Execute | Settle


def plan(
    schedules: Sequence[dict[str, Any]],
    executions: Sequence[dict[str, Any]],
    jobs: Mapping[str, str],
    now: float,
) -> list[Action]:
    """`executions`: those still running; `jobs`: their processing jobs' statuses, by job name."""
    actions: list[Action] = []
    for s in schedules:
        name, status = s["MonitoringScheduleName"], s["MonitoringScheduleStatus"]
        if status == "Pending":
            actions.append(Activate(name))
            continue
        if status != "Scheduled":
            continue
        expression = s["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"]
        if expression == NOW:
            if not s.get("_ran"):
                actions.append(Execute(name, now))
            continue
        cron = _cron(expression)
        due = latest_due(cron, s["_after"], now) if cron is not None else None
        if due is not None:
            actions.append(Execute(name, due))
    for e in executions:
        job = e.get("_job")
        state = jobs.get(job) if job else None
        if state is None or state in JOB_ENDED or (state == "Stopping" and e["MonitoringExecutionStatus"] != state):
            actions.append(Settle(e["_key"], job if state is not None else None))
    return actions


def next_event(schedules: Sequence[dict[str, Any]], executions: Sequence[dict[str, Any]], now: float) -> float:
    """Seconds to the next execution due, at most TICK_S while one runs or a schedule waits to be Scheduled."""
    waits = [TICK_S] if executions else [IDLE_S]
    for s in schedules:
        if s["MonitoringScheduleStatus"] == "Pending":
            waits.append(TICK_S)
        elif s["MonitoringScheduleStatus"] == "Scheduled":
            expression = s["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"]
            cron = _cron(expression) if expression != NOW else None
            due = next_due(cron, now) if cron is not None else None
            if due is not None:
                waits.append(due - now)
    return max(0.0, min(waits))


def _cron(expression: str) -> Cron | None:
    try:
        return parse_expression(expression)
    except ScheduleError:  # recorded before this version checked it; it never comes due
        return None


class MonitoringController:
    def __init__(self, ctx: Context, schedules: MonitoringScheduleService) -> None:
        self.ctx = ctx
        self.schedules = schedules
        self.loop = Loop("monitoring controller")
        self._delay = TICK_S

    def wake(self) -> None:
        self.loop.wake()

    async def run_forever(self) -> None:
        await self.loop.run(self.run_once, lambda: self._delay)

    def run_once(self) -> None:
        store = self.ctx.store
        with store.reading() as conn:
            schedules = store.all(conn, Kind.MONITORING_SCHEDULE)
            running = store.with_status(conn, Kind.MONITORING_EXECUTION, list(RUNNING))
            jobs = {
                e["_job"]: doc["ProcessingJobStatus"]
                for e in running
                if "_job" in e and (doc := store.get(conn, Kind.PROCESSING_JOB, e["_job"])) is not None
            }
        actions = plan(schedules, running, jobs, self.ctx.clock.now())
        for action in actions:
            self._apply(action)
        if any(isinstance(a, Activate) for a in actions):
            self._delay = 0.0  # a schedule just Scheduled may be due now (NOW is)
            return
        with store.reading() as conn:
            running = store.with_status(conn, Kind.MONITORING_EXECUTION, list(RUNNING))
        self._delay = next_event(schedules, running, self.ctx.clock.now())

    def _apply(self, action: Action) -> None:
        log.info("monitoring: %s", action)
        try:
            match action:
                case Activate(name=name):
                    self.schedules.activate(name)
                case Execute(name=name, scheduled=scheduled):
                    self.schedules.execute(name, scheduled)
                    self.ctx.wake()  # the processing-job runner: start the execution's job
                case Settle(execution=execution, job=job):
                    with self.ctx.store.reading() as conn:
                        doc = self.ctx.store.get(conn, Kind.PROCESSING_JOB, job) if job else None
                    self.schedules.executions.settle(execution, doc)
        except HomeportError as exc:  # what the schedule names changed since this tick read it
            log.warning("monitoring: %s: %s", action, exc.message)
