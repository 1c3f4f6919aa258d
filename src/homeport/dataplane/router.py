"""The router: variant by weight (or TargetVariant), instance by least outstanding requests."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from homeport.dataplane.capture import CaptureConfig, Captured, CaptureWriter
from homeport.dataplane.connection import InstanceUnreachable, Reply, Streamed
from homeport.dataplane.instances import Instance, InstanceState
from homeport.dataplane.meters import Meters
from homeport.dataplane.multi_model import Loader, check_target, container_name
from homeport.dataplane.serverless import Gate
from homeport.runtime import pipeline


class NoRoute(Exception):
    """The endpoint has no serving route (unknown, or not in service)."""


class UnknownVariant(Exception):
    pass


class NoHealthyInstance(Exception):
    pass


class NotMultiModel(Exception):
    """TargetModel sent to a variant that serves one model."""


class MissingTargetModel(Exception):
    """A multi-model variant invoked without TargetModel."""


class NotStreamable(Exception):
    """InvokeEndpointWithResponseStream to a variant homeport cannot stream from."""


class TargetContainerError(Exception):
    """TargetContainerHostname is missing on a Direct multi-container variant, sent to another kind, or unknown."""


@dataclass
class VariantRoute:
    name: str
    weight: float
    instances: list[Instance]
    green: list[Instance] = field(default_factory=list)  # a blue/green deployment's new fleet of this variant
    green_share: float = 0.0  # of this variant's requests, sent to `green`
    loader: Loader | None = None  # a multi-model variant's: gets TargetModels loaded on its instances
    green_loader: Loader | None = None  # the same for `green`, whose model may be another
    containers: tuple[str, ...] = ()  # a multi-container model's hostnames
    direct: bool = False  # its containers are invoked by TargetContainerHostname, not as a pipeline
    serverless: Gate | None = None  # a serverless variant's concurrency limit and cold starts

    def pool(self) -> list[Instance]:
        """The fleet this request goes to: the new one for its share of the requests, while it has an instance
        that is healthy; else the old."""
        chosen = self.green_share > 0 and (self.green_share >= 1 or random.random() < self.green_share)
        if chosen and any(i.state == InstanceState.HEALTHY for i in self.green):
            return self.green
        return self.instances if self.instances else self.green


@dataclass
class Route:
    endpoint: str
    variants: list[VariantRoute]
    asynchronous: dict[str, Any] | None = None  # the endpoint's AsyncInferenceConfig: it takes async requests only
    shadows: list[VariantRoute] = field(default_factory=list)  # each gets a copy of `weight` of the requests
    capture: CaptureConfig | None = None  # the endpoint's DataCaptureConfig, when enabled
    _cumulative: list[float] = field(init=False)
    _total: float = field(init=False)

    def __post_init__(self) -> None:
        self._cumulative = list(itertools.accumulate(v.weight for v in self.variants))
        self._total = self._cumulative[-1] if self._cumulative else 0.0

    def variant(self, target: str | None) -> VariantRoute:
        if target is not None:
            for v in self.variants:
                if v.name == target:
                    return v
            raise UnknownVariant(target)
        if len(self.variants) == 1:
            return self.variants[0]
        if self._total <= 0:
            raise NoHealthyInstance("every variant has weight 0")
        return self.variants[bisect.bisect_right(self._cumulative, random.random() * self._total)]


def _target_container(endpoint: str, variant: VariantRoute, name: str | None) -> tuple[str, str]:
    """The header that picks a Direct variant's container, or TargetContainerError saying what is wrong."""
    if not variant.direct:
        raise TargetContainerError(
            f"Endpoint {endpoint} does not invoke containers directly (its model's InferenceExecutionConfig Mode is "
            "not Direct): leave out TargetContainerHostname."
        )
    if name is None:
        raise TargetContainerError(
            f"Endpoint {endpoint} invokes its containers directly: set TargetContainerHostname to one of "
            f"{', '.join(variant.containers)}."
        )
    if name not in variant.containers:
        raise TargetContainerError(
            f"Endpoint {endpoint} has no container with hostname {name}; use one of {', '.join(variant.containers)}."
        )
    return (pipeline.TARGET_CONTAINER.decode(), name)


def least_outstanding(instances: list[Instance], exclude: Instance | None = None) -> Instance | None:
    best: Instance | None = None
    for inst in instances:
        if inst is exclude or inst.state != InstanceState.HEALTHY:
            continue
        if best is None or inst.outstanding < best.outstanding:
            best = inst
    return best


