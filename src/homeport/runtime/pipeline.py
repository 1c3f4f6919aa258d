"""A model of several containers, served by one instance process: a serial inference pipeline, or containers
invoked directly by hostname (`InferenceExecutionConfig.Mode`).

SageMaker runs each container of an instance as its own server and passes a pipeline's intermediate replies
between them over HTTP. homeport serves homeport's runtimes only, so it loads every container's model, each with
its own environment, into the one instance process, and a hop from one container to the next
is a function call: a pipeline costs what its containers cost, and its containers start, are health-checked,
replaced and scaled together because they are one process.

- Serial: the first container takes the request; each reply, with its Content-Type, is the next container's
  request; the client's Accept goes to the last container, the others answer in their default format
  (`SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`). A container's error ends the chain with that container named.
- Direct: `X-Amzn-SageMaker-Target-Container-Hostname` picks the container.

Each reply carries `x-homeport-container-latency: <hostname>=<microseconds>/<status>,...`, one item per container
that ran, from which the data plane records the per-container metrics (ContainerLatency, Invocations, errors).

The spec comes in `HOMEPORT_PIPELINE` (JSON: `mode`, and per container `hostname`, `runtime`, `model_dir`,
`environment`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeport.runtime.environment import ContainerEnvironment
from homeport.runtime.errors import BadRequest, InvocationError, ModelLoadError
from homeport.runtime.images import Runtime
from homeport.runtime.server import Invocation, InvocationHandler, Reply

TARGET_CONTAINER = b"x-amzn-sagemaker-target-container-hostname"
LATENCY = b"x-homeport-container-latency"
TEXT = "text/plain; charset=utf-8"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Member:
    hostname: str
    handler: InvocationHandler


class PipelineHandler:
    def __init__(self, members: list[Member], direct: bool) -> None:
        self.members = members
        self.direct = direct
        self._by_name = {m.hostname: m for m in members}

    async def invoke(self, invocation: Invocation) -> Reply:
        if self.direct:
            return await self._direct(invocation)
        timings: list[str] = []
        body, content_type = invocation.body, invocation.content_type
        last = len(self.members) - 1
        reply = Reply()
        for i, member in enumerate(self.members):
            step = Invocation(
                body,
                content_type,
                invocation.accept if i == last else None,
                invocation.custom_attributes,
                invocation.headers,
            )
            reply = await _timed(member, step, timings)
            if not 200 <= reply.status < 300:
                break
            if reply.stream is not None and i < last:  # the next container reads the whole of it
                reply.body, reply.stream = b"".join([part async for part in reply.stream]), None
            body, content_type = reply.body, reply.content_type
        reply.headers = [*reply.headers, (LATENCY, ",".join(timings).encode())]
        return reply

    async def _direct(self, invocation: Invocation) -> Reply:
        name = next((v.decode("latin-1") for k, v in invocation.headers if k == TARGET_CONTAINER), None)
        member = self._by_name.get(name or "")
        if member is None:  # the data plane checks first; this is for a caller that did not
            raise BadRequest(
                f"no container {name!r}: send X-Amzn-SageMaker-Target-Container-Hostname, one of "
                f"{', '.join(self._by_name)}"
            )
        timings: list[str] = []
        reply = await _timed(member, invocation, timings)
        reply.headers = [*reply.headers, (LATENCY, ",".join(timings).encode())]
        return reply


async def _timed(member: Member, invocation: Invocation, timings: list[str]) -> Reply:
    """The container's reply, its failure as a reply that names it, and its time and status in `timings`."""
    started = time.perf_counter()
    try:
        reply = await member.handler.invoke(invocation)
    except InvocationError as exc:
        reply = Reply(f"container {member.hostname}: {exc.message}".encode(), TEXT, exc.status)
    except Exception as exc:
        log.exception("container %s failed", member.hostname)
        reply = Reply(f"container {member.hostname}: {type(exc).__name__}: {exc}".encode(), TEXT, 500)
    timings.append(f"{member.hostname}={int((time.perf_counter() - started) * 1e6)}/{reply.status}")
    return reply


Load = Callable[[Runtime, Path, ContainerEnvironment, Executor], InvocationHandler]


def pipeline_handler(spec_json: str, load: Load, pool: Executor) -> PipelineHandler:
    """Every container of the spec loaded, each with its own environment, sharing the instance's worker threads
    (a pipeline's steps run one after the other); or ModelLoadError naming the container that failed."""
    try:
        spec: dict[str, Any] = json.loads(spec_json)
        containers = spec["containers"]
        mode = spec.get("mode", "Serial")
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"HOMEPORT_PIPELINE is not a pipeline spec: {exc}") from None
    members = []
    for container in containers:
        hostname = container["hostname"]
        try:
            env = ContainerEnvironment.from_environ(container.get("environment", {}))
        except ValueError as exc:
            raise ModelLoadError(f"container {hostname}: {exc}") from None
        try:
            handler = load(Runtime(container["runtime"]), Path(container["model_dir"]), env, pool)
        except ModelLoadError as exc:
            raise ModelLoadError(f"container {hostname}: {exc}") from None
        except Exception as exc:
            raise ModelLoadError(f"container {hostname}: cannot load its model: {type(exc).__name__}: {exc}") from None
        members.append(Member(hostname, handler))
    return PipelineHandler(members, direct=mode == "Direct")
