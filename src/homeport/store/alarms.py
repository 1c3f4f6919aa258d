"""Metric alarms, each kept as the document DescribeAlarms returns, and their history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Connection, Float, Index, Integer, String, Table, Text, delete, func, select, update

from homeport.store.db import metadata

alarms = Table(
    "alarms",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("state", String(32), nullable=False),
    Column("doc", Text, nullable=False),
)

alarm_history = Table(
    "alarm_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alarm", String(255), nullable=False),
    Column("timestamp", Float, nullable=False),
    Column("kind", String(32), nullable=False),  # ConfigurationUpdate | StateUpdate | Action
    Column("summary", Text, nullable=False),
    Column("data", Text, nullable=False),
    Index("alarm_history_alarm", "alarm", "timestamp"),
)


def get(conn: Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute(select(alarms.c.doc).where(alarms.c.name == name)).first()
    return json.loads(row[0]) if row else None


def put(conn: Connection, doc: dict[str, Any]) -> None:
    """Create or replace an alarm."""
    values = {"state": doc["StateValue"], "doc": json.dumps(doc)}
    if conn.execute(update(alarms).where(alarms.c.name == doc["AlarmName"]).values(**values)).rowcount == 0:
        conn.execute(alarms.insert().values(name=doc["AlarmName"], **values))


def find(conn: Connection, names: Sequence[str] | None = None, prefix: str | None = None) -> list[dict[str, Any]]:
    """Alarms by name, in name order."""
    query = select(alarms.c.doc)
    if names is not None:
        query = query.where(alarms.c.name.in_(names))
    if prefix:
        query = query.where(alarms.c.name.startswith(prefix, autoescape=True))
    return [json.loads(doc) for (doc,) in conn.execute(query.order_by(alarms.c.name))]


def count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(alarms)).scalar_one())


def delete_alarms(conn: Connection, names: Sequence[str]) -> None:
    conn.execute(delete(alarms).where(alarms.c.name.in_(names)))
    conn.execute(delete(alarm_history).where(alarm_history.c.alarm.in_(names)))


def add_history(conn: Connection, alarm: str, timestamp: float, kind: str, summary: str, data: dict[str, Any]) -> None:
    conn.execute(
        alarm_history.insert().values(
            alarm=alarm, timestamp=timestamp, kind=kind, summary=summary, data=json.dumps(data)
        )
    )


def history(
    conn: Connection,
    alarm: str | None,
    kind: str | None,
    start: float | None,
    end: float | None,
    newest_first: bool,
    offset: int,
    limit: int,
) -> list[dict[str, Any]]:
    c = alarm_history.c
    query = select(c.alarm, c.timestamp, c.kind, c.summary, c.data)
    if alarm is not None:
        query = query.where(c.alarm == alarm)
    if kind is not None:
        query = query.where(c.kind == kind)
    if start is not None:
        query = query.where(c.timestamp >= start)
    if end is not None:
        query = query.where(c.timestamp <= end)
    order = (c.timestamp.desc(), c.id.desc()) if newest_first else (c.timestamp.asc(), c.id.asc())
    rows = conn.execute(query.order_by(*order).offset(offset).limit(limit))
    return [
        {
            "AlarmName": name,
            "AlarmType": "MetricAlarm",
            "Timestamp": timestamp,
            "HistoryItemType": kind,
            "HistorySummary": summary,
            "HistoryData": data,
        }
        for name, timestamp, kind, summary, data in rows
    ]


def prune_history(conn: Connection, before: float) -> None:
    conn.execute(delete(alarm_history).where(alarm_history.c.timestamp < before))
