"""The endpoint controller's executor: what it writes when a decision meets an endpoint that moved on."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.controllers.endpoint_plan import AbortUpdate, FailEndpoint, Promote
from homeport.controllers.endpoints import EndpointController
from homeport.core.clock import ManualClock
from homeport.dataplane.router import Router
from homeport.engines.inprocess import InProcessEngine
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store import Kind, Store


def controller_with(tmp_path: Path, status: str) -> tuple[EndpointController, Store]:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    doc = {
        "EndpointName": "ep",
        "EndpointArn": "arn:aws:sagemaker:us-east-1:000000000000:endpoint/ep",
        "EndpointStatus": status,
        "CreationTime": 0.0,
        "LastModifiedTime": 0.0,
        "_target": {"config": "new", "variants": []},
        "_serving": {"config": "old", "variants": []},
    }
    with store.transaction() as conn:
        store.insert(conn, Kind.ENDPOINT, doc, name="ep", arn="arn:ep", status=status)
    ctx = Context(Settings(data_dir=tmp_path), store, ManualClock())
    return EndpointController(ctx, InProcessEngine(), Router()), store


def status_of(store: Store) -> str:
    with store.transaction() as conn:
        doc = store.get(conn, Kind.ENDPOINT, "ep")
    assert doc is not None
    return str(doc["EndpointStatus"])


@pytest.mark.parametrize("action", [Promote("ep"), FailEndpoint("ep", "boom"), AbortUpdate("ep", "boom")])
def test_a_decision_made_before_a_delete_does_not_undo_it(tmp_path: Path, action: object) -> None:
    controller, store = controller_with(tmp_path, "Deleting")
    controller._apply(action)  # type: ignore[arg-type]
    assert status_of(store) == "Deleting"


def test_a_promotion_puts_an_updating_endpoint_in_service(tmp_path: Path) -> None:
    controller, store = controller_with(tmp_path, "Updating")
    controller._apply(Promote("ep"))
    assert status_of(store) == "InService"


def test_a_deployment_under_way_at_a_restart_is_rolled_back_to_the_old_config(tmp_path: Path) -> None:
    controller, store = controller_with(tmp_path, "Updating")
    with store.transaction() as conn:
        doc = store.get(conn, Kind.ENDPOINT, "ep")
        assert doc is not None
        policy = {"TrafficRoutingConfiguration": {"Type": "LINEAR", "WaitIntervalInSeconds": 60}}
        progress = {"started": 0.0, "step": 0, "step_started": 1.0}
        doc["_deployment"] = {"config": {"BlueGreenUpdatePolicy": policy}, "progress": progress, "share": 0.5}
        store.replace(conn, Kind.ENDPOINT, "ep", doc, status="Updating")
    controller.restore()
    with store.transaction() as conn:
        doc = store.get(conn, Kind.ENDPOINT, "ep")
    assert doc is not None and "_deployment" not in doc
    assert doc["EndpointStatus"] == "SystemUpdating" and doc["_target"] == doc["_serving"] == {
        "config": "old",
        "variants": [],
    }
    assert "server restarted" in doc["FailureReason"]
    [ended] = doc["HomeportDeployments"]
    assert (ended["EndpointConfigName"], ended["Type"], ended["Outcome"]) == ("new", "LINEAR", "RolledBack")


def test_a_plain_update_under_way_at_a_restart_carries_on(tmp_path: Path) -> None:
    controller, store = controller_with(tmp_path, "Updating")
    controller.restore()
    assert status_of(store) == "Updating"


@pytest.mark.parametrize(("status", "outcome"), [("RollingBack", "RolledBack"), ("UpdateRollbackFailed", None)])
def test_a_rolling_deployment_at_a_restart_comes_back_on_the_old_config(
    tmp_path: Path, status: str, outcome: str | None
) -> None:
    controller, store = controller_with(tmp_path, status)
    with store.transaction() as conn:
        doc = store.get(conn, Kind.ENDPOINT, "ep")
        assert doc is not None
        policy = {"MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1}, "WaitIntervalInSeconds": 60}
        progress = {"started": 0.0, "step": 2, "step_started": None, "blue": 2, "reason": "alarm"}
        doc["_deployment"] = {"config": {"RollingUpdatePolicy": policy}, "progress": progress, "share": 0.5}
        doc["FailureReason"] = "alarm"
        store.replace(conn, Kind.ENDPOINT, "ep", doc, status=status)
    controller.restore()
    with store.transaction() as conn:
        doc = store.get(conn, Kind.ENDPOINT, "ep")
    assert doc is not None and "_deployment" not in doc
    assert doc["EndpointStatus"] == "SystemUpdating" and doc["_target"] == doc["_serving"]
    history = doc.get("HomeportDeployments", [])
    assert [(d["Type"], d["Outcome"]) for d in history] == ([("ROLLING", outcome)] if outcome else [])


def test_a_failed_rollback_keeps_the_deployment_for_the_traffic_split(tmp_path: Path) -> None:
    from homeport.controllers.endpoint_plan import FailRollback

    controller, store = controller_with(tmp_path, "RollingBack")
    with store.transaction() as conn:
        doc = store.get(conn, Kind.ENDPOINT, "ep")
        assert doc is not None
        policy = {"MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1}, "WaitIntervalInSeconds": 60}
        doc["_deployment"] = {"config": {"RollingUpdatePolicy": policy}, "progress": {"started": 0.0}, "share": 0.5}
        store.replace(conn, Kind.ENDPOINT, "ep", doc, status="RollingBack")
    controller._apply(FailRollback("ep", "no model data"))
    with store.transaction() as conn:
        doc = store.get(conn, Kind.ENDPOINT, "ep")
    assert doc is not None and doc["EndpointStatus"] == "UpdateRollbackFailed"
    assert doc["_deployment"]["share"] == 0.5 and doc["FailureReason"] == "no model data"
    assert [d["Outcome"] for d in doc["HomeportDeployments"]] == ["RollbackFailed"]
