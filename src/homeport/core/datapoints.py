"""Metric datapoints: what one period of one metric holds, and the statistics CloudWatch computes from them.

A metric is (namespace, name, dimensions). Values are kept aggregated per period, never per request: the
sample count, sum, minimum and maximum, and, where percentiles may be asked for, a KLL quantile sketch
(datasketches) that merges across periods and instances with a bounded rank error (~1.7 % at k=200).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasketches import kll_floats_sketch

Dimensions = tuple[tuple[str, str], ...]

STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d{1,10})?|100)$")
SKETCH_K = 200
# Repeated values (PutMetricData's Counts) go into a sketch at most this many times each: past it the
# percentiles no longer move measurably, and a client's Counts of 1e9 must not cost a billion updates.
MAX_SKETCH_REPEAT = 1000


def dimensions(pairs: Iterable[dict[str, str]] | None) -> Dimensions:
    """CloudWatch's dimensions as one canonical key: a metric is the same whatever order they came in."""
    return tuple(sorted((d["Name"], d["Value"]) for d in pairs or ()))


def dimension_list(dims: Dimensions) -> list[dict[str, str]]:
    return [{"Name": name, "Value": value} for name, value in dims]


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimensions: Dimensions = ()


@dataclass(frozen=True)
class Point:
    """One period of one metric, as stored."""

    metric: Metric
    start: float  # period start, epoch seconds
    resolution: int  # the period it aggregates, seconds
    count: float
    sum: float
    minimum: float
    maximum: float
    unit: str = "None"
    sketch: bytes | None = None


@dataclass
class Accumulator:
    """Values of one metric over one period, added one at a time (the hot path) or as counts."""

    count: float = 0.0
    sum: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    sketch: kll_floats_sketch | None = None

    @classmethod
    def with_sketch(cls) -> Accumulator:
        return cls(sketch=_kll()(SKETCH_K))

    def add(self, value: float) -> None:
        self.count += 1
        self.sum += value
        if value < self.minimum:
            self.minimum = value
        if value > self.maximum:
            self.maximum = value
        if self.sketch is not None:
            self.sketch.update(value)

    def add_repeated(self, value: float, times: float) -> None:
        self.count += times
        self.sum += value * times
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        if self.sketch is not None:
            for _ in range(min(int(times), MAX_SKETCH_REPEAT)):
                self.sketch.update(value)

    def point(self, metric: Metric, start: float, resolution: int, unit: str = "None") -> Point:
        empty = self.count == 0
        return Point(
            metric,
            start,
            resolution,
            self.count,
            self.sum,
            0.0 if empty else self.minimum,
            0.0 if empty else self.maximum,
            unit,
            self.sketch.serialize() if self.sketch is not None and not self.sketch.is_empty() else None,
        )


@dataclass
class Bucket:
    """The points of one query period merged: what GetMetricStatistics returns one datapoint from."""

    start: float
    count: float = 0.0
    sum: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    units: set[str] = field(default_factory=set)
    sketches: list[bytes] = field(default_factory=list)

    def merge(self, point: Point) -> None:
        self.count += point.count
        self.sum += point.sum
        self.minimum = min(self.minimum, point.minimum)
        self.maximum = max(self.maximum, point.maximum)
        self.units.add(point.unit)
        if point.sketch is not None:
            self.sketches.append(point.sketch)

    @property
    def unit(self) -> str:
        return next(iter(self.units)) if len(self.units) == 1 else "None"

    def statistic(self, name: str) -> float | None:
        """One of STATISTICS or a percentile "pNN"; None when the period cannot give it (no samples for a
        percentile). A period that only recorded zeros (an idle endpoint's Invocations) has SampleCount 0
        and every other statistic 0."""
        if name == "SampleCount":
            return self.count
        if name == "Sum":
            return self.sum
        if name == "Average":
            return self.sum / self.count if self.count else 0.0
        if name == "Minimum":
            return self.minimum
        if name == "Maximum":
            return self.maximum
        return self.percentile(percentile_rank(name))

    def percentile(self, rank: float) -> float | None:
        if not self.sketches:
            return None
        kll = _kll()
        merged = kll.deserialize(self.sketches[0])
        for raw in self.sketches[1:]:
            merged.merge(kll.deserialize(raw))
        return float(merged.get_quantile(rank))


def percentile_rank(statistic: str) -> float:
    """ "p99.9" → 0.999; ValueError for anything else (homeport computes percentiles, not trimmed means)."""
    match = PERCENTILE.match(statistic)
    if match is None:
        raise ValueError(statistic)
    return float(match.group(1)) / 100


def is_statistic(name: str) -> bool:
    if name in STATISTICS:
        return True
    try:
        percentile_rank(name)
    except ValueError:
        return False
    return True


def buckets(points: Sequence[Point], period: int, origin: float = 0.0) -> list[Bucket]:
    """Points merged into query periods counted from `origin` (the query's start time: a two-minute period
    asked for from 10:05 runs 10:05 to 10:07), oldest first."""
    merged: dict[float, Bucket] = {}
    for point in points:
        start = point.start - (point.start - origin) % period
        bucket = merged.get(start)
        if bucket is None:
            bucket = merged[start] = Bucket(start)
        bucket.merge(point)
    return [merged[start] for start in sorted(merged)]


def _kll() -> type[kll_floats_sketch]:
    """datasketches (and numpy under it) at first use, not at the server's start: `homeport serve` imports this."""
    from datasketches import kll_floats_sketch

    return kll_floats_sketch
