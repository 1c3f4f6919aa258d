"""SageMaker's endpoint metrics, counted in memory as requests pass and handed over once per period.

Recording a request is a few attribute updates and two sketch updates, so the hot path never touches the
store; the metric loop calls `flush` at each period boundary and writes the points. Cumulative totals are
kept beside the per-period values for Prometheus, which wants counters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from homeport.core.datapoints import Accumulator, Dimensions, Metric, Point
from homeport.dataplane.multi_model import ModelTimes

SAGEMAKER = "AWS/SageMaker"
INSTANCES = "/aws/sagemaker/Endpoints"  # where SageMaker puts CPUUtilization and MemoryUtilization
COUNT, MICROSECONDS, PERCENT, SECONDS, NONE = "Count", "Microseconds", "Percent", "Seconds", "None"

# Per request, as SageMaker emits them: 1 (Invocations), 1/instances (InvocationsPerInstance: its Sum over a period
# is the invocations per instance), 0 or 1 (the error counts: their Average is the error rate). The counts of a
# period are the totals' growth over it, so a request costs an increment, not an accumulator update per metric.


@dataclass
class Totals:
    """Since the server started, for Prometheus."""

    invocations: int = 0
    answered: int = 0  # by the model (with any status): what ModelLatency counts
    errors_4xx: int = 0
    errors_5xx: int = 0
    model_seconds: float = 0.0
    overhead_seconds: float = 0.0


@dataclass
class VariantMeter:
    per_instance: Accumulator = field(default_factory=Accumulator)
    model: Accumulator = field(default_factory=Accumulator.with_sketch)
    overhead: Accumulator = field(default_factory=Accumulator.with_sketch)
    setup: Accumulator = field(default_factory=Accumulator)
    totals: Totals = field(default_factory=Totals)
    base: Totals = field(default_factory=Totals)  # the totals when this period began: the counts are the difference

    def points(self, dims: Dimensions, start: float, resolution: int) -> list[Point]:
        # The counts are written even for a period without requests: SageMaker's idle endpoints report 0, so
        # a scaling policy sees the traffic stop rather than the data go missing.
        n = self.totals.invocations - self.base.invocations

        def count(name: str, ones: int) -> Point:
            """`ones` of the period's `n` requests counted 1, the others 0."""
            low, high = (1.0 if n and ones == n else 0.0), (1.0 if ones else 0.0)
            return Point(Metric(SAGEMAKER, name, dims), start, resolution, n, ones, low, high, COUNT)

        out = [
            count("Invocations", n),
            self.per_instance.point(Metric(SAGEMAKER, "InvocationsPerInstance", dims), start, resolution, COUNT),
            count("Invocation4XXErrors", self.totals.errors_4xx - self.base.errors_4xx),
            count("Invocation5XXErrors", self.totals.errors_5xx - self.base.errors_5xx),
        ]
        for name, acc, unit in (
            ("ModelLatency", self.model, MICROSECONDS),
            ("OverheadLatency", self.overhead, MICROSECONDS),
            ("ModelSetupTime", self.setup, MICROSECONDS),
        ):
            if acc.count:
                out.append(acc.point(Metric(SAGEMAKER, name, dims), start, resolution, unit))
        return out


