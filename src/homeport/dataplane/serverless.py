"""A serverless variant's door: its concurrency limit, its cold starts, and the demand the controller sizes it by.

One `Gate` per serverless variant outlives the route tables the controller publishes. A request enters it (past
`MaxConcurrency` it is refused at once: `Throttled`), takes a healthy instance if the variant has one, and otherwise
waits for the one its arrival made the controller start (`cold_start`). The controller reads `in_flight`,
`recent_peak()` and `idle_since` to decide how many instances the variant keeps (`controllers/serverless_plan`),
and hands the gate each new set of healthy instances (`publish`), which wakes the requests waiting for one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from homeport.core.waiting import within
from homeport.dataplane.instances import Instance, InstanceState

MAX_PAYLOAD = 4 * 1000 * 1000  # a serverless InvokeEndpoint's body: 4 MB, where instances take 6 MB


class PayloadTooLarge(Exception):
    """A serverless variant's request body is over 4 MB."""


class Throttled(Exception):
    """The variant already runs MaxConcurrency requests."""


class ColdStartFailed(Exception):
    """The instance started for waiting requests failed before it could serve them."""


class Gate:
    def __init__(
        self, max_concurrency: int, *, window_s: float, clock: Callable[[], float], demand: Callable[[], None]
    ) -> None:
        self.max_concurrency = max_concurrency
        self.provisioned = 0  # ProvisionedConcurrency
        self.in_flight = 0
        self.waiting = 0  # requests waiting for a cold start
        self.instances: list[Instance] = []
        self.idle_since: float | None = clock()  # None while a request is in flight
        self._window_s = window_s  # the span recent_peak() looks back over (the idle period)
        self._clock = clock
        self._demand = demand  # wakes the controller
        self._window_start = clock()
        self._peak = 0  # the most requests in flight at once in this window ...
        self._previous_peak = 0  # ... and in the one before it
        self._sampled_peak = 0  # the most in flight at once since the last take_peak()
        self._ready = asyncio.Event()
        self._failure: str | None = None

    # --- the request path -------------------------------------------------------------------------------

    def enter(self, size: int = 0) -> None:
        """A request of `size` bytes comes in; refused at once when it is too large or the variant is full."""
        if size > MAX_PAYLOAD:
            raise PayloadTooLarge(f"the body is {size} bytes; a serverless endpoint takes at most {MAX_PAYLOAD}")
        if self.in_flight >= self.max_concurrency:
            raise Throttled(
                f"the variant already runs {self.in_flight} requests, its MaxConcurrency of {self.max_concurrency}"
            )
        self.in_flight += 1
        self.idle_since = None
        self._roll()
        self._peak = max(self._peak, self.in_flight)
        self._sampled_peak = max(self._sampled_peak, self.in_flight)

    def leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self.idle_since = self._clock()

    async def cold_start(self, timeout: float) -> Instance:
        """A healthy instance, once the controller has started one for this request (`timeout`: at most this
        long)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.waiting += 1
        try:
            while True:
                instance = self.pick()
                if instance is not None:
                    return instance
                if self._failure is not None:
                    raise ColdStartFailed(self._failure)
                self._ready.clear()
                self._demand()
                left = deadline - loop.time()
                if left <= 0:
                    raise ColdStartFailed(f"no instance was ready within {timeout:g} seconds")
                try:
                    await within(self._ready.wait(), left)
                except TimeoutError:
                    continue
        finally:
            self.waiting -= 1
            if not self.waiting:
                self._failure = None

    def pick(self) -> Instance | None:
        best: Instance | None = None
        for inst in self.instances:
            if inst.state == InstanceState.HEALTHY and (best is None or inst.outstanding < best.outstanding):
                best = inst
        return best

    # --- the controller's side ----------------------------------------------------------------------------

    def publish(self, instances: list[Instance], max_concurrency: int, provisioned: int = 0) -> None:
        self.instances = instances
        self.max_concurrency = max_concurrency
        self.provisioned = provisioned
        if instances:
            self._ready.set()

    def fail(self, reason: str) -> None:
        """A cold start failed: the requests waiting for it get `reason` (later ones start another)."""
        if self.waiting:
            self._failure = reason
            self._ready.set()

    def take_peak(self) -> int:
        """The most requests in flight at once since the last call (for ServerlessConcurrentExecutionsUtilization)."""
        peak, self._sampled_peak = self._sampled_peak, self.in_flight
        return peak

    def recent_peak(self) -> int:
        """The most requests in flight at once over the last one to two windows."""
        self._roll()
        return max(self._peak, self._previous_peak, self.in_flight)

    def _roll(self) -> None:
        now = self._clock()
        elapsed = now - self._window_start
        if elapsed >= self._window_s:
            self._previous_peak = self._peak if elapsed < 2 * self._window_s else 0
            self._peak = self.in_flight
            self._window_start = now
