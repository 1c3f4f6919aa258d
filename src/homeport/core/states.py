"""Lifecycle states, spelled as SageMaker spells them, with the allowed transitions beside them.

Every status change goes through `move()`, which consults the status's table: a move the table does not allow
is a bug in homeport (never the user's doing) and raises `IllegalTransition`, which the tests catch.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from enum import StrEnum
from typing import Any, TypeVar


class EndpointStatus(StrEnum):
    OUT_OF_SERVICE = "OutOfService"
    CREATING = "Creating"
    UPDATING = "Updating"
    SYSTEM_UPDATING = "SystemUpdating"
    ROLLING_BACK = "RollingBack"
    IN_SERVICE = "InService"
    DELETING = "Deleting"
    FAILED = "Failed"
    UPDATE_ROLLBACK_FAILED = "UpdateRollbackFailed"


S = EndpointStatus

ENDPOINT_TRANSITIONS: dict[EndpointStatus, frozenset[EndpointStatus]] = {
    S.CREATING: frozenset({S.IN_SERVICE, S.FAILED, S.DELETING}),
    S.IN_SERVICE: frozenset({S.UPDATING, S.SYSTEM_UPDATING, S.DELETING}),
    # A rolling deployment rolls back through RollingBack, which ends InService or, when the old fleet cannot start
    # again, UpdateRollbackFailed.
    S.UPDATING: frozenset({S.IN_SERVICE, S.DELETING, S.ROLLING_BACK}),
    # After a restart every endpoint that was serving is brought back through SystemUpdating.
    S.SYSTEM_UPDATING: frozenset({S.IN_SERVICE, S.DELETING, S.UPDATING}),
    S.FAILED: frozenset({S.DELETING}),
    S.DELETING: frozenset(),
    S.OUT_OF_SERVICE: frozenset({S.DELETING}),
    S.ROLLING_BACK: frozenset({S.IN_SERVICE, S.DELETING, S.UPDATE_ROLLBACK_FAILED}),
    # A restart brings back the old fleet whole.
    S.UPDATE_ROLLBACK_FAILED: frozenset({S.DELETING, S.UPDATING, S.SYSTEM_UPDATING}),
}

# Statuses in which the controller keeps instances converging on the endpoint's target.
CONVERGING = frozenset({S.CREATING, S.UPDATING, S.SYSTEM_UPDATING, S.IN_SERVICE})
# Statuses in which an endpoint that has been in service keeps taking requests (an update or scaling goes on
# behind it).
TAKING_REQUESTS = frozenset({S.IN_SERVICE, S.UPDATING, S.SYSTEM_UPDATING, S.ROLLING_BACK, S.UPDATE_ROLLBACK_FAILED})
# Statuses from which UpdateEndpointWeightsAndCapacities is accepted; UpdateEndpoint also takes an endpoint that a
# failed rollback left UpdateRollbackFailed (the way back to InService).
UPDATABLE = frozenset({S.IN_SERVICE})
REDEPLOYABLE = frozenset({S.IN_SERVICE, S.UPDATE_ROLLBACK_FAILED})


class TransformJobStatus(StrEnum):
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"


J = TransformJobStatus

TRANSFORM_JOB_TRANSITIONS: dict[TransformJobStatus, frozenset[TransformJobStatus]] = {
    J.IN_PROGRESS: frozenset({J.COMPLETED, J.FAILED, J.STOPPING}),
    # A job that completes or fails before the stop reaches it ends as it ended.
    J.STOPPING: frozenset({J.STOPPED, J.COMPLETED, J.FAILED}),
    J.COMPLETED: frozenset(),
    J.FAILED: frozenset(),
    J.STOPPED: frozenset(),
}

TRANSFORM_JOB_ENDED = frozenset({J.COMPLETED, J.FAILED, J.STOPPED})


class TrainingJobStatus(StrEnum):
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"


class ProcessingJobStatus(StrEnum):  # the same words as a training job's, and the same moves
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"


MlJob = TypeVar("MlJob", TrainingJobStatus, ProcessingJobStatus)


def _job_transitions(s: type[MlJob]) -> dict[MlJob, frozenset[MlJob]]:
    return {
        # MaxRuntimeInSeconds passing stops a job without a Stop call: InProgress -> Stopped.
        s.IN_PROGRESS: frozenset({s.COMPLETED, s.FAILED, s.STOPPING, s.STOPPED}),
        s.STOPPING: frozenset({s.STOPPED, s.COMPLETED, s.FAILED}),
        s.COMPLETED: frozenset(),
        s.FAILED: frozenset(),
        s.STOPPED: frozenset(),
    }


class SecondaryStatus(StrEnum):
    """What a training job is doing, as DescribeTrainingJob's SecondaryStatus says it."""

    STARTING = "Starting"
    DOWNLOADING = "Downloading"
    TRAINING = "Training"
    UPLOADING = "Uploading"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    MAX_RUNTIME_EXCEEDED = "MaxRuntimeExceeded"
    COMPLETED = "Completed"
    FAILED = "Failed"


class AlarmState(StrEnum):
    """A CloudWatch alarm's StateValue."""

    OK = "OK"
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


Status = TypeVar("Status", EndpointStatus, TransformJobStatus, TrainingJobStatus, ProcessingJobStatus)

_TABLES: dict[type[StrEnum], Mapping[Any, frozenset[Any]]] = {
    EndpointStatus: ENDPOINT_TRANSITIONS,
    TransformJobStatus: TRANSFORM_JOB_TRANSITIONS,
    TrainingJobStatus: _job_transitions(TrainingJobStatus),
    ProcessingJobStatus: _job_transitions(ProcessingJobStatus),
}


class IllegalTransition(Exception):
    """A status change that its transition table does not allow."""


def can_move(current: Status, new: Status) -> bool:
    return current == new or new in _TABLES[type(new)][current]


def move(doc: MutableMapping[str, Any], key: str, new: Status) -> None:
    """Set `doc[key]` (a resource's status field) to `new`, if its table allows the move from the current one."""
    current = type(new)(doc[key])
    if not can_move(current, new):
        raise IllegalTransition(
            f"{doc.get(key.replace('Status', 'Name'), '?')}: {key} cannot move from {current} to {new}"
        )
    doc[key] = new.value
