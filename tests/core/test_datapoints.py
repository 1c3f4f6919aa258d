"""Aggregated datapoints and the statistics CloudWatch computes from them."""

from __future__ import annotations

import pytest

from homeport.core.datapoints import Accumulator, Metric, Point, buckets, dimensions, is_statistic, percentile_rank

M = Metric("ns", "m")


def point(start: float, *values: float) -> Point:
    acc = Accumulator.with_sketch()
    for v in values:
        acc.add(v)
    return acc.point(M, start, 60)


def test_buckets_merge_points_from_the_query_origin() -> None:
    points = [point(0, 1, 2), point(60, 3), point(120, 10), point(180, 4)]
    from_zero = buckets(points, 120)
    assert [(b.start, b.count, b.sum) for b in from_zero] == [(0, 3, 6), (120, 2, 14)]
    from_sixty = buckets(points, 120, origin=60)
    assert [(b.start, b.count, b.maximum) for b in from_sixty] == [(-60, 2, 2), (60, 2, 10), (180, 1, 4)]


def test_statistics_and_percentiles_of_a_bucket() -> None:
    (bucket,) = buckets([point(0, *range(1, 51)), point(30, *range(51, 101))], 60)
    assert bucket.statistic("SampleCount") == 100 and bucket.statistic("Sum") == 5050
    assert bucket.statistic("Average") == 50.5
    assert (bucket.statistic("Minimum"), bucket.statistic("Maximum")) == (1, 100)
    assert bucket.statistic("p50") == pytest.approx(50, abs=2)  # the two sketches merged
    assert bucket.statistic("p99.9") == pytest.approx(100, abs=2)


def test_a_bucket_without_sketches_has_no_percentile_and_zeros_average_zero() -> None:
    plain = Accumulator()
    plain.add(5.0)
    (bucket,) = buckets([plain.point(M, 0, 60)], 60)
    assert bucket.statistic("p99") is None
    (idle,) = buckets([Accumulator().point(M, 0, 60)], 60)
    assert (idle.statistic("SampleCount"), idle.statistic("Average"), idle.statistic("Maximum")) == (0, 0, 0)


def test_repeated_values_count_fully_and_feed_the_sketch_boundedly() -> None:
    acc = Accumulator.with_sketch()
    acc.add_repeated(2.0, 1e9)
    acc.add_repeated(7.0, 1)
    assert (acc.count, acc.sum, acc.minimum, acc.maximum) == (1e9 + 1, 2e9 + 7, 2, 7)
    assert acc.sketch is not None and acc.sketch.n == 1001


def test_dimensions_are_one_key_whatever_their_order_and_statistic_names() -> None:
    a = dimensions([{"Name": "b", "Value": "2"}, {"Name": "a", "Value": "1"}])
    assert a == dimensions([{"Name": "a", "Value": "1"}, {"Name": "b", "Value": "2"}]) == (("a", "1"), ("b", "2"))
    assert percentile_rank("p99.9") == pytest.approx(0.999) and percentile_rank("p100") == 1.0
    assert [is_statistic(s) for s in ("Average", "p50", "p101", "tm99", "P99", "p")] == [
        True,
        True,
        False,
        False,
        False,
        False,
    ]
