"""The asynchronous-inference queue, durable in the metadata store.

A request is `queued` when accepted, `running` while an instance works on it, and `done` or `failed` once its
output or failure object is written. Claiming moves the oldest queued requests to `running` in one
transaction (FIFO on a best-effort basis, as SageMaker's queue is), in the name of the front door that claims
them (`owner`, its door number: store/doors.py). The requests of a front door that ended (crashed, killed, cut
off) go back to `queued`, so every accepted request ends with an output or a failure object. A request ends
only in the name of the door that holds its claim: one that lost it (its requests were given to another door)
ends nothing, so no request is ended, nor notified, twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)

from homeport.store.db import metadata


class RequestState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


async_requests = Table(
    "async_requests",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("endpoint", String(63), nullable=False),
    Column("inference_id", String(64), nullable=False),
    Column("input", Text, nullable=False),
    Column("output", Text, nullable=False),
    Column("failure", Text, nullable=False),
    Column("content_type", String(1024)),
    Column("accept", String(1024)),
    Column("custom_attributes", String(1024)),
    Column("received", Float, nullable=False),
    Column("expires", Float, nullable=False),
    Column("timeout_s", Float, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("owner", BigInteger),  # the front door whose claim it is, while running (revision 0003)
    # A claim reads an endpoint's oldest queued requests straight off this index, however long the queue.
    Index("ix_async_requests_claim", "endpoint", "state", "received"),
    Index("ix_async_requests_expiry", "state", "expires"),
)


@dataclass(frozen=True)
class AsyncRequest:
    id: str
    endpoint: str
    inference_id: str
    input: str
    output: str
    failure: str
    content_type: str | None
    accept: str | None
    custom_attributes: str | None
    received: float
    expires: float
    timeout_s: float
    attempts: int = 0

    def row(self) -> dict[str, Any]:
        return {**self.__dict__, "state": RequestState.QUEUED.value}


# The statements on the per-request path are built once: building a SQLAlchemy statement costs more than
# running it on SQLite.
_t = async_requests.c
_INSERT = async_requests.insert()
_HELD = (_t.owner == bindparam("b_owner")) & (_t.state == RequestState.RUNNING.value)
_FINISH = update(async_requests).where(_t.id == bindparam("rid"), _HELD).values(state=bindparam("new_state"))
_RUNNING = select(func.count()).where(_t.endpoint == bindparam("b_endpoint"), _t.state == RequestState.RUNNING.value)


def _claim_statement(where: Any) -> Any:
    """Move the oldest queued requests matching `where` to running, in one statement, and return them."""
    oldest = (
        select(_t.id)
        .where(where, _t.state == RequestState.QUEUED.value)
        .order_by(_t.received)
        .limit(bindparam("b_count"))
        # PostgreSQL: servers claiming at once each skip the rows another is claiming, rather than wait for it
        # (SQLite has one writer at a time and no such clause).
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    return (
        update(async_requests)
        .where(_t.id.in_(oldest))
        .values(state=RequestState.RUNNING.value, attempts=_t.attempts + 1, owner=bindparam("b_owner"))
        .returning(*async_requests.c)
    )


_CLAIM = _claim_statement(_t.endpoint == bindparam("b_endpoint"))
_CLAIM_EXPIRED = _claim_statement(_t.expires < bindparam("b_now"))


def enqueue(conn: Connection, request: AsyncRequest) -> None:
    conn.execute(_INSERT, request.row())


def claim(conn: Connection, endpoint: str, count: int, owner: int) -> list[AsyncRequest]:
    """The `count` oldest queued requests of `endpoint`, now running in `owner`'s name."""
    if count <= 0:
        return []
    return _claimed(conn.execute(_CLAIM, {"b_endpoint": endpoint, "b_count": count, "b_owner": owner}).all())


def claim_expired(conn: Connection, now: float, count: int, owner: int) -> list[AsyncRequest]:
    """Queued requests past their RequestTTLSeconds, now running (to be ended as expired)."""
    if count <= 0:
        return []
    return _claimed(conn.execute(_CLAIM_EXPIRED, {"b_now": now, "b_count": count, "b_owner": owner}).all())


