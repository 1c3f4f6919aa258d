"""The async worker's decisions with a manual clock: a request past its TTL fails as expired, untouched."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

from homeport.controllers.async_invocations import AsyncWorker
from homeport.core.clock import ManualClock
from homeport.dataplane.router import Route, Router, VariantRoute
from homeport.objects.local import LocalObjectStore
from homeport.objects.locations import Locator
from homeport.services.async_invocations import backlog_metrics
from homeport.services.context import Context
from homeport.services.notifications import Result
from homeport.settings import Settings
from homeport.store import Store, doors
from homeport.store import async_queue as queue
from homeport.store.async_queue import AsyncRequest, RequestState

DOOR = 7  # the front door claiming, in tests of one door


def test_a_request_past_its_ttl_fails_as_expired_without_reaching_a_model(tmp_path: Path) -> None:
    clock = ManualClock()
    objects = LocalObjectStore(tmp_path / "objects", clock)
    objects.create_bucket("results")
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    ctx = Context(Settings(data_dir=tmp_path), store, clock, Locator(objects))
    router = Router()
    route = Route("ep", [], {"OutputConfig": {"S3OutputPath": "s3://results/"}})  # no instance: nothing to reach
    router.publish({"ep": route})
    request = AsyncRequest(
        id="r1",
        endpoint="ep",
        inference_id="inf-1",
        input="s3://results/never-read.csv",
        output="s3://results/r1.out",
        failure="s3://results/r1.out-error",
        content_type="text/csv",
        accept=None,
        custom_attributes=None,
        received=clock.now(),
        expires=clock.now() + 60,
        timeout_s=900.0,
    )
    with store.transaction() as conn:
        queue.enqueue(conn, request)
    clock.advance(61)
    worker = AsyncWorker(ctx, router, notify=lambda: None)
    with store.transaction() as conn:
        (claimed,) = queue.claim(conn, "ep", 1, DOOR)
    ended = asyncio.run(worker._process(route, claimed))
    assert ended is not None and ended.status == "Failed" and ended.location == "s3://results/r1.out-error"
    _, stream = objects.open("results", "r1.out-error")
    document = json.loads(stream.read())
    assert document["InferenceId"] == "inf-1" and "expired" in document["FailureReason"]
    assert "RequestTTLSeconds (60 s)" in document["FailureReason"]
    store.close()
    objects.close()


def test_claims_are_oldest_first_and_a_restart_queues_what_was_running(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with store.transaction() as conn:
        for i, received in enumerate((30.0, 10.0, 20.0)):
            queue.enqueue(
                conn,
                AsyncRequest(
                    f"r{i}",
                    "ep",
                    f"i{i}",
                    "s3://b/in",
                    "s3://b/o",
                    "s3://b/f",
                    None,
                    None,
                    None,
                    received,
                    received + 60,
                    900.0,
                ),
            )
        assert [r.id for r in queue.claim(conn, "ep", 2, DOOR)] == ["r1", "r2"]
        stats = queue.stats(conn, "ep")
        assert (stats.queued, stats.running, stats.oldest) == (1, 2, 10.0)
        metrics = backlog_metrics(stats, instances=2, now=25.0)
        assert metrics["ApproximateBacklogSize"] == 3 and metrics["ApproximateBacklogSizePerInstance"] == 1.5
        assert metrics["ApproximateAgeOfOldestRequest"] == 15.0 and metrics["HasBacklogWithoutCapacity"] == 0
        assert backlog_metrics(stats, instances=0, now=25.0)["HasBacklogWithoutCapacity"] == 1
        # The server's next run is another door: what the last one was running is queued again.
        assert queue.requeue_orphans(conn, lambda c, door: doors.alive(c, door, DOOR + 1)) == 2
        again = queue.claim(conn, "ep", 3, DOOR)
        assert [r.id for r in again] == ["r1", "r2", "r0"] and [r.attempts for r in again] == [2, 2, 1]
        queue.release(conn, "r1", DOOR, count_attempt=False)
        assert [r.attempts for r in queue.claim(conn, "ep", 1, DOOR)] == [2]  # a try that never reached a model
        queue.release(conn, "r1", DOOR, count_attempt=False)
        assert queue.queued_endpoints(conn) == {"ep"}
        # received + 60 s: r1 (10 s) and r2 (20 s) are past their TTL at 75 s; r2 is running, so r1 alone.
        assert [r.id for r in queue.claim_expired(conn, 75.0, 10, DOOR)] == ["r1"]
        assert queue.queued_endpoints(conn) == set()
        assert queue.finish(conn, "r1", RequestState.FAILED, DOOR)
        assert queue.finish(conn, "r2", RequestState.DONE, DOOR)
        assert queue.prune(conn, ended_before=15.0) == 1  # r1 (received at 10) alone: r2 is newer, r0 running
        stats = queue.stats(conn, "ep")
        assert (stats.running, stats.done, stats.failed) == (1, 1, 0)
    store.close()


def test_an_endpoint_at_zero_is_started_once_and_again_only_after_a_pause_or_an_instance(tmp_path: Path) -> None:
    clock = ManualClock()
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    router = Router()
    router.publish({"ep": Route("ep", [VariantRoute("v1", 1.0, [])], {"OutputConfig": {"S3OutputPath": "s3://b/"}})})
    started: list[float] = []

    def scale_from_zero(endpoint: str) -> bool:
        started.append(clock.t)
        return True

    worker = AsyncWorker(Context(Settings(data_dir=tmp_path), store, clock), router, lambda: None, scale_from_zero)
    worker._next_sweep = float("inf")  # this test is about starting, not expiry
    worker.run_once()
    assert started == [] and not worker.waiting  # nothing queued: nothing to start
    with store.transaction() as conn:
        queue.enqueue(
            conn,
            AsyncRequest(
                "r1", "ep", "i1", "s3://b/in", "s3://b/o", "s3://b/f", None, None, None, clock.t, clock.t + 600, 900.0
            ),
        )
    worker.run_once()
    worker.run_once()
    assert started == [clock.t] and worker.waiting
    clock.advance(29)
    worker.run_once()
    assert len(started) == 1  # the instance that failed to come up is not started over at once
    clock.advance(1)
    worker.run_once()
    assert len(started) == 2
    worker._next_start.clear()  # as when an instance came up, then went away again
    worker.run_once()
    assert len(started) == 3
    store.close()


def _queued(i: int) -> AsyncRequest:
    """Request r<i> of endpoint ep, received at i s, expiring at 99 s."""
    return AsyncRequest(
        f"r{i}", "ep", f"i{i}", "s3://b/in", "s3://b/o", "s3://b/f", None, None, None, float(i), 99.0, 9.0
    )


def test_ending_a_request_hands_its_slot_the_next_one_while_the_endpoint_has_room(tmp_path: Path) -> None:
    clock = ManualClock()
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    ctx = Context(Settings(data_dir=tmp_path), store, clock)
    config = {
        "OutputConfig": {"S3OutputPath": "s3://results/"},
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 1},
    }
    instance = SimpleNamespace()  # counted, never reached
    router = Router()
    router.publish({"ep": Route("ep", [VariantRoute("v", 1.0, [instance])], config)})
    worker = AsyncWorker(ctx, router, notify=lambda: None)
    with store.transaction() as conn:
        for i in range(3):
            queue.enqueue(conn, _queued(i))
        (first,) = queue.claim(conn, "ep", 1, 0)
    done = Result("Completed", "s3://b/o", "text/csv", b"1")
    worker.in_flight["ep"] = 1
    assert worker._serving("ep") is not None  # its own slot: room for it to go on
    with store.transaction() as conn:
        notify, following = worker._finish(conn, first, config, done, True)
    assert (notify, following is not None and following.id) == (False, "r1")
    with store.transaction() as conn:
        assert worker._finish(conn, following, config, done, False) == (False, None)
        stats = queue.stats(conn, "ep")
    assert (stats.done, stats.running, stats.queued) == (2, 0, 1)
    worker.in_flight["ep"] = 2  # more in flight than one instance allows (it was scaled in): this slot ends
    assert worker._serving("ep") is None
    worker.in_flight["ep"] = 1
    router.publish({"ep": Route("ep", [VariantRoute("v", 1.0, [instance])], None)})
    assert worker._serving("ep") is None  # turned real-time: the sweep ends what is queued
    store.close()


def test_claims_on_postgresql_skip_the_rows_another_server_is_claiming() -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    assert "FOR UPDATE SKIP LOCKED" in str(queue._CLAIM.compile(dialect=postgresql.dialect()))
    assert "FOR UPDATE" not in str(queue._CLAIM.compile(dialect=sqlite.dialect()))  # one writer at a time there


class _Door(AsyncWorker):
    """A front door's worker that records what it starts on instead of sending it."""

    def __init__(self, ctx: Context, door: int, config: dict[str, object]) -> None:
        router = Router()  # the one instance both doors route to (published by the leader)
        router.publish({"ep": Route("ep", [VariantRoute("v", 1.0, [SimpleNamespace()])], config)})
        super().__init__(ctx, router, lambda: None, door=door, leading=lambda: False)
        self.started: list[str] = []

    async def _handle(self, route: Route, request: AsyncRequest) -> None:
        self.started.append(request.id)


