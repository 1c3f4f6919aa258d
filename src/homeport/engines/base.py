"""Where instances run. The `local` engine runs them as subprocesses; a Ray engine places them on a cluster."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class InstanceSpec:
    instance_id: str
    runtime: str
    model_dir: Path
    environment: dict[str, str]
    socket_path: Path
    log_path: Path


class Engine(Protocol):
    def start(self, spec: InstanceSpec) -> Any:
        """Start the instance's model server; returns the engine's handle for it."""

    def exit_code(self, handle: Any) -> int | None:
        """None while the instance runs, else how it ended."""

    async def stop(self, handle: Any, grace_s: float) -> None:
        """SIGTERM (finish in-flight work), then SIGKILL after `grace_s`."""

    def kill_all(self) -> None:
        """Stop every instance at once (server shutdown after the graceful stop timed out)."""