def running(conn: Connection, endpoint: str) -> int:
    """How many of the endpoint's requests are running, at every front door together."""
    return int(conn.execute(_RUNNING, {"b_endpoint": endpoint}).scalar_one())


def queued_endpoints(conn: Connection) -> set[str]:
    rows = conn.execute(select(_t.endpoint).where(_t.state == RequestState.QUEUED.value).distinct())
    return {row.endpoint for row in rows}


def _claimed(rows: Any) -> list[AsyncRequest]:
    requests = [
        AsyncRequest(
            row.id,
            row.endpoint,
            row.inference_id,
            row.input,
            row.output,
            row.failure,
            row.content_type,
            row.accept,
            row.custom_attributes,
            row.received,
            row.expires,
            row.timeout_s,
            row.attempts,  # as updated: this attempt included
        )
        for row in rows
    ]
    return sorted(requests, key=lambda r: r.received)  # RETURNING keeps no order


def release(conn: Connection, request_id: str, owner: int, *, count_attempt: bool) -> None:
    """Back to the queue (if `owner` still holds it); an attempt that never reached the model does not count."""
    values: dict[str, Any] = {"state": RequestState.QUEUED.value, "owner": None}
    if not count_attempt:
        values["attempts"] = _t.attempts - 1
    conn.execute(update(async_requests).where(_t.id == request_id, _HELD).values(**values), {"b_owner": owner})


def finish(conn: Connection, request_id: str, state: RequestState, owner: int) -> bool:
    """End the request; False when `owner` no longer holds it (it was queued again for another front door)."""
    return bool(conn.execute(_FINISH, {"rid": request_id, "new_state": state.value, "b_owner": owner}).rowcount)


def requeue_orphans(conn: Connection, alive: Callable[[Connection, int], bool]) -> int:
    """Queue again what front doors that are not `alive` were running (a door that crashed, was killed, or was
    cut off from the database; on SQLite, the server's previous run). Claims older than owners count as
    orphans."""
    owners = list(conn.execute(select(_t.owner).where(_t.state == RequestState.RUNNING.value).distinct()).scalars())
    gone = [owner for owner in owners if owner is not None and not alive(conn, owner)]
    if not gone and None not in owners:
        return 0
    result = conn.execute(
        update(async_requests)
        .where(_t.state == RequestState.RUNNING.value, or_(_t.owner.in_(gone), _t.owner.is_(None)))
        .values(state=RequestState.QUEUED.value, owner=None)
    )
    return int(result.rowcount or 0)


@dataclass(frozen=True)
class QueueStats:
    queued: int
    running: int
    done: int
    failed: int
    oldest: float | None  # when the oldest request still queued or running was received


def stats(conn: Connection, endpoint: str) -> QueueStats:
    rows = conn.execute(
        select(async_requests.c.state, func.count(), func.min(async_requests.c.received))
        .where(async_requests.c.endpoint == endpoint)
        .group_by(async_requests.c.state)
    ).all()
    counts = {state: (count, oldest) for state, count, oldest in rows}
    waiting = [counts[s][1] for s in (RequestState.QUEUED, RequestState.RUNNING) if s in counts]

    def count(state: RequestState) -> int:
        return int(counts.get(state.value, (0, None))[0])

    return QueueStats(
        count(RequestState.QUEUED),
        count(RequestState.RUNNING),
        count(RequestState.DONE),
        count(RequestState.FAILED),
        min(waiting) if waiting else None,
    )


def prune(conn: Connection, ended_before: float) -> int:
    """Forget requests that ended (their objects are written) and were received before `ended_before`."""
    result = conn.execute(
        delete(async_requests).where(
            async_requests.c.state.in_([RequestState.DONE.value, RequestState.FAILED.value]),
            async_requests.c.received < ended_before,
        )
    )
    return int(result.rowcount or 0)
