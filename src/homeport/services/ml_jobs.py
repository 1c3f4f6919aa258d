"""What the training and processing job services share: a job recorded InProgress for the runner to pick up,
described, listed, and asked to stop. Each kind says how its request is checked and what its record holds."""

from __future__ import annotations

from typing import Any, ClassVar

from homeport.core.arns import arn
from homeport.core.states import ProcessingJobStatus, TrainingJobStatus, move
from homeport.errors import ResourceInUse, ResourceNotFound, ValidationError
from homeport.services import events, listing
from homeport.services.context import Context, public
from homeport.store import Kind
from homeport.store.db import Duplicate

DEFAULT_MAX_RUNTIME_S = 86_400  # SageMaker's default StoppingCondition.MaxRuntimeInSeconds
ENDED = ("Completed", "Failed", "Stopped")


class JobService:
    kind: ClassVar[Kind]
    label: ClassVar[str]  # "TrainingJob": the stem of its fields (TrainingJobName, TrainingJobStatus, …)
    status: ClassVar[type[TrainingJobStatus] | type[ProcessingJobStatus]]
    summary: ClassVar[tuple[str, ...]]  # the fields of its List… summaries

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def noun(self) -> str:
        return "training job" if self.label == "TrainingJob" else "processing job"

    def check(self, params: dict[str, Any]) -> None:
        """Refuse what the kind cannot run (ValidationError saying what to do instead)."""

    def record(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        """The kind's own fields of the new job's record."""
        raise NotImplementedError

    def stopping(self, doc: dict[str, Any], now: float) -> None:
        """What else a stop changes in the record (a training job's SecondaryStatus)."""

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.store.transaction() as conn:
            doc = self.insert(conn, params)
        self.ctx.wake()
        return {f"{self.label}Arn": doc[f"{self.label}Arn"]}

    def insert(self, conn: Any, params: dict[str, Any]) -> dict[str, Any]:
        """Check and record a new job in `conn`'s transaction (the runner starts it once that commits)."""
        name = params[f"{self.label}Name"]
        job_arn = arn(self.ctx.settings, self.noun.replace(" ", "-"), name)
        self.check(params)
        now = self.ctx.clock.now()
        doc: dict[str, Any] = {
            f"{self.label}Name": name,
            f"{self.label}Arn": job_arn,
            f"{self.label}Status": self.status.IN_PROGRESS.value,
            **self.record(params, now),
            "StoppingCondition": {"MaxRuntimeInSeconds": DEFAULT_MAX_RUNTIME_S, **params.get("StoppingCondition", {})},
            "CreationTime": now,
            "LastModifiedTime": now,
        }
        store = self.ctx.store
        try:
            store.insert(conn, self.kind, doc, name=name, arn=job_arn, status=doc[f"{self.label}Status"])
        except Duplicate:
            raise ResourceInUse(
                f"{self.noun.capitalize()} names must be unique within an AWS account and region, and a "
                f"{self.noun} with this name already exists ({job_arn})."
            ) from None
        store.put_tags(conn, job_arn, params.get("Tags", []))
        events.ml_job(conn, self.ctx.settings, self.label, doc, now)
        return doc

    def get(self, conn: Any, name: str) -> dict[str, Any]:
        doc = self.ctx.store.get(conn, self.kind, name)
        if doc is None:
            raise ResourceNotFound(f"Requested resource not found: {self.noun.capitalize()} {name} does not exist.")
        return doc

    def describe(self, name: str) -> dict[str, Any]:
        with self.ctx.store.reading() as conn:
            return public(self.get(conn, name))

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        return listing.list_reply(
            self.ctx.store, self.kind, params, f"{self.label}Summaries", self.summary, "StatusEquals"
        )

    def stop(self, name: str) -> dict[str, Any]:
        store, key = self.ctx.store, f"{self.label}Status"
        with store.transaction() as conn:
            doc = self.get(conn, name)
            if doc[key] in ENDED:
                raise ValidationError(
                    f"The {self.noun} {name} has already ended ({doc[key]}); only a job that is InProgress can be "
                    "stopped."
                )
            if doc[key] == self.status.IN_PROGRESS.value:
                now = self.ctx.clock.now()
                move(doc, key, self.status.STOPPING)  # type: ignore[type-var]  # the kind's own status
                self.stopping(doc, now)
                doc["LastModifiedTime"] = now
                store.replace(conn, self.kind, name, doc, status=doc[key])
                events.ml_job(conn, self.ctx.settings, self.label, doc, now)
        self.ctx.wake()
        return {}
