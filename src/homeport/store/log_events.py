"""CloudWatch Logs' data: log groups, their streams, the streams' events, and how far each output file has been read.

Times are epoch milliseconds, as the Logs API speaks them. Events are ordered by (timestamp, id): `id` grows with
every insert, so lines read from one file keep their order even when they share a timestamp.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
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
from sqlalchemy.sql.elements import ColumnElement

from homeport.store.db import metadata

log_groups = Table(
    "log_groups",
    metadata,
    Column("name", String(512), primary_key=True),
    Column("created", BigInteger, nullable=False),
    Column("retention_days", Integer),  # None: the server's default retention
)

log_streams = Table(
    "log_streams",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("group_name", String(512), nullable=False),
    Column("name", String(512), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("first_event", BigInteger),
    Column("last_event", BigInteger),
    Column("last_ingestion", BigInteger),
    Column("stored_bytes", BigInteger, nullable=False, default=0),
    Index("log_streams_name", "group_name", "name", unique=True),
)

log_events = Table(
    "log_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("stream_id", Integer, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("ingestion", BigInteger, nullable=False),
    Column("message", Text, nullable=False),
    Column("size", Integer, nullable=False),  # message_bytes(message): what the stream's stored bytes count
    Index("log_events_stream", "stream_id", "timestamp", "id"),
    Index("log_events_time", "timestamp"),
)

# The output files the tailer ships (instances' and jobs' stdout and stderr): where each stream has been read to.
log_sources = Table(
    "log_sources",
    metadata,
    Column("path", String(1024), primary_key=True),
    Column("stream_id", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
)

EVENT_OVERHEAD = 26  # bytes CloudWatch counts per event on top of its message, in batch sizes and stored bytes

Position = tuple[int, int]  # (timestamp, id): an event's place in a stream's order


@dataclass(frozen=True)
class Event:
    id: int
    stream: str
    timestamp: int
    ingestion: int
    message: str

    @property
    def position(self) -> Position:
        return (self.timestamp, self.id)


def message_bytes(message: str) -> int:
    return len(message.encode("utf-8", "surrogatepass")) + EVENT_OVERHEAD


# --- groups -----------------------------------------------------------------------------------------


def group(conn: Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute(select(log_groups).where(log_groups.c.name == name)).mappings().first()
    return dict(row) if row else None


def add_group(conn: Connection, name: str, now: int) -> bool:
    """Create the group; False when it already exists."""
    if group(conn, name) is not None:
        return False
    conn.execute(log_groups.insert().values(name=name, created=now))
    return True


def groups(
    conn: Connection, *, prefix: str = "", contains: str = "", after: str = "", limit: int
) -> list[dict[str, Any]]:
    """Groups in name order, from after `after`; `contains` matches case-insensitively (logGroupNamePattern)."""
    query = select(log_groups).where(log_groups.c.name > after)
    if prefix:
        query = query.where(log_groups.c.name.startswith(prefix, autoescape=True))
    if contains:
        query = query.where(func.lower(log_groups.c.name).contains(contains.lower(), autoescape=True))
    rows = conn.execute(query.order_by(log_groups.c.name).limit(limit)).mappings()
    return [dict(row) | {"stored_bytes": _group_bytes(conn, row["name"])} for row in rows]


def _group_bytes(conn: Connection, name: str) -> int:
    total = conn.execute(select(func.sum(log_streams.c.stored_bytes)).where(log_streams.c.group_name == name))
    return int(total.scalar_one() or 0)


def set_retention(conn: Connection, name: str, days: int | None) -> None:
    conn.execute(update(log_groups).where(log_groups.c.name == name).values(retention_days=days))


def delete_group(conn: Connection, name: str) -> None:
    ids = select(log_streams.c.id).where(log_streams.c.group_name == name).scalar_subquery()
    conn.execute(delete(log_events).where(log_events.c.stream_id.in_(ids)))
    conn.execute(delete(log_sources).where(log_sources.c.stream_id.in_(ids)))
    conn.execute(delete(log_streams).where(log_streams.c.group_name == name))
    conn.execute(delete(log_groups).where(log_groups.c.name == name))


# --- streams ----------------------------------------------------------------------------------------


def stream(conn: Connection, group_name: str, name: str) -> dict[str, Any] | None:
    query = select(log_streams).where(log_streams.c.group_name == group_name, log_streams.c.name == name)
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def add_stream(conn: Connection, group_name: str, name: str, now: int) -> int:
    inserted = conn.execute(log_streams.insert().values(group_name=group_name, name=name, created=now))
    return int(inserted.inserted_primary_key[0])  # type: ignore[index]


def streams(
    conn: Connection,
    group_name: str,
    *,
    prefix: str = "",
    by_last_event: bool = False,
    descending: bool = False,
    offset: int = 0,
    limit: int,
) -> list[dict[str, Any]]:
    query = select(log_streams).where(log_streams.c.group_name == group_name)
    if prefix:
        query = query.where(log_streams.c.name.startswith(prefix, autoescape=True))
    keys: list[Any] = [log_streams.c.last_event, log_streams.c.name] if by_last_event else [log_streams.c.name]
    query = query.order_by(*(k.desc() if descending else k for k in keys)).offset(offset).limit(limit)
    return [dict(row) for row in conn.execute(query).mappings()]


def stream_ids(conn: Connection, group_name: str, *, names: Sequence[str] = (), prefix: str = "") -> dict[int, str]:
    query = select(log_streams.c.id, log_streams.c.name).where(log_streams.c.group_name == group_name)
    if names:
        query = query.where(log_streams.c.name.in_(names))
    if prefix:
        query = query.where(log_streams.c.name.startswith(prefix, autoescape=True))
    return {id_: name for id_, name in conn.execute(query)}


def delete_stream(conn: Connection, stream_id: int) -> None:
    conn.execute(delete(log_events).where(log_events.c.stream_id == stream_id))
    conn.execute(delete(log_sources).where(log_sources.c.stream_id == stream_id))
    conn.execute(delete(log_streams).where(log_streams.c.id == stream_id))


# --- events -----------------------------------------------------------------------------------------


def append(conn: Connection, stream_id: int, events: Sequence[tuple[int, str]], now: int) -> None:
    """Add (timestamp, message) events to a stream, and note their span and size on it."""
    if not events:
        return
    rows = [(stream_id, ts, now, msg, message_bytes(msg)) for ts, msg in events]
    # Straight to the driver: SQLAlchemy's per-row parameter handling would be most of a shipping pass's time.
    values = ", ".join(["?" if conn.dialect.paramstyle == "qmark" else "%s"] * 5)
    columns = 'stream_id, "timestamp", ingestion, message, size'
    conn.exec_driver_sql(f"INSERT INTO log_events ({columns}) VALUES ({values})", rows)
    first, last = min(ts for ts, _ in events), max(ts for ts, _ in events)
    size = sum(row[4] for row in rows)
    c = log_streams.c
    conn.execute(
        update(log_streams)
        .where(c.id == stream_id)
        .values(
            first_event=case((or_(c.first_event.is_(None), c.first_event > first), first), else_=c.first_event),
            last_event=case((or_(c.last_event.is_(None), c.last_event < last), last), else_=c.last_event),
            last_ingestion=now,
            stored_bytes=c.stored_bytes + size,
        )
    )


def events(
    conn: Connection,
    stream_names: dict[int, str],
    *,
    after: Position | None = None,
    before: Position | None = None,
    start: int | None = None,
    stop: int | None = None,
    newest_first: bool = False,
    limit: int,
) -> list[Event]:
    """Up to `limit` events of the streams, in (timestamp, id) order (or its reverse), strictly between `after` and
    `before`, with `start` <= timestamp < `stop`."""
    e = log_events.c
    query = select(e.id, e.stream_id, e.timestamp, e.ingestion, e.message).where(e.stream_id.in_(list(stream_names)))
    if after is not None:
        query = query.where(_beyond(after, later=True))
    if before is not None:
        query = query.where(_beyond(before, later=False))
    if start is not None:
        query = query.where(e.timestamp >= start)
    if stop is not None:
        query = query.where(e.timestamp < stop)
    order = [e.timestamp.desc(), e.id.desc()] if newest_first else [e.timestamp, e.id]
    rows = conn.execute(query.order_by(*order).limit(limit))
    return [Event(id_, stream_names[sid], ts, ingested, msg) for id_, sid, ts, ingested, msg in rows]


def _beyond(position: Position, *, later: bool) -> ColumnElement[bool]:
    ts, id_ = position
    e = log_events.c
    if later:
        return or_(e.timestamp > ts, and_(e.timestamp == ts, e.id > id_))
    return or_(e.timestamp < ts, and_(e.timestamp == ts, e.id < id_))


def expire(conn: Connection, now: int, default_days: int, stream_cap: int) -> int:
    """Drop events past their group's retention, then the oldest events of streams over `stream_cap` bytes; returns
    how many went."""
    gone = 0
    c = log_streams.c
    for name, days in conn.execute(select(log_groups.c.name, log_groups.c.retention_days)):
        cutoff = now - (days or default_days) * 86_400_000
        ids = select(c.id).where(c.group_name == name).scalar_subquery()
        gone += _drop(conn, and_(log_events.c.stream_id.in_(ids), log_events.c.timestamp < cutoff))
    for stream_id, stored in conn.execute(select(c.id, c.stored_bytes).where(c.stored_bytes > stream_cap)):
        excess, upto = stored - stream_cap * 9 // 10, 0  # trim to 90 %: not one event per sweep
        oldest = select(log_events.c.id, log_events.c.size).where(log_events.c.stream_id == stream_id)
        for id_, size in conn.execute(oldest.order_by(log_events.c.id)):
            if excess <= 0:
                break
            excess -= size
            upto = id_
        gone += _drop(conn, and_(log_events.c.stream_id == stream_id, log_events.c.id <= upto))
    return gone


def _drop(conn: Connection, where: ColumnElement[bool]) -> int:
    e = log_events.c
    sizes = select(e.stream_id, func.sum(e.size), func.count()).where(where)
    dropped = 0
    for stream_id, size, count in conn.execute(sizes.group_by(e.stream_id)).all():
        remaining = select(func.min(e.timestamp)).where(e.stream_id == stream_id, ~where).scalar_subquery()
        c = log_streams.c
        conn.execute(
            update(log_streams)
            .where(c.id == stream_id)
            .values(stored_bytes=c.stored_bytes - int(size), first_event=remaining)
        )
        dropped += int(count)
    if dropped:
        conn.execute(delete(log_events).where(where))
    return dropped


# --- sources ----------------------------------------------------------------------------------------


def sources(conn: Connection) -> dict[str, tuple[int, int]]:
    """Each shipped file's (stream id, bytes read)."""
    return {path: (sid, off) for path, sid, off in conn.execute(select(log_sources))}


def set_source(conn: Connection, path: str, stream_id: int, offset: int) -> None:
    values = {"stream_id": stream_id, "offset": offset}
    if conn.execute(update(log_sources).where(log_sources.c.path == path).values(**values)).rowcount == 0:
        conn.execute(log_sources.insert().values(path=path, **values))
