"""Application Auto Scaling's state: scalable targets, scaling policies, scheduled actions and scaling activities,
each kept as the document its Describe call returns (keys starting with '_' are homeport's bookkeeping)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Connection, Float, Index, String, Table, Text, delete, select, update

from homeport.store.db import metadata


class Item(StrEnum):
    TARGET = "target"
    POLICY = "policy"
    SCHEDULED = "scheduled"
    ACTIVITY = "activity"


scaling = Table(
    "scaling",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("key", String(1600), primary_key=True),  # target: its resource id; others: their ARN or id
    Column("resource_id", String(1600), nullable=False),
    Column("created", Float, nullable=False),
    Column("doc", Text, nullable=False),
    Index("scaling_by_resource", "kind", "resource_id", "created"),
)


def get(conn: Connection, kind: Item, key: str) -> dict[str, Any] | None:
    row = conn.execute(select(scaling.c.doc).where(scaling.c.kind == kind.value, scaling.c.key == key)).first()
    return json.loads(row[0]) if row else None


def put(conn: Connection, kind: Item, key: str, resource_id: str, created: float, doc: dict[str, Any]) -> None:
    """Create or replace; `created` orders listings and is kept from the first put."""
    c = scaling.c
    found = conn.execute(
        update(scaling).where(c.kind == kind.value, c.key == key).values(resource_id=resource_id, doc=json.dumps(doc))
    )
    if found.rowcount == 0:
        conn.execute(
            scaling.insert().values(
                kind=kind.value, key=key, resource_id=resource_id, created=created, doc=json.dumps(doc)
            )
        )


def find(
    conn: Connection, kind: Item, resource_id: str | None = None, newest_first: bool = False, limit: int | None = None
) -> list[dict[str, Any]]:
    c = scaling.c
    query = select(c.doc).where(c.kind == kind.value)
    if resource_id is not None:
        query = query.where(c.resource_id == resource_id)
    query = query.order_by(c.created.desc() if newest_first else c.created.asc(), c.key)
    if limit is not None:
        query = query.limit(limit)
    return [json.loads(doc) for (doc,) in conn.execute(query)]


def remove(conn: Connection, kind: Item, key: str) -> bool:
    return conn.execute(delete(scaling).where(scaling.c.kind == kind.value, scaling.c.key == key)).rowcount > 0


def remove_resource(conn: Connection, resource_id: str, kinds: tuple[Item, ...]) -> None:
    conn.execute(
        delete(scaling).where(scaling.c.resource_id == resource_id, scaling.c.kind.in_([k.value for k in kinds]))
    )


def prune_activities(conn: Connection, before: float) -> None:
    c = scaling.c
    conn.execute(delete(scaling).where(c.kind == Item.ACTIVITY.value, c.created < before))
