"""Several front doors on one PostgreSQL database: every one serves the API, exactly one runs the controllers
(store/lease.py), a write on a follower wakes the leader's controllers at once, and when the leader goes another
front door takes over and picks up every endpoint where it was."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from homeport.store import instance_routes
from tests.conftest import KEYS, assert_scores, boto_client, csv_rows, deploy, wait_in_service
from tests.inprocess import InProcessServer

KEY_PAIR = {"access_key_id": KEYS["HOMEPORT_ACCESS_KEY_ID"], "secret_access_key": KEYS["HOMEPORT_SECRET_ACCESS_KEY"]}
# Controllers that only look every minute: an endpoint created on a follower is deployed quickly only if the
# follower's wake-up reaches the leader.
SLOW_TICKS = {"health_interval_s": 60.0, "metric_period_seconds": 1}


def until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, "not within the deadline"
        time.sleep(0.05)


ANSWERED: Counter[str] = Counter()  # successful invocations, per front door URL


def invoke(url: str, endpoint: str, model: dict[str, Any]) -> None:
    x = model["x"][:3]
    reply = boto_client("sagemaker-runtime", url).invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Body=csv_rows(x)
    )
    assert_scores(reply["Body"].read(), model, x)
    ANSWERED[url] += 1


def invocations(url: str, endpoint: str) -> float:
    """The endpoint's answered invocations over the last ten minutes, as CloudWatch on `url` sums them: Invocations
    less Invocation5XXErrors, since a request sent to an instance that was just going away counts as a failed
    invocation before the retry that answers it."""
    return _sum(url, endpoint, "Invocations") - _sum(url, endpoint, "Invocation5XXErrors")


def _sum(url: str, endpoint: str, metric: str) -> float:
    now = datetime.now(UTC)
    points = boto_client("cloudwatch", url).get_metric_statistics(
        Namespace="AWS/SageMaker", MetricName=metric, StartTime=now - timedelta(minutes=10), EndTime=now,
        Period=600, Statistics=["Sum"],
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "v1"}],
    )["Datapoints"]  # fmt: skip
    return sum(p["Sum"] for p in points)


def test_one_front_door_leads_a_follower_write_wakes_it_and_a_follower_takes_over(
    database: Callable[[str], dict[str, str]], xgb_model: dict[str, Any], tmp_path: Path
) -> None:
    # Instances on TCP with their secrets: what front doors on other machines would reach them by.
    shared = {**database("doors"), **KEY_PAIR, **SLOW_TICKS, "instance_host": "127.0.0.1"}
    b = InProcessServer(tmp_path / "b", **shared).__enter__()
    b_running = True
    try:
        with InProcessServer(tmp_path / "a", **shared) as a:
            # b started first and leads; a serves the API but runs no controller.
            assert b.server.lease.held and not a.server.lease.held
            sm_a = boto_client("sagemaker", a.url)
            names = deploy(sm_a, xgb_model["url"], wait=False)
            # Created on the follower; in service within seconds only because the follower woke the leader.
            until(lambda: sm_a.describe_endpoint(EndpointName=names["endpoint"])["EndpointStatus"] == "InService")
            invoke(b.url, names["endpoint"], xgb_model)
            assert b.engine.instances and not a.engine.instances
            # The follower routes to the leader's instances, from the routes it published in the database.
            until(lambda: _serves(a.url, names["endpoint"], xgb_model))
            with a.server.store.reading() as conn:
                assert all(r.address.startswith("tcp://") for r in instance_routes.read(conn))
            for _ in range(5):
                invoke(a.url, names["endpoint"], xgb_model)
            # Each front door stores the metrics of the requests it answered; read through either, they add up.
            answered = ANSWERED[a.url] + ANSWERED[b.url]
            assert ANSWERED[a.url] >= 5 and ANSWERED[b.url] >= 1
            until(lambda: invocations(a.url, names["endpoint"]) == answered)
            assert invocations(b.url, names["endpoint"]) == answered

            # b stops (its lease freed, its instances stopped); a takes over and restores the endpoint.
            b.__exit__(None, None, None)
            b_running = False
            until(lambda: a.server.lease.held)
            assert wait_in_service(sm_a, names["endpoint"])["EndpointConfigName"] == names["config"]
            until(lambda: bool(a.engine.instances))
            invoke(a.url, names["endpoint"], xgb_model)
    finally:
        if b_running:
            b.__exit__(None, None, None)


def test_a_follower_takes_over_from_a_killed_leader_within_seconds(
    database: Callable[[str], dict[str, str]], xgb_model: dict[str, Any], tmp_path: Path
) -> None:
    """Real `homeport serve` processes: the leader killed with SIGKILL (no goodbye: its connection's end frees the
    lease, its instances die with it); the follower takes the lease and serves the endpoint from instances of its
    own."""
    from homeport.server.process import ServerProcess

    env = {"HOMEPORT_DATABASE_URL": database("killed")["database_url"], "HOMEPORT_LOG_LEVEL": "warning", **KEYS}
    with (
        ServerProcess(tmp_path / "leader", env=env) as leader,
        ServerProcess(tmp_path / "follower", env=env) as follower,
    ):
        sm = boto_client("sagemaker", follower.url)
        names = deploy(sm, xgb_model["url"])
        invoke(leader.url, names["endpoint"], xgb_model)
        assert leader.instance_pids() and not follower.instance_pids()
        leader.stop(signal.SIGKILL)
        until(lambda: bool(follower.instance_pids()), timeout=30.0)
        until(lambda: _serves(follower.url, names["endpoint"], xgb_model), timeout=60.0)
        assert sm.describe_endpoint(EndpointName=names["endpoint"])["EndpointStatus"] == "InService"


def _serves(url: str, endpoint: str, model: dict[str, Any]) -> bool:

    try:
        invoke(url, endpoint, model)
    except ClientError:
        return False
    return True


def test_a_leader_that_loses_its_lease_stops_and_the_follower_takes_over(
    database: Callable[[str], dict[str, str]], xgb_model: dict[str, Any], tmp_path: Path
) -> None:
    """The leader's lease connection cut by the database (as a network partition or an administrator would): the
    leader stops acting and exits with an error, since another front door may already be running its endpoints.
    It leaves the published routes alone on its way out: a third front door routes to the new leader's instances."""
    import psycopg

    from homeport.server.process import ServerProcess
    from homeport.store.lease import LEADER_LOCK

    url = database("cut")["database_url"]
    env = {"HOMEPORT_DATABASE_URL": url, "HOMEPORT_LOG_LEVEL": "warning", **KEYS}
    with (
        ServerProcess(tmp_path / "leader", env=env) as leader,
        ServerProcess(tmp_path / "follower", env=env) as follower,
        ServerProcess(tmp_path / "third", env=env) as third,
    ):
        names = deploy(boto_client("sagemaker", leader.url), xgb_model["url"])
        until(lambda: _serves(third.url, names["endpoint"], xgb_model))
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            cut = conn.execute(
                # Advisory locks belong to a database: this test's, not the other tests' on the same server.
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                (LEADER_LOCK,),
            ).fetchall()
        assert cut == [(True,)]
        assert leader.proc is not None
        assert leader.proc.wait(30) == 1
        until(lambda: _serves(follower.url, names["endpoint"], xgb_model), timeout=60.0)
        until(lambda: _serves(third.url, names["endpoint"], xgb_model))