class Router:
    def __init__(self, meters: Meters | None = None, capture: CaptureWriter | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.meters = meters or Meters()
        self.capture = capture
        self._background: set[asyncio.Task[None]] = set()  # shadow copies, unloads (a task needs a reference to live)

    def publish(self, routes: dict[str, Route]) -> None:
        self.routes = routes  # swapped whole: a request sees the old table or the new, never half of each

    async def invoke(
        self,
        endpoint: str,
        target_variant: str | None,
        headers: list[tuple[str, str]],
        body: bytes,
        timeout: float,
        received: float | None = None,
        target_model: str | None = None,
        target_container: str | None = None,
    ) -> tuple[VariantRoute, Instance, Reply]:
        """Send one request to an instance of the endpoint and meter it; `received` is when it arrived
        (`time.perf_counter()`), so the metrics' OverheadLatency includes what happened before the router."""
        route = self.routes.get(endpoint)
        if route is None:
            raise NoRoute(endpoint)
        variant = route.variant(target_variant)
        if target_container is not None or variant.direct:
            headers = [*headers, _target_container(endpoint, variant, target_container)]
        for shadow in route.shadows:
            if random.random() < shadow.weight:
                task = asyncio.get_running_loop().create_task(self._shadow(endpoint, shadow, headers, body, timeout))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        received = time.perf_counter() if received is None else received
        status, model_s, fleet = 500, None, None
        pool = variant.instances
        if variant.serverless is not None:
            variant.serverless.enter(len(body))  # past MaxConcurrency: refused before it is metered or waits
        try:
            pool = variant.pool()
            if variant.loader or variant.green_loader or target_model is not None:
                served, reply, model_s = await self._invoke_model(
                    endpoint, variant, pool, target_model, headers, body, timeout
                )
                status = reply.status
                self.capture_reply(route, variant.name, headers, body, reply)
                return variant, served, reply
            instance = await self._instance(variant, pool, timeout)
            if pool is variant.green:
                fleet = (instance.config, len(pool))
            sent = time.perf_counter()
            try:
                reply = await instance.client.request("POST", "/invocations", headers, body, timeout)
            except InstanceUnreachable:
                # The request never reached that instance (it is stopping or crashed): one other try.
                retry = least_outstanding(pool, exclude=instance)
                if retry is None:
                    raise
                instance = retry
                sent = time.perf_counter()
                reply = await instance.client.request("POST", "/invocations", headers, body, timeout)
            model_s = time.perf_counter() - sent
            status = reply.status
            if variant.containers:
                self.meters.containers(endpoint, variant.name, reply.headers.get(pipeline.LATENCY))
            self.capture_reply(route, variant.name, headers, body, reply)
            return variant, instance, reply
        finally:
            if variant.serverless is not None:
                variant.serverless.leave()
            serving = len(variant.instances) + len(variant.green)
            self.meters.invocation(
                endpoint, variant.name, serving, status, model_s, time.perf_counter() - received, fleet
            )

    def capture_reply(
        self, route: Route, variant: str, headers: list[tuple[str, str]], body: bytes, reply: Reply
    ) -> None:
        """An answered request (real-time or asynchronous), sampled into the endpoint's data capture: formatted
        here, written later. `headers` are the request's, by SageMaker's names."""
        config = route.capture
        if config is None or self.capture is None or not 200 <= reply.status < 300 or not config.sampled():
            return
        sent = dict(headers)
        reply_type = reply.headers.get(b"content-type")
        captured = Captured(
            route.endpoint,
            variant,
            sent.get("Content-Type"),
            body,
            reply_type.decode("latin-1") if reply_type is not None else None,
            reply.body,
            sent.get("X-Amzn-SageMaker-Inference-Id"),
            sent.get("X-Amzn-SageMaker-Custom-Attributes"),
        )
        self.capture.add(config, captured)

    @contextlib.asynccontextmanager
    async def stream(
        self,
        endpoint: str,
        target_variant: str | None,
        headers: list[tuple[str, str]],
        body: bytes,
        timeout: float,
        received: float,
        target_container: str | None = None,
    ) -> AsyncIterator[tuple[VariantRoute, Instance, Streamed]]:
        """One request whose reply is read as it comes (InvokeEndpointWithResponseStream), metered like `invoke`
        (ModelLatency: until the reply's head). Multi-model variants and shadow copies do not stream."""
        route = self.routes.get(endpoint)
        if route is None:
            raise NoRoute(endpoint)
        variant = route.variant(target_variant)
        if variant.loader or variant.green_loader:
            raise NotStreamable(f"variant {variant.name} is multi-model: homeport streams single-model variants")
        if target_container is not None or variant.direct:
            headers = [*headers, _target_container(endpoint, variant, target_container)]
        status, model_s, fleet = 500, None, None
        if variant.serverless is not None:
            variant.serverless.enter(len(body))
        try:
            pool = variant.pool()
            instance = await self._instance(variant, pool, timeout)
            if pool is variant.green:
                fleet = (instance.config, len(pool))
            sent = time.perf_counter()
            async with instance.client.stream("POST", "/invocations", headers, body, timeout) as streamed:
                model_s, status = time.perf_counter() - sent, streamed.status
                yield variant, instance, streamed
        finally:
            if variant.serverless is not None:
                variant.serverless.leave()
            serving = len(variant.instances) + len(variant.green)
            self.meters.invocation(
                endpoint, variant.name, serving, status, model_s, time.perf_counter() - received, fleet
            )

    @staticmethod
    async def _instance(variant: VariantRoute, pool: list[Instance], timeout: float) -> Instance:
        """The least busy healthy instance of `pool`; for a serverless variant without one, the instance a cold
        start brings up."""
        instance = least_outstanding(pool)
        if instance is None and variant.serverless is not None:
            instance = await variant.serverless.cold_start(timeout)  # a warm one at once, when one came up meanwhile
        if instance is None:
            raise NoHealthyInstance(f"variant {variant.name} has no healthy instance")
        return instance

    async def _invoke_model(
        self,
        endpoint: str,
        variant: VariantRoute,
        pool: list[Instance],
        target: str | None,
        headers: list[tuple[str, str]],
        body: bytes,
        timeout: float,
    ) -> tuple[Instance, Reply, float]:
        """A multi-model variant's request: to an instance holding `target` if one does, loaded there first if
        not. The instance, its reply and the model's own time."""
        loader = variant.green_loader if pool is variant.green and variant.green else variant.loader
        if loader is None:
            raise NotMultiModel(target)
        if target is None:
            raise MissingTargetModel()
        check_target(target)
        instance = least_outstanding([i for i in pool if i.models.holds(target)]) or least_outstanding(pool)
        if instance is None:
            raise NoHealthyInstance(f"variant {variant.name} has no healthy instance")
        headers = [*headers, ("X-Amzn-SageMaker-Target-Model", target)]
        path = f"/models/{container_name(target)}/invoke"
        waited = time.perf_counter()
        times = await loader.ensure(instance.client, instance.models, target)
        sent = time.perf_counter()
        reply = await instance.client.request("POST", path, headers, body, timeout)
        if reply.status == 404:  # the container no longer has it (restarted, or unloaded meanwhile): load it again
            loader.forget(instance.models, target)
            times = await loader.ensure(instance.client, instance.models, target)
            sent = time.perf_counter()
            reply = await instance.client.request("POST", path, headers, body, timeout)
        self.meters.model_cache(endpoint, variant.name, times, sent - waited)
        model_s = time.perf_counter() - sent
        if not loader.files.cache:  # ModelCacheSetting=Disabled: unloaded and deleted after each request
            task = asyncio.get_running_loop().create_task(self._drop(loader, instance, target))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return instance, reply, model_s

    async def _drop(self, loader: Loader, instance: Instance, target: str) -> None:
        if target in instance.models.loaded:
            seconds = await loader.unload(instance.client, instance.models, target)
            self.meters.model_unloaded(instance.endpoint, instance.variant, seconds)
        loader.files.discard(target)

    async def _shadow(
        self, endpoint: str, shadow: VariantRoute, headers: list[tuple[str, str]], body: bytes, timeout: float
    ) -> None:
        """A copy of a request for a shadow variant: metered under its name, its reply (or failure) dropped, so
        that it never changes or delays what the client gets."""
        received, status, model_s = time.perf_counter(), 500, None
        instance = least_outstanding(shadow.instances)
        try:
            if instance is not None:
                sent = time.perf_counter()
                reply = await instance.client.request("POST", "/invocations", headers, body, timeout)
                model_s, status = time.perf_counter() - sent, reply.status
        except Exception:  # the shadow's trouble shows in its metrics, never in the client's reply
            pass
        finally:
            total = time.perf_counter() - received
            self.meters.invocation(endpoint, shadow.name, len(shadow.instances), status, model_s, total)
