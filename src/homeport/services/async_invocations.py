"""InvokeEndpointAsync: check a request, put it in the durable queue, say where its result will be.

The async worker (`controllers/async_invocations.py`) takes requests from the queue to the endpoint's instances.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from homeport.core.states import TAKING_REQUESTS, EndpointStatus
from homeport.errors import RuntimeValidationError
from homeport.objects.locations import UnreachableObject, s3_form
from homeport.services.context import Context
from homeport.store import Kind
from homeport.store import async_queue as queue
from homeport.store.lane import Lane

DEFAULT_TTL_S = 21600  # RequestTTLSeconds: 6 hours [BC-RT]
DEFAULT_TIMEOUT_S = 900  # InvocationTimeoutSeconds: 15 minutes [BC-RT]


@dataclass(frozen=True)
class Accepted:
    inference_id: str
    output: str
    failure: str


class AsyncInvocationService:
    def __init__(self, ctx: Context, wake: Callable[[], None]) -> None:
        self.ctx = ctx
        self.wake = wake  # the async worker's: a new request concerns it alone (not the endpoint controller)
        # The checks and the enqueue, off the event loop; the enqueues of one batch commit together.
        self.lane = Lane("homeport-accept")

    async def accept(self, endpoint: str, headers: dict[str, str], config: dict[str, Any] | None = None) -> Accepted:
        """`headers`: InvokeEndpointAsync's parameters by their SageMaker names (InputLocation, ContentType, …);
        `config`: the endpoint's AsyncInferenceConfig when the caller knows it is serving (the router does),
        else it is read from the store, which says why an endpoint cannot take the request."""
        accepted = await self.lane.transact(self.ctx.store, self.submit, endpoint, headers, config)
        self.wake()
        return accepted

    def submit(
        self, conn: Connection, endpoint: str, headers: dict[str, str], config: dict[str, Any] | None = None
    ) -> Accepted:
        """Check the request and queue it in `conn`'s transaction (see `accept`). `headers` have passed the
        runtime model's checks (api/runtime.check_headers: lengths, patterns, the integers' ranges)."""
        input_location = headers.get("InputLocation")
        if not input_location:
            raise RuntimeValidationError("InvokeEndpointAsync needs an InputLocation: the s3:// URI of the payload.")
        if not s3_form(input_location).startswith("s3://"):
            raise RuntimeValidationError(
                f"InputLocation must name an S3 object: s3://BUCKET/KEY, https://BUCKET.s3.REGION.amazonaws.com/KEY "
                f"or https://s3.REGION.amazonaws.com/BUCKET/KEY, not {input_location!r}."
            )
        ttl = int(headers.get("RequestTTLSeconds", DEFAULT_TTL_S))
        timeout = int(headers.get("InvocationTimeoutSeconds", DEFAULT_TIMEOUT_S))
        inference_id = headers.get("InferenceId") or str(uuid.uuid4())
        name = headers.get("Filename")
        extension = headers.get("S3OutputPathExtension")
        config = config or self._async_config(conn, endpoint)
        try:
            self.ctx.objects.check_readable(input_location)
        except UnreachableObject as exc:
            raise RuntimeValidationError(f"Cannot read the InputLocation: {exc}") from None
        output_config = config["OutputConfig"]
        request_id = str(uuid.uuid4())
        stem = name or f"{request_id}.out"
        output = _join(output_config["S3OutputPath"], extension, stem)
        failure = _join(output_config.get("S3FailurePath") or output_config["S3OutputPath"], extension, f"{stem}-error")
        now = self.ctx.clock.now()
        request = queue.AsyncRequest(
            id=request_id,
            endpoint=endpoint,
            inference_id=inference_id,
            input=input_location,
            output=output,
            failure=failure,
            content_type=headers.get("ContentType"),
            accept=headers.get("Accept"),
            custom_attributes=headers.get("CustomAttributes"),
            received=now,
            expires=now + ttl,
            timeout_s=float(timeout),
        )
        queue.enqueue(conn, request)
        return Accepted(inference_id, output, failure)

    def _async_config(self, conn: Connection, endpoint: str) -> dict[str, Any]:
        doc = self.ctx.store.get(conn, Kind.ENDPOINT, endpoint)
        if doc is None:
            raise RuntimeValidationError(f"Endpoint {endpoint} of account {self.ctx.settings.account_id} not found.")
        serving = doc.get("_serving")
        if EndpointStatus(doc["EndpointStatus"]) not in TAKING_REQUESTS or serving is None:
            raise RuntimeValidationError(
                f"Endpoint {endpoint} is not in service (status {doc['EndpointStatus']}); wait until it is InService."
            )
        if "async" not in serving:
            raise RuntimeValidationError(
                f"Endpoint {endpoint} is not an asynchronous endpoint; call InvokeEndpoint, or deploy it from an "
                "endpoint config with AsyncInferenceConfig."
            )
        config: dict[str, Any] = serving["async"]
        return config


def _join(path: str, extension: str | None, name: str) -> str:
    parts = [path.rstrip("/")]
    if extension:
        parts.append(extension.strip("/"))
    parts.append(name)
    return "/".join(parts)


def backlog_metrics(stats: queue.QueueStats, instances: int, now: float) -> dict[str, Any]:
    """SageMaker's backlog metrics for an async endpoint (CloudWatch, dimension EndpointName), and the counts."""
    backlog = stats.queued + stats.running  # "being processed or yet to be processed"
    return {
        "ApproximateBacklogSize": backlog,
        # With no instance the whole backlog is per instance: what scales an endpoint out from zero.
        "ApproximateBacklogSizePerInstance": backlog / instances if instances else float(backlog),
        "ApproximateAgeOfOldestRequest": max(0.0, now - stats.oldest) if stats.oldest is not None else 0.0,
        "HasBacklogWithoutCapacity": int(backlog > 0 and instances == 0),
        "Queued": stats.queued,
        "Running": stats.running,
        "Completed": stats.done,
        "Failed": stats.failed,
    }
