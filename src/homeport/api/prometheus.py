"""`GET /metrics`: the endpoint metrics as Prometheus counters and gauges (prometheus_client's text format).

Prometheus wants totals since the start, which it differentiates itself; the per-period values CloudWatch's
API serves come from the same meters."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from homeport.dataplane.meters import Meters
from homeport.dataplane.router import Router

LABELS = ["endpoint", "variant"]


class EndpointCollector(Collector):
    def __init__(self, meters: Meters, router: Router) -> None:
        self.meters = meters
        self.router = router

    def collect(self) -> Iterator[Metric]:
        invocations = CounterMetricFamily(
            "homeport_invocations", "InvokeEndpoint requests that reached a variant", labels=LABELS
        )
        errors = CounterMetricFamily(
            "homeport_invocation_errors",
            "Invocations the model answered with 4xx, or that failed with 5xx",
            labels=[*LABELS, "class"],
        )
        model = SummaryMetricFamily("homeport_model_latency_seconds", "Time the model took to answer", labels=LABELS)
        overhead = SummaryMetricFamily(
            "homeport_overhead_latency_seconds", "Time homeport added to each invocation", labels=LABELS
        )
        for (endpoint, variant_name), meter in sorted(self.meters.variants.items()):
            labels, totals = [endpoint, variant_name], meter.totals
            invocations.add_metric(labels, totals.invocations)
            errors.add_metric([*labels, "4xx"], totals.errors_4xx)
            errors.add_metric([*labels, "5xx"], totals.errors_5xx)
            model.add_metric(labels, totals.answered, totals.model_seconds)
            overhead.add_metric(labels, totals.invocations, totals.overhead_seconds)
        instances = GaugeMetricFamily("homeport_healthy_instances", "Instances taking requests", labels=LABELS)
        for name, route in sorted(self.router.routes.items()):
            for variant in route.variants:
                instances.add_metric([name, variant.name], len(variant.instances))
        yield from (invocations, errors, model, overhead, instances)


def exposition(meters: Meters, router: Router) -> Callable[[], bytes]:
    """What `GET /metrics` answers, computed at each scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EndpointCollector(meters, router))
    return lambda: generate_latest(registry)
