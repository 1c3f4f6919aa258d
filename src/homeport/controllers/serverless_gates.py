"""The endpoint controller's serverless variants: one `Gate` each while it serves, what they observed for the plan,
and their concurrency metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from homeport.controllers.serverless_plan import Demand
from homeport.core.datapoints import Metric
from homeport.dataplane.instances import Instance
from homeport.dataplane.meters import NONE, SAGEMAKER, Meters
from homeport.dataplane.serverless import Gate

Key = tuple[str, str, str]  # (endpoint, config, variant)


class Gates:
    def __init__(self, window_s: float, clock: Callable[[], float], wake: Callable[[], None]) -> None:
        self._gates: dict[Key, Gate] = {}
        self._window_s = window_s  # the idle period: how far back a gate's recent peak looks
        self._clock = clock
        self._wake = wake  # a request waiting for a cold start wakes the controller

    def publish(self, key: Key, serverless: dict[str, Any] | None, healthy: list[Instance]) -> Gate | None:
        """A serverless variant's gate (made the first time), given its limits and healthy instances now."""
        if serverless is None:
            return None
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = Gate(
                serverless["MaxConcurrency"], window_s=self._window_s, clock=self._clock, demand=self._wake
            )
        gate.publish(healthy, serverless["MaxConcurrency"], serverless.get("ProvisionedConcurrency", 0))
        return gate

    def keep(self, deployed: Iterable[tuple[str, str]]) -> None:
        """Drop the gates of (endpoint, config) pairs no longer deployed; requests waiting on them fail."""
        alive = set(deployed)
        for gone in [k for k in self._gates if k[:2] not in alive]:
            self._gates.pop(gone).fail("the endpoint was deleted or updated")

    def failed(self, inst: Instance, reason: str) -> None:
        """An instance is stopped: if it never served, the requests waiting for its cold start get `reason`."""
        gate = self._gates.get((inst.endpoint, inst.config, inst.variant))
        if gate is not None and not inst.ever_healthy:
            gate.fail(f"instance {inst.id} failed to start: {reason}")

    def demand(self, endpoint: str) -> dict[tuple[str, str], Demand]:
        """What the gates of an endpoint's serverless variants observed, for the plan."""
        return {
            (config, variant): Demand(gate.in_flight, gate.recent_peak(), gate.idle_since)
            for (name, config, variant), gate in self._gates.items()
            if name == endpoint
        }

    def sample(self, meters: Meters) -> None:
        """Each serverless variant's concurrency since the last call, as shares of its limits."""
        for (endpoint, _, variant), gate in self._gates.items():
            dims = (("EndpointName", endpoint), ("VariantName", variant))
            peak = gate.take_peak()
            utilization = Metric(SAGEMAKER, "ServerlessConcurrentExecutionsUtilization", dims)
            meters.sample(utilization, peak / gate.max_concurrency, NONE)
            if gate.provisioned:  # over 1: requests beyond what the warm instances are provisioned for
                provisioned = Metric(SAGEMAKER, "ServerlessProvisionedConcurrencyUtilization", dims)
                meters.sample(provisioned, peak / gate.provisioned, NONE)
