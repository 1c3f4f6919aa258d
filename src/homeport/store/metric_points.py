"""The embedded time-series store: one row per metric per period, kept for the retention setting.

Rows are only ever inserted (two writers of one period, such as two PutMetricData calls, each add a row) and
merged when read, so writing never reads. ListMetrics is the distinct metrics with rows still kept, which is
CloudWatch's own rule: a metric is listed while it has data from the last two weeks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import Column, Connection, Float, Index, Integer, LargeBinary, String, Table, Text, delete, select

from homeport.datapoints import Dimensions, Metric, Point
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


def dimensions_key(dims: Dimensions) -> str:
    return json.dumps([list(pair) for pair in dims], separators=(",", ":"))


def _dimensions(key: str) -> Dimensions:
    return tuple((name, value) for name, value in json.loads(key))


def add(conn: Connection, points: Sequence[Point]) -> None:
    if not points:
        return
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


def metrics(
    conn: Connection, namespace: str | None = None, name: str | None = None, since: float = 0.0
) -> list[Metric]:
    """Distinct metrics with a row from `since` on, sorted."""
    c = metric_points.c
    query = select(c.namespace, c.name, c.dimensions).distinct().where(c.start >= since)
    if namespace is not None:
        query = query.where(c.namespace == namespace)
    if name is not None:
        query = query.where(c.name == name)
    query = query.order_by(c.namespace, c.name, c.dimensions)
    return [Metric(ns, n, _dimensions(d)) for ns, n, d in conn.execute(query)]


def prune(conn: Connection, before: float) -> int:
    return conn.execute(delete(metric_points).where(metric_points.c.start < before)).rowcount
