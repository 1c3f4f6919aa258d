"""Async-inference notifications and alarm actions: an outbox, and the event log the CLI shows.

A notification is written in the same transaction that ends its request (or creates or updates its endpoint, or
changes an alarm's state),
so none is lost to a crash; the notifier then POSTs it to its topic URL until it is delivered or given up.
Delivery is at least once: a crash after the POST and before it is marked delivered sends it again, with the
same `X-Homeport-Notification-Id`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Float,
    Integer,
    String,
    Table,
    Text,
    and_,
    case,
    delete,
    func,
    or_,
    select,
    update,
)

from homeport.store.db import metadata


class Delivery(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    ABANDONED = "abandoned"  # every attempt failed


async_notifications = Table(
    "async_notifications",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("endpoint", String(63), nullable=False, index=True),
    Column("topic", Text, nullable=False),
    Column("event", String(32), nullable=False),  # InferenceResult, TestNotification or AlarmStateChange
    Column("inference_id", String(64)),
    Column("status", String(16)),  # the invocation's: Completed or Failed
    Column("message", Text, nullable=False),
    Column("created", Float, nullable=False, index=True),
    Column("state", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt", Float, nullable=False, index=True),
    Column("last_error", Text),
    Column("delivered", Float),
)


@dataclass(frozen=True)
class Notification:
    id: str
    endpoint: str
    topic: str
    event: str
    inference_id: str | None
    status: str | None
    message: dict[str, Any]
    created: float
    state: Delivery = Delivery.PENDING
    attempts: int = 0
    last_error: str | None = None
    delivered: float | None = None

    def to_json(self) -> dict[str, Any]:
        """As DescribeEndpoint's HomeportNotifications shows it."""
        out: dict[str, Any] = {
            "NotificationId": self.id,
            "Topic": self.topic,
            "EventName": self.event,
            "Delivery": self.state.value,
            "Attempts": self.attempts,
            "CreationTime": self.created,
        }
        for key, value in (
            ("InferenceId", self.inference_id),
            ("InvocationStatus", self.status),
            ("LastError", self.last_error),
            ("DeliveryTime", self.delivered),
        ):
            if value is not None:
                out[key] = value
        return out


def add(
    conn: Connection,
    endpoint: str,
    topic: str,
    message: dict[str, Any],
    now: float,
    event: str | None = None,
) -> str:
    """Queue `message` for `topic`; `endpoint` is its source (an endpoint, or `alarm/<name>`)."""
    notification_id = str(uuid.uuid4())
    conn.execute(
        async_notifications.insert().values(
            id=notification_id,
            endpoint=endpoint,
            topic=topic,
            event=event or message["eventName"],
            inference_id=message.get("inferenceId"),
            status=message.get("invocationStatus"),
            message=json.dumps(message, separators=(",", ":")),
            created=now,
            state=Delivery.PENDING.value,
            attempts=0,
            next_attempt=now,
        )
    )
    return notification_id


def due(conn: Connection, now: float, limit: int) -> list[Notification]:
    """Pending notifications whose next attempt has come, oldest first."""
    rows = conn.execute(
        select(async_notifications)
        .where(async_notifications.c.state == Delivery.PENDING.value, async_notifications.c.next_attempt <= now)
        .order_by(async_notifications.c.next_attempt)
        .limit(limit)
    ).all()
    return [_notification(row) for row in rows]


def next_due(conn: Connection) -> float | None:
    """When the earliest pending notification is due."""
    value = conn.execute(
        select(func.min(async_notifications.c.next_attempt)).where(
            async_notifications.c.state == Delivery.PENDING.value
        )
    ).scalar()
    return float(value) if value is not None else None


def mark_delivered(conn: Connection, notification_id: str, now: float) -> None:
    conn.execute(
        update(async_notifications)
        .where(async_notifications.c.id == notification_id)
        .values(
            state=Delivery.DELIVERED.value,
            attempts=async_notifications.c.attempts + 1,
            delivered=now,
            last_error=None,
        )
    )


def mark_failed(conn: Connection, notification_id: str, error: str, retry_at: float | None) -> None:
    """One failed attempt: try again at `retry_at`, or give up when it is None."""
    values: dict[str, Any] = {"attempts": async_notifications.c.attempts + 1, "last_error": error[:1024]}
    if retry_at is None:
        values["state"] = Delivery.ABANDONED.value
    else:
        values["next_attempt"] = retry_at
    conn.execute(update(async_notifications).where(async_notifications.c.id == notification_id).values(**values))


def recent(conn: Connection, endpoint: str, limit: int) -> list[Notification]:
    """The endpoint's newest notifications, newest first."""
    rows = conn.execute(
        select(async_notifications)
        .where(async_notifications.c.endpoint == endpoint)
        .order_by(async_notifications.c.created.desc())
        .limit(limit)
    ).all()
    return [_notification(row) for row in rows]


def failed_attempts(conn: Connection, endpoint: str) -> int:
    """Attempts that did not deliver (SageMaker's NotificationFailures), over the notifications still kept."""
    c = async_notifications.c
    delivered = case((c.state == Delivery.DELIVERED.value, 1), else_=0)
    failed = conn.execute(
        select(func.coalesce(func.sum(c.attempts - delivered), 0)).where(c.endpoint == endpoint)
    ).scalar_one()
    return int(failed)


def _notification(row: Any) -> Notification:
    return Notification(
        row.id,
        row.endpoint,
        row.topic,
        row.event,
        row.inference_id,
        row.status,
        json.loads(row.message),
        row.created,
        Delivery(row.state),
        row.attempts,
        row.last_error,
        row.delivered,
    )


def prune(conn: Connection, delivered_before: float, abandoned_before: float) -> None:
    """Forget delivered notifications created before `delivered_before`, and given-up ones before
    `abandoned_before` (kept longer: they are what a user comes looking for)."""
    c = async_notifications.c
    conn.execute(
        delete(async_notifications).where(
            or_(
                and_(c.state == Delivery.DELIVERED.value, c.created < delivered_before),
                and_(c.state == Delivery.ABANDONED.value, c.created < abandoned_before),
            )
        )
    )