class Meters:
    def __init__(self) -> None:
        self.variants: dict[tuple[str, str], VariantMeter] = {}
        self.fleets: dict[tuple[str, str, str], VariantMeter] = {}  # (endpoint, variant, new fleet's config)
        self.gauges: dict[Metric, tuple[Accumulator, str]] = {}

    def variant(self, endpoint: str, variant: str) -> VariantMeter:
        meter = self.variants.get((endpoint, variant))
        if meter is None:
            meter = self.variants[(endpoint, variant)] = VariantMeter()
        return meter

    def invocation(
        self,
        endpoint: str,
        variant: str,
        instances: int,
        status: int,
        model_s: float | None,
        total_s: float,
        fleet: tuple[str, int] | None = None,
    ) -> None:
        """One InvokeEndpoint that reached a variant. `status` is the model's HTTP status (500 when it never
        answered); `model_s` None when it never answered. `fleet`: the endpoint config and size of a blue/green
        deployment's new fleet that took it, whose metrics SageMaker also reports with an EndpointConfigName
        dimension, so that a rollback alarm can watch the new fleet alone."""
        _count(self.variant(endpoint, variant), instances, status, model_s, total_s)
        if fleet is not None:
            config, size = fleet
            meter = self.fleets.get((endpoint, variant, config))
            if meter is None:
                meter = self.fleets[(endpoint, variant, config)] = VariantMeter()
            _count(meter, size, status, model_s, total_s)

    def setup_time(self, endpoint: str, variant: str, seconds: float) -> None:
        """An instance came up: from its start to its first passed /ping."""
        self.variant(endpoint, variant).setup.add(seconds * 1e6)

    def sample(self, metric: Metric, value: float, unit: str) -> None:
        """A gauge reading (CPU, memory, backlog), averaged over the period."""
        entry = self.gauges.get(metric)
        if entry is None:
            entry = self.gauges[metric] = (Accumulator(), unit)
        entry[0].add(value)

    def model_cache(self, endpoint: str, variant: str, times: ModelTimes | None, wait_s: float) -> None:
        """A multi-model request found its model loaded (`times` None), or waited `wait_s` for the load `times`
        describes."""
        dims = (("EndpointName", endpoint), ("VariantName", variant))
        self.sample(Metric(SAGEMAKER, "ModelCacheHit", dims), 0.0 if times else 1.0, NONE)
        if times is None:
            return
        self.sample(Metric(SAGEMAKER, "ModelLoadingWaitTime", dims), wait_s * 1e6, MICROSECONDS)
        if not times.reported:
            times.reported = True
            self.sample(Metric(SAGEMAKER, "ModelDownloadingTime", dims), times.download_s * 1e6, MICROSECONDS)
            self.sample(Metric(SAGEMAKER, "ModelLoadingTime", dims), times.load_s * 1e6, MICROSECONDS)
            for seconds in times.unloads:
                self.model_unloaded(endpoint, variant, seconds)

    def model_unloaded(self, endpoint: str, variant: str, seconds: float) -> None:
        dims = (("EndpointName", endpoint), ("VariantName", variant))
        self.sample(Metric(SAGEMAKER, "ModelUnloadingTime", dims), seconds * 1e6, MICROSECONDS)

    def containers(self, endpoint: str, variant: str, timings: bytes | None) -> None:
        """A multi-container model's request: each container that ran (`hostname=microseconds/status,...`, as the
        instance reports it) counts an invocation, its time as ContainerLatency, and its error if it failed,
        with the ContainerName dimension."""
        for item in (timings or b"").decode("latin-1").split(","):
            name, _, rest = item.partition("=")
            micros, _, code = rest.partition("/")
            if not (name and micros.isdigit() and code.isdigit()):
                continue
            dims = (("ContainerName", name), ("EndpointName", endpoint), ("VariantName", variant))
            status = int(code)
            self.sample(Metric(SAGEMAKER, "Invocations", dims), 1.0, COUNT)
            self.sample(Metric(SAGEMAKER, "Invocation4XXErrors", dims), float(400 <= status < 500), COUNT)
            self.sample(Metric(SAGEMAKER, "Invocation5XXErrors", dims), float(status >= 500), COUNT)
            self.sample(Metric(SAGEMAKER, "ContainerLatency", dims), float(micros), MICROSECONDS)

    def flush(self, start: float, resolution: int, serving: Iterable[tuple[str, str]]) -> list[Point]:
        """The period that began at `start` as points; counting starts afresh. `serving` are the real-time
        variants taking requests now: they report zeros when idle; a variant no longer serving stops here."""
        serving = set(serving)
        points: list[Point] = []
        for key in set(self.variants) | serving:
            meter = self.variants.get(key) or VariantMeter()
            if key in serving or meter.totals.invocations > meter.base.invocations or meter.setup.count:
                points.extend(meter.points((("EndpointName", key[0]), ("VariantName", key[1])), start, resolution))
        self.variants = {key: _next_period(self.variants.get(key)) for key in serving}
        for (endpoint, variant, config), meter in self.fleets.items():
            dims = (("EndpointConfigName", config), ("EndpointName", endpoint), ("VariantName", variant))
            points.extend(meter.points(dims, start, resolution))
        self.fleets = {}
        for metric, (acc, unit) in self.gauges.items():
            points.append(acc.point(metric, start, resolution, unit))
        self.gauges = {}
        return points


def _count(meter: VariantMeter, instances: int, status: int, model_s: float | None, total_s: float) -> None:
    meter.per_instance.add(1.0 / instances if instances else 1.0)
    totals = meter.totals
    totals.invocations += 1
    if status >= 400:
        if status >= 500:
            totals.errors_5xx += 1
        else:
            totals.errors_4xx += 1
    if model_s is not None:
        meter.model.add(model_s * 1e6)
        totals.answered += 1
        totals.model_seconds += model_s
        overhead = max(total_s - model_s, 0.0)
    else:
        overhead = total_s
    meter.overhead.add(overhead * 1e6)
    totals.overhead_seconds += overhead


def _next_period(meter: VariantMeter | None) -> VariantMeter:
    if meter is None:
        return VariantMeter()
    return VariantMeter(totals=meter.totals, base=replace(meter.totals))