def test_front_doors_share_the_endpoints_room_and_end_only_what_they_hold(tmp_path: Path) -> None:
    """Two workers on one queue, as two front doors on one PostgreSQL: together they keep within the endpoint's
    room; a door taken for gone has its requests queued again for the other, and if it comes back after all it
    ends nothing (so no request ends, nor is notified, twice)."""
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    ctx = Context(Settings(data_dir=tmp_path), store, ManualClock())
    config = {"OutputConfig": {"S3OutputPath": "s3://b/"}, "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 2}}
    a, b = _Door(ctx, 1, config), _Door(ctx, 2, config)
    with store.transaction() as conn:
        for i in range(4):
            queue.enqueue(conn, _queued(i))

    async def tick(*workers: _Door) -> None:
        for worker in workers:
            worker.run_once()
        await asyncio.sleep(0)  # the started handlers run

    asyncio.run(tick(a, b))
    assert (a.started, b.started) == (["r0", "r1"], [])  # a took the endpoint's whole room (2 per instance)
    with store.transaction() as conn:
        assert not queue.finish(conn, "r0", RequestState.DONE, 2)  # b does not hold r0: nothing ends
        assert queue.requeue_orphans(conn, lambda c, door: door == 2) == 2  # a is gone: its two queued again
    asyncio.run(tick(b))
    assert b.started == ["r0", "r1"]
    r0 = _queued(0)
    done = Result("Completed", "s3://b/o", "text/csv", b"1")
    with store.transaction() as conn:
        assert a._finish(conn, r0, config, done, True) == (False, None)  # a, back, ends and claims nothing
        assert b._finish(conn, r0, config, done, False) == (False, None)  # b ends it (no topic: no notification)
        stats = queue.stats(conn, "ep")
    assert (stats.queued, stats.running, stats.done) == (2, 1, 1)
    store.close()


def test_a_request_running_since_before_owners_existed_is_queued_again(tmp_path: Path) -> None:
    """A store migrated while requests ran holds running requests without an owner: nobody can end them, so they
    are orphans whatever doors are alive."""
    from sqlalchemy import update

    from homeport.store.async_queue import async_requests

    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with store.transaction() as conn:
        for i in range(2):
            queue.enqueue(conn, _queued(i))
        queue.claim(conn, "ep", 2, DOOR)
        conn.execute(update(async_requests).where(async_requests.c.id == "r0").values(owner=None))
        assert queue.requeue_orphans(conn, lambda c, door: True) == 1
        assert (queue.stats(conn, "ep").queued, queue.stats(conn, "ep").running) == (1, 1)
        assert queue.requeue_orphans(conn, lambda c, door: True) == 0
    store.close()