# Async requests: every front door claims from the one queue in the database, so they need one object store
# they all read inputs from and write outputs to: moto's S3 server stands in for it (tests/conftest.py `remote`).


def _s3_settings(remote: str) -> dict[str, str]:
    return {"s3_endpoint_url": remote, "s3_access_key_id": "remote-key", "s3_secret_access_key": "remote-secret"}


def _submit(url: str, endpoint: str, bucket: str, i: int) -> str:
    """Request i (its input's first field is i), through the front door at `url`; its OutputLocation."""
    reply = boto_client("sagemaker-runtime", url).invoke_endpoint_async(
        EndpointName=endpoint, InputLocation=f"s3://{bucket}/in/{i}.csv", ContentType="text/csv", InferenceId=f"r{i}"
    )
    return str(reply["OutputLocation"])


def _inputs(s3: Any, bucket: str, count: int) -> None:
    s3.create_bucket(Bucket=bucket)
    for i in range(count):
        s3.put_object(Bucket=bucket, Key=f"in/{i}.csv", Body=f"{i},0\n".encode())


def _each_answered_once(s3: Any, outputs: list[str], ended: Callable[[], list[tuple[str, int]]]) -> None:
    """Every output written with its own request's answer, and every request ended (notified) exactly once."""
    from tests.integration.test_async_inference import object_at

    until(lambda: all(object_at(s3, out) is not None for out in outputs), timeout=60.0)
    for i, out in enumerate(outputs):
        assert (object_at(s3, out) or b"").split(b",")[0] == str(i).encode()
    assert sorted(ended()) == sorted((f"r{i}", 1) for i in range(len(outputs)))


