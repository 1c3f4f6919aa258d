"""The embedded time-series store: one row per metric per period, kept for the retention setting.

Rows are only ever inserted (two writers of one period, such as two PutMetricData calls, each add a row) and
merged when read, so writing never reads. ListMetrics reads a small catalogue of the metrics and when each last
had data, kept beside the points, so that listing never scans them: CloudWatch lists a metric while it has data
from the last two weeks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Connection, Float, Index, Integer, LargeBinary, String, Table, Text, case, delete, select

from homeport.core.datapoints import Dimensions, Metric, Point
from homeport.store.db import metadata

metric_points = Table(
    "metric_points",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("namespace", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("dimensions", Text, nullable=False),  # canonical JSON: sorted [[name, value], …]
    Column("start", Float, nullable=False, index=True),
    Column("resolution", Integer, nullable=False),
    Column("count", Float, nullable=False),
    Column("sum", Float, nullable=False),
    Column("minimum", Float, nullable=False),
    Column("maximum", Float, nullable=False),
    Column("unit", String(32), nullable=False),
    Column("sketch", LargeBinary),
    Index("metric_points_series", "namespace", "name", "dimensions", "start"),
)


metric_catalog = Table(
    "metric_catalog",
    metadata,
    Column("namespace", String(255), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("dimensions", Text, primary_key=True),
    Column("last_seen", Float, nullable=False, index=True),  # the latest period start with data
)


def dimensions_key(dims: Dimensions) -> str:
    return json.dumps([list(pair) for pair in dims], separators=(",", ":"))


def _dimensions(key: str) -> Dimensions:
    return tuple((name, value) for name, value in json.loads(key))


def add(conn: Connection, points: Sequence[Point]) -> None:
    if not points:
        return
    _catalogue(conn, points)
    conn.execute(
        metric_points.insert(),
        [
            {
                "namespace": p.metric.namespace,
                "name": p.metric.name,
                "dimensions": dimensions_key(p.metric.dimensions),
                "start": p.start,
                "resolution": p.resolution,
                "count": p.count,
                "sum": p.sum,
                "minimum": p.minimum,
                "maximum": p.maximum,
                "unit": p.unit,
                "sketch": p.sketch,
            }
            for p in points
        ],
    )


def series(
    conn: Connection, metric: Metric, start: float, end: float, unit: str | None = None, sketches: bool = False
) -> list[Point]:
    """The metric's rows with a period start in [start, end), oldest first; sketches only when asked for."""
    c = metric_points.c
    columns = [c.start, c.resolution, c.count, c.sum, c.minimum, c.maximum, c.unit]
    if sketches:
        columns.append(c.sketch)
    query = select(*columns).where(
        c.namespace == metric.namespace,
        c.name == metric.name,
        c.dimensions == dimensions_key(metric.dimensions),
        c.start >= start,
        c.start < end,
    )
    if unit is not None:
        query = query.where(c.unit == unit)
    return [
        Point(metric, row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7] if sketches else None)
        for row in conn.execute(query.order_by(c.start))
    ]


def _catalogue(conn: Connection, points: Sequence[Point]) -> None:
    """Record that these metrics have data, up to their points' periods (an upsert: SQLite and PostgreSQL)."""
    latest: dict[tuple[str, str, str], float] = {}
    for p in points:
        key = (p.metric.namespace, p.metric.name, dimensions_key(p.metric.dimensions))
        latest[key] = max(latest.get(key, p.start), p.start)
    insert: Any
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    c = metric_catalog.c
    rows = [{"namespace": k[0], "name": k[1], "dimensions": k[2], "last_seen": seen} for k, seen in latest.items()]
    stmt = insert(metric_catalog).values(rows)
    newer = case((stmt.excluded.last_seen > c.last_seen, stmt.excluded.last_seen), else_=c.last_seen)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["namespace", "name", "dimensions"], set_={"last_seen": newer})
    )


def metrics(
    conn: Connection, namespace: str | None = None, name: str | None = None, since: float = 0.0
) -> list[Metric]:
    """Metrics with data from `since` on, sorted."""
    c = metric_catalog.c
    query = select(c.namespace, c.name, c.dimensions).where(c.last_seen >= since)
    if namespace is not None:
        query = query.where(c.namespace == namespace)
    if name is not None:
        query = query.where(c.name == name)
    query = query.order_by(c.namespace, c.name, c.dimensions)
    return [Metric(ns, n, _dimensions(d)) for ns, n, d in conn.execute(query)]


def prune(conn: Connection, before: float) -> int:
    conn.execute(delete(metric_catalog).where(metric_catalog.c.last_seen < before))
    return conn.execute(delete(metric_points).where(metric_points.c.start < before)).rowcount
