"""The inference-experiment controller: starts experiments on their Schedule, follows the endpoint updates that start
and stop them to their end, and ends them when the Schedule does.

`plan(experiments, endpoints, now)` decides, a pure function of the experiments, their endpoints and the time; the
controller applies its actions through `InferenceExperimentService`, as the API's Start and Stop do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from homeport.controllers.loop import Loop
from homeport.errors import HomeportError
from homeport.services.context import Context
from homeport.services.inference_experiments import InferenceExperimentService
from homeport.store import Kind

log = logging.getLogger(__name__)

TICK_S = 1.0  # how soon a finished endpoint update moves an experiment on
SETTLED = frozenset({"InService", "Failed", "UpdateRollbackFailed", "OutOfService"})  # no update under way


@dataclass(frozen=True)
class Begin:
    name: str


@dataclass(frozen=True)
class End:
    """The Schedule's EndTime has come: the production variant stays, the shadow goes."""

    name: str


@dataclass(frozen=True)
class Settle:
    name: str
    status: str  # Running, Completed or Cancelled
    reason: str | None = None


Action = Begin | End | Settle


def plan(experiments: Sequence[dict[str, Any]], endpoints: Mapping[str, dict[str, Any]], now: float) -> list[Action]:
    actions: list[Action] = []
    for x in experiments:
        name, status = x["Name"], x["Status"]
        endpoint = endpoints.get(x["EndpointMetadata"]["EndpointName"])
        if status not in ("Created", "Starting", "Running", "Stopping"):
            continue
        if endpoint is None or endpoint["EndpointStatus"] == "Deleting":
            actions.append(Settle(name, "Cancelled", "the endpoint was deleted"))
            continue
        if status == "Created":
            if now >= x["Schedule"]["StartTime"]:
                actions.append(Begin(name))
            continue
        if endpoint["EndpointStatus"] not in SETTLED:
            continue  # an update is under way: wait for its end
        config, why = endpoint["EndpointConfigName"], endpoint.get("FailureReason")
        if status == "Starting":
            if config == x["_config"]:
                actions.append(Settle(name, "Running"))
            else:
                actions.append(Settle(name, "Cancelled", f"the endpoint did not start the experiment: {why}"))
        elif status == "Running":
            if config != x["_config"]:
                actions.append(
                    Settle(name, "Cancelled", f"the endpoint was updated to {config} outside the experiment")
                )
            elif now >= x["Schedule"]["EndTime"]:
                actions.append(End(name))
        elif x.get("_final") is None or config == x["_final"]:
            actions.append(Settle(name, x.get("_desired", "Completed")))
        else:
            actions.append(Settle(name, "Cancelled", f"the endpoint did not move to the experiment's outcome: {why}"))
    return actions


def next_event(experiments: Sequence[dict[str, Any]], now: float) -> float:
    """Seconds to the next scheduled start or end, at most TICK_S while an experiment is under way."""
    waits = [TICK_S] if any(x["Status"] in ("Starting", "Running", "Stopping") for x in experiments) else [3600.0]
    for x in experiments:
        if x["Status"] == "Created":
            waits.append(x["Schedule"]["StartTime"] - now)
        elif x["Status"] == "Running":
            waits.append(x["Schedule"]["EndTime"] - now)
    return max(0.0, min(waits))


class ExperimentController:
    def __init__(self, ctx: Context, experiments: InferenceExperimentService) -> None:
        self.ctx = ctx
        self.experiments = experiments
        self.loop = Loop("inference-experiment controller")
        self._delay = TICK_S

    def wake(self) -> None:
        self.loop.wake()

    async def run_forever(self) -> None:
        await self.loop.run(self.run_once, lambda: self._delay)

    def run_once(self) -> None:
        store = self.ctx.store
        with store.reading() as conn:
            live = [
                x for x in store.all(conn, Kind.INFERENCE_EXPERIMENT) if x["Status"] not in ("Completed", "Cancelled")
            ]
            names = {x["EndpointMetadata"]["EndpointName"] for x in live}
            endpoints = {n: doc for n in names if (doc := store.get(conn, Kind.ENDPOINT, n)) is not None}
        now = self.ctx.clock.now()
        for action in plan(live, endpoints, now):
            self._apply(action, live)
        self._delay = next_event(live, self.ctx.clock.now())

    def _apply(self, action: Action, live: Sequence[dict[str, Any]]) -> None:
        log.info("inference experiment: %s", action)
        try:
            match action:
                case Begin(name=name):
                    self.experiments.begin(name)
                case End(name=name):
                    doc = next(x for x in live if x["Name"] == name)
                    actions, final = self.experiments.default_end(doc)
                    self.experiments.end(name, actions, final, "Completed", "the Schedule's EndTime came")
                case Settle(name=name, status=status, reason=reason):
                    self.experiments.settle(name, status, reason)
        except HomeportError as exc:  # the experiment or its endpoint moved on since this tick read them
            log.warning("inference experiment %s: %s", action.name, exc.message)
