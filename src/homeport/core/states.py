"""Lifecycle states, spelled as SageMaker spells them, with the allowed transitions beside them."""

from __future__ import annotations

from enum import StrEnum


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
    S.UPDATING: frozenset({S.IN_SERVICE, S.DELETING}),
    # After a restart every endpoint that was serving is brought back through SystemUpdating.
    S.SYSTEM_UPDATING: frozenset({S.IN_SERVICE, S.DELETING, S.UPDATING}),
    S.FAILED: frozenset({S.DELETING}),
    S.DELETING: frozenset(),
    S.OUT_OF_SERVICE: frozenset({S.DELETING}),
    S.ROLLING_BACK: frozenset({S.IN_SERVICE, S.DELETING}),
    S.UPDATE_ROLLBACK_FAILED: frozenset({S.DELETING, S.UPDATING}),
}

# Statuses in which the controller keeps instances converging on the endpoint's target.
CONVERGING = frozenset({S.CREATING, S.UPDATING, S.SYSTEM_UPDATING, S.IN_SERVICE})
# Statuses in which an endpoint that has been in service keeps taking requests (an update or scaling goes on
# behind it).
TAKING_REQUESTS = frozenset({S.IN_SERVICE, S.UPDATING, S.SYSTEM_UPDATING})
# Statuses from which UpdateEndpoint / UpdateEndpointWeightsAndCapacities are accepted.
UPDATABLE = frozenset({S.IN_SERVICE})


def can_move(current: EndpointStatus, new: EndpointStatus) -> bool:
    return current == new or new in ENDPOINT_TRANSITIONS[current]


class TransformJobStatus(StrEnum):
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"


J = TransformJobStatus

TRANSFORM_JOB_TRANSITIONS: dict[TransformJobStatus, frozenset[TransformJobStatus]] = {
    J.IN_PROGRESS: frozenset({J.COMPLETED, J.FAILED, J.STOPPING}),
    J.STOPPING: frozenset({J.STOPPED}),
    J.COMPLETED: frozenset(),
    J.FAILED: frozenset(),
    J.STOPPED: frozenset(),
}

TRANSFORM_JOB_ENDED = frozenset({J.COMPLETED, J.FAILED, J.STOPPED})


class AlarmState(StrEnum):
    """A CloudWatch alarm's StateValue."""

    OK = "OK"
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
