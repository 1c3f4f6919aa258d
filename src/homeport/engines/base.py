"""Where instances run. The `local` engine runs them as processes on this machine, `inprocess` as threads of the
server (for tests); a Ray engine will place them on a cluster."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from homeport.runtime.address import Address, free_port, new_secret

LOCAL_ZONE = "local"


@dataclass(frozen=True)
class InstanceSpec:
    instance_id: str
    runtime: str
    model_dir: Path
    environment: dict[str, str]
    socket_path: Path  # where an engine that serves the instance on a Unix socket puts it
    log_path: Path
    zone: str = LOCAL_ZONE  # the failure domain (a node's zone label) the instance is placed in
    instance_type: str = ""  # ml.m5.large, …: what it stands for in resources (none for serverless)


class NoCapacity(OSError):
    """No node of the cluster could ever hold what was asked for (an instance type bigger than every node)."""


def prepare(spec: InstanceSpec) -> None:
    """Make the instance's log and socket directories, and clear a socket a previous instance left behind."""
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    spec.socket_path.parent.mkdir(parents=True, exist_ok=True)
    spec.socket_path.unlink(missing_ok=True)


def listen_at(host: str, spec: InstanceSpec) -> Address:
    """Where a new instance of this machine listens: TCP on `host` with a secret of its own, or (no host) its
    Unix socket."""
    return Address.tcp(host, free_port(host), new_secret()) if host else Address.unix(spec.socket_path)


def spread(zones: Sequence[str], taken: Collection[str]) -> str:
    """The zone for a new instance of a variant whose live instances are in `taken`: the one holding fewest, so
    losing one zone costs the variant as little as it can (ties: the first listed)."""
    return min(zones, key=lambda zone: sum(1 for t in taken if t == zone))


class Job(Protocol):
    """A training or processing job's process, wherever the engine placed it."""

    async def wait(self) -> int: ...

    async def stop(self, grace_s: float) -> None:
        """SIGTERM it and all it started, SIGKILL after `grace_s`."""


class Engine(Protocol):
    @property
    def zones(self) -> Sequence[str]:
        """The failure domains it can place instances in now."""

    def start(self, spec: InstanceSpec) -> Any:
        """Start the instance's model server; returns the engine's handle for it."""

    def exit_code(self, handle: Any) -> int | None:
        """None while the instance runs, else how it ended."""

    async def address(self, handle: Any) -> Address:
        """Where the instance's model server listens (its secret included, when that is TCP), once it is placed
        (OSError if it could not be)."""

    def direct(self, handle: Any) -> Callable[[], Any] | None:
        """For an instance served in this process's event loop: a getter of its ASGI app (None until it has
        loaded), which the data plane calls without a socket. None for instances elsewhere."""

    async def stop(self, handle: Any, grace_s: float) -> None:
        """SIGTERM (finish in-flight work), then SIGKILL after `grace_s`."""

    async def start_job(self, spec: Any) -> Job:
        """Start a job's process (`engines.jobs.JobSpec`)."""

    def warm(self) -> None:
        """Start what makes later instances quick (a template process), once the server is ready: so that it
        does not compete with the server's own start. Instances started before it is ready start the slow way."""

    def watch(self, callback: Callable[[], None]) -> None:
        """Call `callback`, from any thread, when an instance ends (where the engine can tell at once)."""

    def kill_all(self) -> None:
        """Stop every instance at once (server shutdown after the graceful stop timed out)."""

    def close(self) -> None:
        """Release what the engine holds (its template process, its threads); the server is stopping."""
