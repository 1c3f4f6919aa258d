"""The inference-experiment controller's decisions, as a pure function of experiments, endpoints and the time."""

from __future__ import annotations

from typing import Any

import pytest

from homeport.controllers.experiments import Begin, End, Settle, next_event, plan


def experiment(status: str, start: float = 10.0, end: float = 100.0, **extra: Any) -> dict[str, Any]:
    return {
        "Name": "x",
        "Status": status,
        "Schedule": {"StartTime": start, "EndTime": end},
        "EndpointMetadata": {"EndpointName": "ep"},
        "_config": "x-config",
        **extra,
    }


def endpoint(status: str = "InService", config: str = "x-config", reason: str | None = None) -> dict[str, Any]:
    doc = {"EndpointStatus": status, "EndpointConfigName": config}
    if reason:
        doc["FailureReason"] = reason
    return {"ep": doc}


def test_a_created_experiment_begins_at_its_start_time() -> None:
    assert plan([experiment("Created")], endpoint(config="c1"), 9.9) == []
    assert plan([experiment("Created")], endpoint(config="c1"), 10.0) == [Begin("x")]


def test_a_starting_experiment_runs_once_the_endpoint_is_on_its_config() -> None:
    assert plan([experiment("Starting")], endpoint("Updating", "c1"), 11.0) == []
    assert plan([experiment("Starting")], endpoint(), 12.0) == [Settle("x", "Running")]
    failed = plan([experiment("Starting")], endpoint(config="c1", reason="no model data"), 12.0)
    assert failed == [Settle("x", "Cancelled", "the endpoint did not start the experiment: no model data")]


def test_a_running_experiment_ends_with_its_schedule_or_when_the_endpoint_moves_away() -> None:
    assert plan([experiment("Running")], endpoint(), 99.0) == []
    assert plan([experiment("Running")], endpoint(), 100.0) == [End("x")]
    assert plan([experiment("Running")], endpoint("Updating", "x-config"), 50.0) == []  # someone's update: wait
    moved = plan([experiment("Running")], endpoint(config="other"), 50.0)
    assert moved == [Settle("x", "Cancelled", "the endpoint was updated to other outside the experiment")]


@pytest.mark.parametrize(
    ("final", "config", "wanted"),
    [
        ("x-final", "x-final", Settle("x", "Completed")),
        (None, "x-config", Settle("x", "Completed")),  # both variants retained: no update to wait for
        ("x-final", "x-config", Settle("x", "Cancelled", "the endpoint did not move to the experiment's outcome: bad")),
    ],
)
def test_a_stopping_experiment_ends_when_the_endpoint_update_does(
    final: str | None, config: str, wanted: Settle
) -> None:
    x = experiment("Stopping", _final=final, _desired="Completed")
    assert plan([x], endpoint(config=config, reason="bad"), 60.0) == [wanted]
    assert plan([x], endpoint("Updating", config), 60.0) == []


def test_a_stop_asked_to_cancel_ends_cancelled() -> None:
    x = experiment("Stopping", _final="x-final", _desired="Cancelled")
    assert plan([x], endpoint(config="x-final"), 60.0) == [Settle("x", "Cancelled")]


def test_an_experiment_whose_endpoint_is_gone_is_cancelled_and_ended_ones_are_left_alone() -> None:
    for status in ("Created", "Starting", "Running", "Stopping"):
        assert plan([experiment(status)], {}, 50.0) == [Settle("x", "Cancelled", "the endpoint was deleted")]
        assert plan([experiment(status)], endpoint("Deleting"), 50.0) == [
            Settle("x", "Cancelled", "the endpoint was deleted")
        ]
    for status in ("Completed", "Cancelled"):
        assert plan([experiment(status)], {}, 500.0) == []


def test_the_controller_wakes_for_the_next_start_or_end() -> None:
    assert next_event([], 0.0) == 3600.0
    assert next_event([experiment("Created", start=30.0)], 10.0) == 20.0
    assert next_event([experiment("Running", end=100.0)], 99.5) == 0.5
    assert next_event([experiment("Running", end=100.0)], 10.0) == 1.0  # an update under way is looked at each second
    assert next_event([experiment("Created", start=5.0)], 10.0) == 0.0
