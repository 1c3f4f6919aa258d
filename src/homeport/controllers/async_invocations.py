"""The async worker: takes queued InvokeEndpointAsync requests to their endpoint's instances.

Per endpoint it keeps at most `MaxConcurrentInvocationsPerInstance` requests in flight per healthy instance
(when it is unset SageMaker chooses; homeport uses 1). For each request it reads the payload from the object
store (a large one streams from there to the instance, and the reply on to the output), sends it with the
request's InvocationTimeoutSeconds, and writes the reply to the output location, or an error document to the
failure location:

    {"InferenceId": …, "InvocationStatus": "Failed", "FailureReason": …, "StatusCode": …}

The request ends, and its notification is queued for the notifier, in one transaction. A request past its
RequestTTLSeconds fails as expired; one whose instance dies before replying is queued again (at least once to
the model, exactly one result object). An endpoint with work queued and no instance gets one.

Every front door runs a worker, claiming from the one queue in the database in its own name; together they keep
within the endpoint's capacity. The leading door's worker also ends expired requests, starts instances for
endpoints at zero, and queues again what doors that ended had claimed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar

from sqlalchemy import Connection

from homeport.controllers.loop import Loop
from homeport.dataplane.connection import InstanceDropped, InstanceTimeout, InstanceUnreachable
from homeport.dataplane.instances import Instance
from homeport.dataplane.router import Route, Router, least_outstanding
from homeport.dataplane.streaming import invoke_streaming
from homeport.objects.locations import UnreachableObject
from homeport.services import notifications as messages
from homeport.services.context import Context
from homeport.services.notifications import Result
from homeport.store import Kind, doors, notifications
from homeport.store import async_queue as queue
from homeport.store.async_queue import AsyncRequest, RequestState
from homeport.store.lane import Lane

log = logging.getLogger(__name__)
T = TypeVar("T")

TICK_S = 0.5
FAST_TICK_S = 0.02
RESTART_FROM_ZERO_S = 30.0
SWEEP_S = 1.0  # how often requests that can no longer run are looked for
SWEEP_BATCH = 256
# The store keeps ended requests (for the counts DescribeEndpoint shows) and delivered notifications an hour,
# notifications given up a week; then they are forgotten, so a busy endpoint's tables do not grow without end.
KEEP_ENDED_S = 3600.0
KEEP_ABANDONED_S = 7 * 86400.0
PRUNE_S = 60.0
MAX_ATTEMPTS = 3  # an instance dying under the same request this often fails it
REQUEUE_PAUSE_S = 0.2
DEFAULT_PER_INSTANCE = 1
STREAM_ABOVE = 8 << 20  # larger payloads stream to the instance and on to the output, in a thread
ONE_GET_BELOW = 1 << 20  # from an external store, smaller payloads are read with one request


@dataclass(frozen=True)
class Streamed:
    stream: BinaryIO
    size: int


class AsyncWorker:
    def __init__(
        self,
        ctx: Context,
        router: Router,
        notify: Callable[[], None],
        scale_from_zero: Callable[[str], bool] = lambda _: False,
        door: int = 0,
        leading: Callable[[], bool] = lambda: True,
    ) -> None:
        self.ctx = ctx
        self.door = door  # this front door's number (store/doors.py), in whose name it claims
        self.leading = leading
        self.router = router
        self.notify = notify  # wakes the notifier
        self.scale_from_zero = scale_from_zero  # gives an endpoint at zero instances one
        self.waiting = False  # some endpoint has work queued and no instance yet
        self._next_sweep = 0.0
        self._next_start: dict[str, float] = {}  # endpoint -> when it may be started from zero again
        self._next_prune = 0.0
        self.in_flight: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.loop = Loop("async worker")
        self.lane = Lane("homeport-async")
        self.wake = self.loop.wake

    def restore(self) -> None:
        """Queue again what front doors that are gone were running (on SQLite: the server's previous run)."""
        with self.ctx.store.transaction() as conn:
            count = queue.requeue_orphans(conn, self._alive)
        if count:
            log.info("%d asynchronous requests were running at a front door that stopped; queued again", count)

    def _alive(self, conn: Connection, door: int) -> bool:
        return doors.alive(conn, door, self.door)

    async def run_forever(self) -> None:
        await self.loop.run(self.run_once, lambda: FAST_TICK_S if self.waiting else TICK_S)

    def run_once(self) -> None:
        """Claim what each async endpoint has room for, and start on it."""
        self.waiting = False
        leading = self.leading()
        if leading and self.ctx.clock.now() >= self._next_sweep:
            self._sweep()
        for route in list(self.router.routes.values()):
            if route.asynchronous is None:
                continue
            healthy = sum(len(v.instances) for v in route.variants)
            if healthy == 0:
                if leading:
                    self._without_instances(route.endpoint)
                continue
            self._next_start.pop(route.endpoint, None)
            capacity = self._capacity(route)
            room = capacity - self.in_flight.get(route.endpoint, 0)
            if room <= 0:
                continue
            with self.ctx.store.transaction(relaxed=True) as conn:  # a claim lost to a power cut is claimed again
                # Other front doors' requests in flight take the endpoint's room too.
                room = min(room, capacity - queue.running(conn, route.endpoint))
                claimed = queue.claim(conn, route.endpoint, room, self.door)
            for request in claimed:
                self.in_flight[route.endpoint] = self.in_flight.get(route.endpoint, 0) + 1
                self._spawn(self._handle(route, request))

    @staticmethod
    def _capacity(route: Route) -> int:
        """Requests the endpoint may have in flight: MaxConcurrentInvocationsPerInstance per healthy instance."""
        assert route.asynchronous is not None
        per_instance = route.asynchronous.get("ClientConfig", {}).get(
            "MaxConcurrentInvocationsPerInstance", DEFAULT_PER_INSTANCE
        )
        return int(per_instance) * sum(len(v.instances) for v in route.variants)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _sweep(self) -> None:
        """End the requests that can no longer run: past their TTL, or their endpoint deleted or made real-time."""
        now = self.ctx.clock.now()
        self._next_sweep = now + SWEEP_S
        routes = self.router.routes
        ended: list[tuple[AsyncRequest, str, int]] = []
        with self.ctx.store.transaction() as conn:
            requeued = queue.requeue_orphans(conn, self._alive)
            for request in queue.claim_expired(conn, now, SWEEP_BATCH, self.door):
                ended.append((request, _expired(request), 400))
            for endpoint in queue.queued_endpoints(conn):
                route = routes.get(endpoint)
                if route is None and self.ctx.store.get(conn, Kind.ENDPOINT, endpoint) is None:
                    why = f"The endpoint {endpoint} was deleted before this request ran."
                elif route is not None and route.asynchronous is None:
                    why = f"The endpoint {endpoint} was updated to a real-time config before this request ran."
                else:
                    continue
                ended.extend((request, why, 410) for request in queue.claim(conn, endpoint, SWEEP_BATCH, self.door))
        if requeued:
            log.warning("%d asynchronous requests were running at a front door that is gone; queued again", requeued)
        for request, why, status in ended:
            self._spawn(self._end(request, why, status))
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_S
            with self.ctx.store.transaction() as conn:
                queue.prune(conn, now - KEEP_ENDED_S)
                notifications.prune(conn, now - KEEP_ENDED_S, now - KEEP_ABANDONED_S)

    async def _end(self, request: AsyncRequest, why: str, status: int) -> None:
        result = await self._fail(request, why, status)
        route = self.router.routes.get(request.endpoint)
        await self._end_with(request, route.asynchronous if route else None, result)

    def _without_instances(self, endpoint: str) -> None:
        with self.ctx.store.transaction() as conn:
            stats = queue.stats(conn, endpoint)
        if not stats.queued:
            return
        self.waiting = True  # look often: the instance that is coming should start on the work at once
        now = self.ctx.clock.now()
        # Once started, not again for a while unless an instance came up: a model that cannot start must not
        # be started over and over while its requests wait for their TTL.
        if now >= self._next_start.get(endpoint, 0.0) and self.scale_from_zero(endpoint):
            self._next_start[endpoint] = now + RESTART_FROM_ZERO_S
            log.info("endpoint %s had no instance for %d queued requests: starting one", endpoint, stats.queued)

    async def _small_io(self, fn: Callable[..., T], *args: Any) -> T:
        """Reads and writes of small objects: through the worker's lane when they stay on this machine (the
        embedded store), through a pool thread when they may wait on a network (an external S3 store)."""
        if self.ctx.objects.external is None:
            return await self.lane.run(fn, *args)
        return await asyncio.to_thread(fn, *args)

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()  # left running in the store: queued again at the next start
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, route: Route, request: AsyncRequest) -> None:
        """One of the endpoint's slots: work on `request`, then on the next one claimed in the transaction that
        ends it, for as long as the queue has one and the endpoint has room for this slot."""
        endpoint = route.endpoint
        try:
            while True:
                try:
                    result = await self._process(route, request)
                except Exception:
                    log.exception("async request %s failed in homeport", request.id)
                    result = await self._fail(
                        request, "InternalFailure: homeport failed on this request; see the server log.", 500
                    )
                if result is None:  # back in the queue
                    return
                current = self._serving(endpoint)
                following = await self._end_with(request, route.asynchronous, result, claim=current is not None)
                if following is None or current is None:
                    return
                route, request = current, following
        finally:
            self.in_flight[endpoint] -= 1
            self.wake()

    def _serving(self, endpoint: str) -> Route | None:
        """The endpoint's route while it is async and has room for one of its slots to go on."""
        route = self.router.routes.get(endpoint)
        if route is None or route.asynchronous is None:
            return None
        return route if self.in_flight.get(endpoint, 0) <= self._capacity(route) else None

    async def _end_with(
        self, request: AsyncRequest, config: dict[str, Any] | None, result: Result, *, claim: bool = False
    ) -> AsyncRequest | None:
        """End the request; with `claim`, the endpoint's next queued request, now running, if it has one."""
        # Unsynced: the result object is durable already, and a finish lost to a power cut only runs it again.
        notify, following = await self.lane.transact(
            self.ctx.store, self._finish, request, config, result, claim, relaxed=True
        )
        if notify:
            self.notify()
        return following

    def _finish(
        self, conn: Connection, request: AsyncRequest, config: dict[str, Any] | None, result: Result, claim: bool
    ) -> tuple[bool, AsyncRequest | None]:
        """The request ends, and its notification is queued, in one transaction: a crash loses neither. (Whether
        there is a notification to send, the next request claimed.)"""
        topic = messages.topics(config).get(result.status)
        now = self.ctx.clock.now()
        ended = RequestState.DONE if result.status == messages.COMPLETED else RequestState.FAILED
        if not queue.finish(conn, request.id, ended, self.door):
            # This door was taken for gone (its database connection failed) and the request was queued again:
            # whoever runs it now ends and notifies it.
            log.warning("async request %s was queued again while this front door worked on it", request.id)
            return False, None
        if topic:
            message = messages.inference_result(config or {}, self.ctx.settings.region, request, result, now)
            notifications.add(conn, request.endpoint, topic, message, now)
        following = queue.claim(conn, request.endpoint, 1, self.door) if claim else []
        return bool(topic), following[0] if following else None

    async def _process(self, route: Route, request: AsyncRequest) -> Result | None:
        """The request's result (its object written), or None when it went back to the queue."""
        if self.ctx.clock.now() > request.expires:
            return await self._fail(request, _expired(request), 400)
        try:
            payload = await self._small_io(self._open, request.input)
        except (UnreachableObject, OSError) as exc:
            return await self._fail(request, f"Cannot read the InputLocation {request.input}: {exc}", 400)
        try:
            return await self._send(route, request, payload)
        finally:
            if isinstance(payload, Streamed):
                payload.stream.close()

    async def _send(self, route: Route, request: AsyncRequest, payload: bytes | Streamed) -> Result | None:
        current = self.router.routes.get(route.endpoint, route)  # as published now: its capture, its instances
        variant = current.variant(None)
        instance = least_outstanding(variant.instances)
        if instance is None:
            await self._requeue(request, "no healthy instance", reached_model=False)
            return None
        headers = [
            (name, value)
            for name, value in (
                ("Content-Type", request.content_type),
                ("Accept", request.accept),
                ("X-Amzn-SageMaker-Custom-Attributes", request.custom_attributes),
                ("X-Amzn-SageMaker-Inference-Id", request.inference_id),
            )
            if value
        ]
        try:
            if isinstance(payload, Streamed):
                status, content_type, body = await self._stream(instance, headers, payload, request)
            else:
                reply = await instance.client.request("POST", "/invocations", headers, payload, request.timeout_s)
                status, body = reply.status, reply.body
                content_type = reply.headers.get(b"content-type", b"application/octet-stream").decode("latin-1")
                self.router.capture_reply(current, variant.name, headers, payload, reply)
                del payload
                if 200 <= status < 300:
                    await self._small_io(self.ctx.objects.put_bytes, request.output, body, content_type)
        except InstanceTimeout:
            return await self._fail(
                request,
                f"The model did not answer within InvocationTimeoutSeconds ({request.timeout_s:.0f} s).",
                408,
            )
        except InstanceUnreachable as exc:  # it never got the request (the instance is gone): not an attempt
            await self._requeue(request, str(exc), reached_model=False)
            return None
        except InstanceDropped as exc:
            if request.attempts >= MAX_ATTEMPTS:
                return await self._fail(
                    request, f"The instance ended before replying, {request.attempts} times: {exc}", 500
                )
            await self._requeue(request, str(exc), reached_model=True)
            return None
        except (UnreachableObject, OSError) as exc:
            return await self._fail(request, f"Cannot write the output to {request.output}: {exc}", 500)
        if not 200 <= status < 300:
            message = body[:4096].decode("utf-8", "replace")
            return await self._fail(request, f"The model answered {status}: {message}", status)
        return Result(messages.COMPLETED, request.output, content_type, body)

    async def _stream(
        self, instance: Instance, headers: list[tuple[str, str]], payload: Streamed, request: AsyncRequest
    ) -> tuple[int, str, bytes]:
        """Send a large payload and write the reply to the output as it comes: (status, content type, the
        reply's start: all of it when it is small enough to go in a notification)."""
        kept = bytearray()

        def sink(chunks: Iterator[bytes], content_type: str) -> None:
            def teed() -> Iterator[bytes]:
                for chunk in chunks:
                    if len(kept) <= messages.MAX_INCLUDED_RESPONSE:
                        kept.extend(chunk[: messages.MAX_INCLUDED_RESPONSE + 1 - len(kept)])
                    yield chunk

            self.ctx.objects.put_stream(request.output, teed(), content_type)

        instance.client.outstanding += 1  # the router's least-outstanding choice counts it
        try:
            reply = await asyncio.to_thread(
                invoke_streaming,
                instance.address,
                headers,
                payload.stream,
                payload.size,
                request.timeout_s,
                sink,
            )
        finally:
            instance.client.outstanding -= 1
        return reply.status, reply.content_type, reply.error or bytes(kept)

    def _open(self, url: str) -> bytes | Streamed:
        """The payload: read whole when small, else an open stream to send from (the caller closes it)."""
        if self.ctx.objects.external is not None:
            # Most payloads are small: one ranged GET rather than a HEAD and a GET. A larger one costs its first
            # MiB read twice.
            small = self.ctx.objects.read_small(url, ONE_GET_BELOW)
            if small is not None:
                return small
        with contextlib.ExitStack() as closing:
            stream = closing.enter_context(self.ctx.objects.open(url))
            size = stream.seek(0, os.SEEK_END)
            stream.seek(0)
            if size > STREAM_ABOVE:
                closing.pop_all()
                return Streamed(stream, size)
            data: bytes = stream.read()
            return data

    async def _requeue(self, request: AsyncRequest, why: str, *, reached_model: bool) -> None:
        log.info("async request %s goes back to the queue: %s", request.id, why)
        self.ctx.wake()  # the endpoint controller looks at its instances now, and replaces a dead one
        await asyncio.sleep(REQUEUE_PAUSE_S)  # rather than retrying at once on an instance that is going away
        with self.ctx.store.transaction() as conn:
            queue.release(conn, request.id, self.door, count_attempt=reached_model)

    async def _fail(self, request: AsyncRequest, reason: str, status: int) -> Result:
        document = json.dumps(
            {
                "InferenceId": request.inference_id,
                "InvocationStatus": messages.FAILED,
                "FailureReason": reason,
                "StatusCode": status,
                "InputLocation": request.input,
            }
        ).encode()
        try:
            await self._small_io(self.ctx.objects.put_bytes, request.failure, document, "application/json")
        except (UnreachableObject, OSError) as exc:  # nowhere to say it: the log is all that is left
            log.error(
                "async request %s failed (%s), and its failure document cannot be written: %s", request.id, reason, exc
            )
        return Result(messages.FAILED, request.failure, "application/json", document, reason)


def _expired(request: AsyncRequest) -> str:
    return (
        f"The request expired: it waited longer than its RequestTTLSeconds "
        f"({request.expires - request.received:.0f} s) before an instance was free."
    )
