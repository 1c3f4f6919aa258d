"""The in-memory meters: what one period of requests becomes as stored points."""

from __future__ import annotations

from homeport.core.datapoints import Point
from homeport.dataplane.meters import Meters


def by_name(points: list[Point]) -> dict[str, Point]:
    return {p.metric.name: p for p in points}


def test_a_period_of_requests_becomes_sagemakers_metrics() -> None:
    meters = Meters()
    meters.invocation("ep", "v1", instances=2, status=200, model_s=0.002, total_s=0.003)
    meters.invocation("ep", "v1", instances=2, status=404, model_s=0.001, total_s=0.0015)
    meters.invocation("ep", "v1", instances=2, status=500, model_s=None, total_s=0.01)  # never answered
    points = by_name(meters.flush(60.0, 60, serving=[("ep", "v1")]))
    invocations = points["Invocations"]
    assert (invocations.count, invocations.sum, invocations.start, invocations.resolution) == (3, 3, 60.0, 60)
    assert invocations.metric.dimensions == (("EndpointName", "ep"), ("VariantName", "v1"))
    assert points["InvocationsPerInstance"].sum == 1.5
    assert (points["Invocation4XXErrors"].sum, points["Invocation5XXErrors"].sum) == (1, 1)
    assert points["Invocation5XXErrors"].maximum == 1 and points["Invocation5XXErrors"].minimum == 0
    model = points["ModelLatency"]
    assert (model.count, model.unit) == (2, "Microseconds")
    assert model.minimum == 1000 and model.maximum == 2000 and model.sketch is not None
    overhead = points["OverheadLatency"]
    assert overhead.count == 3 and overhead.maximum == 10000 and round(overhead.minimum) == 500
    totals = meters.variants[("ep", "v1")].totals
    assert (totals.invocations, totals.answered, totals.errors_4xx, totals.errors_5xx) == (3, 2, 1, 1)


def test_an_idle_serving_variant_reports_zeros_and_a_gone_one_stops() -> None:
    meters = Meters()
    meters.invocation("old", "v1", instances=1, status=200, model_s=0.001, total_s=0.001)
    first = meters.flush(0.0, 1, serving=[("ep", "v1")])
    assert {p.metric.dimensions[0][1] for p in first} == {"ep", "old"}  # its last requests still count
    idle = by_name([p for p in first if p.metric.dimensions[0][1] == "ep"])
    assert set(idle) == {"Invocations", "InvocationsPerInstance", "Invocation4XXErrors", "Invocation5XXErrors"}
    assert all(p.count == 0 and p.sum == 0 and p.maximum == 0 for p in idle.values())
    second = meters.flush(1.0, 1, serving=[("ep", "v1")])
    assert {p.metric.dimensions[0][1] for p in second} == {"ep"}
    assert ("old", "v1") not in meters.variants


def test_gauges_average_over_the_period_and_start_afresh() -> None:
    from homeport.core.datapoints import Metric

    meters = Meters()
    cpu = Metric("/aws/sagemaker/Endpoints", "CPUUtilization", (("EndpointName", "ep"),))
    meters.sample(cpu, 10.0, "Percent")
    meters.sample(cpu, 30.0, "Percent")
    (point,) = meters.flush(0.0, 60, serving=[])
    assert (point.count, point.sum, point.minimum, point.maximum, point.unit) == (2, 40, 10, 30, "Percent")
    assert meters.flush(60.0, 60, serving=[]) == []


def test_a_new_fleets_requests_are_also_counted_under_its_endpoint_config() -> None:
    meters = Meters()
    meters.invocation("ep", "v1", instances=4, status=200, model_s=0.001, total_s=0.001)
    meters.invocation("ep", "v1", instances=4, status=500, model_s=0.001, total_s=0.001, fleet=("green", 2))
    points = meters.flush(0.0, 1, serving=[("ep", "v1")])
    whole = by_name([p for p in points if len(p.metric.dimensions) == 2])
    fleet = by_name([p for p in points if len(p.metric.dimensions) == 3])
    assert whole["Invocations"].sum == 2 and whole["Invocation5XXErrors"].sum == 1
    assert fleet["Invocations"].sum == 1 and fleet["Invocation5XXErrors"].sum == 1
    assert fleet["InvocationsPerInstance"].sum == 0.5
    assert fleet["Invocations"].metric.dimensions == (
        ("EndpointConfigName", "green"),
        ("EndpointName", "ep"),
        ("VariantName", "v1"),
    )
    assert not [p for p in meters.flush(1.0, 1, serving=[("ep", "v1")]) if len(p.metric.dimensions) == 3]
