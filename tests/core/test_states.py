"""Every status change goes through its transition table; a move the table does not allow raises."""

from __future__ import annotations

import pytest

from homeport.core.states import (
    ENDPOINT_TRANSITIONS,
    TRANSFORM_JOB_TRANSITIONS,
    EndpointStatus,
    IllegalTransition,
    TransformJobStatus,
    can_move,
    move,
)


@pytest.mark.parametrize("table", [ENDPOINT_TRANSITIONS, TRANSFORM_JOB_TRANSITIONS])
def test_every_status_has_a_row(table: dict) -> None:
    status_type = type(next(iter(table)))
    assert set(table) == set(status_type)


def test_a_move_the_table_allows_sets_the_status() -> None:
    doc = {"EndpointName": "e", "EndpointStatus": "Creating"}
    move(doc, "EndpointStatus", EndpointStatus.IN_SERVICE)
    assert doc["EndpointStatus"] == "InService"
    assert type(doc["EndpointStatus"]) is str


def test_staying_put_is_always_allowed() -> None:
    doc = {"EndpointStatus": "Deleting"}
    move(doc, "EndpointStatus", EndpointStatus.DELETING)
    assert doc["EndpointStatus"] == "Deleting"


@pytest.mark.parametrize(
    ("key", "current", "new"),
    [
        ("EndpointStatus", "Deleting", EndpointStatus.IN_SERVICE),
        ("EndpointStatus", "Failed", EndpointStatus.UPDATING),
        ("EndpointStatus", "Creating", EndpointStatus.UPDATING),
        ("TransformJobStatus", "Completed", TransformJobStatus.IN_PROGRESS),
        ("TransformJobStatus", "Stopped", TransformJobStatus.FAILED),
        ("TransformJobStatus", "InProgress", TransformJobStatus.STOPPED),
    ],
)
def test_a_move_the_table_does_not_allow_raises_and_changes_nothing(key: str, current: str, new: object) -> None:
    doc = {key.replace("Status", "Name"): "x", key: current}
    with pytest.raises(IllegalTransition, match=f"x: {key} cannot move from {current} to"):
        move(doc, key, new)  # type: ignore[type-var]
    assert doc[key] == current


def test_a_stopping_job_that_finishes_first_ends_as_it_ended() -> None:
    assert can_move(TransformJobStatus.STOPPING, TransformJobStatus.COMPLETED)
    assert can_move(TransformJobStatus.STOPPING, TransformJobStatus.STOPPED)
    assert not can_move(TransformJobStatus.COMPLETED, TransformJobStatus.STOPPING)


@pytest.mark.parametrize("status", list(EndpointStatus))
def test_every_endpoint_can_be_deleted(status: EndpointStatus) -> None:
    assert can_move(status, EndpointStatus.DELETING)