def _probe(tmp_path: Path) -> str:
    from tests.integration.conftest import PROBE, code_only_model

    return code_only_model(tmp_path, PROBE)


def test_two_front_doors_work_on_one_async_queue_and_each_request_ends_once(
    database: Callable[[str], dict[str, str]], remote: str, tmp_path: Path
) -> None:
    from sqlalchemy import func, select

    from homeport.store.async_queue import async_requests
    from homeport.store.notifications import async_notifications
    from tests.integration.test_async_inference import deploy_async

    shared = {**database("async-doors"), **KEY_PAIR, **_s3_settings(remote)}
    s3 = boto_client("s3", remote)
    _inputs(s3, "queue", 40)
    with InProcessServer(tmp_path / "a", **shared) as a, InProcessServer(tmp_path / "b", **shared) as b:
        follower = b if a.server.lease.held else a
        endpoint = deploy_async(
            boto_client("sagemaker", follower.url),
            _probe(tmp_path),
            "queue",
            env={"PROBE_MODE": "sleep", "PROBE_SLEEP": "0.05"},
            per_instance=4,
            notification={"SuccessTopic": "http://127.0.0.1:9/done"},  # refused: the notification stays queued
        )
        until(lambda: endpoint in follower.server.router.routes)  # the follower routes to the leader's instance
        outputs = [_submit((a, b)[i % 2].url, endpoint, "queue", i) for i in range(40)]

        def ended() -> list[tuple[str, int]]:
            with a.server.store.reading() as conn:
                n = async_notifications.c
                rows = conn.execute(
                    select(n.inference_id, func.count()).where(n.event == "InferenceResult").group_by(n.inference_id)
                ).all()
            return [(str(inference_id), int(count)) for inference_id, count in rows]

        _each_answered_once(s3, outputs, ended)
        with a.server.store.reading() as conn:
            owners = set(conn.execute(select(async_requests.c.owner).distinct()).scalars())
        assert owners == {a.server.lease.door, b.server.lease.door}  # both front doors worked on the queue


def test_a_killed_leaders_async_backlog_and_deployment_are_taken_over_and_nothing_ends_twice(
    database: Callable[[str], dict[str, str]], remote: str, xgb_model: dict[str, Any], tmp_path: Path
) -> None:
    """The leader SIGKILLed with an async backlog queued, requests running on its instance and an endpoint still
    being created: the follower takes the lease, queues again what the dead door was running, deploys what it
    was deploying, and works through the backlog. Every request is answered, and ends exactly once."""
    import psycopg

    from homeport.server.process import ServerProcess
    from tests.integration.test_async_inference import deploy_async, object_at

    url = database("async-killed")["database_url"]
    env = {
        "HOMEPORT_DATABASE_URL": url,
        "HOMEPORT_LOG_LEVEL": "warning",
        "HOMEPORT_S3_ENDPOINT_URL": remote,
        "HOMEPORT_S3_ACCESS_KEY_ID": "remote-key",
        "HOMEPORT_S3_SECRET_ACCESS_KEY": "remote-secret",
        **KEYS,
    }
    s3 = boto_client("s3", remote)
    _inputs(s3, "backlog", 24)
    with (
        ServerProcess(tmp_path / "leader", env=env) as leader,
        ServerProcess(tmp_path / "follower", env=env) as follower,
    ):
        sm = boto_client("sagemaker", follower.url)
        endpoint = deploy_async(
            sm,
            _probe(tmp_path),
            "backlog",
            env={"PROBE_MODE": "sleep", "PROBE_SLEEP": "0.3"},
            notification={"SuccessTopic": "http://127.0.0.1:9/done"},
        )
        outputs = [_submit((leader, follower)[i % 2].url, endpoint, "backlog", i) for i in range(24)]
        until(lambda: sum(object_at(s3, out) is not None for out in outputs) >= 3)
        realtime = deploy(sm, xgb_model["url"], wait=False)  # Creating when the leader dies
        leader.stop(signal.SIGKILL)

        def ended() -> list[tuple[str, int]]:
            with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
                rows = conn.execute(
                    "SELECT inference_id, count(*) FROM async_notifications WHERE event = 'InferenceResult' "
                    "GROUP BY inference_id"
                )
                return [(str(inference_id), int(count)) for inference_id, count in rows]

        _each_answered_once(s3, outputs, ended)
        assert wait_in_service(sm, realtime["endpoint"])["EndpointStatus"] == "InService"
        until(lambda: _serves(follower.url, realtime["endpoint"], xgb_model))
