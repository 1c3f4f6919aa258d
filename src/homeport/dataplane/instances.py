"""A model instance as homeport sees it: the controller observes it, the router sends it requests."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from homeport.dataplane.connection import InstanceClient
from homeport.dataplane.direct import DirectClient
from homeport.dataplane.multi_model import ModelSet
from homeport.runtime.address import Address


class InstanceState(StrEnum):
    PROVISIONING = "Provisioning"  # fetching the model, spawning the process
    STARTING = "Starting"  # process running, /ping not yet passed
    HEALTHY = "Healthy"
    UNHEALTHY = "Unhealthy"  # passed /ping once, then stopped answering
    EXITED = "Exited"  # the process ended (or never started)
    DRAINING = "Draining"  # out of routing, waiting for in-flight requests, then stopped


UNSET = Address()
LIVE = frozenset({InstanceState.PROVISIONING, InstanceState.STARTING, InstanceState.HEALTHY})


@dataclass
class Instance:
    id: str
    endpoint: str
    config: str
    variant: str
    started_at: float
    socket_path: Path
    log_path: Path
    _: KW_ONLY  # the rest by name: an added field cannot shift the others
    zone: str = "local"  # the engine's failure domain it was placed in
    instance_type: str = ""  # what the engine places it with (ml.m5.large, …); none for serverless
    state: InstanceState = InstanceState.PROVISIONING
    ever_healthy: bool = False
    ping_failures: int = 0
    failure: str | None = None
    handle: Any = None
    client: InstanceClient | DirectClient = field(init=False)
    models: ModelSet = field(default_factory=ModelSet)  # a multi-model endpoint's models loaded here
    address: Address = UNSET  # where the engine has it listen: `socket_path` unless the engine says otherwise

    def __post_init__(self) -> None:
        self.reach(Address.unix(self.socket_path) if self.address is UNSET else self.address)

    def reach(self, address: Address) -> None:
        """Send its requests to `address` from now on."""
        self.address = address
        self.client = InstanceClient(address)

    @property
    def outstanding(self) -> int:
        return self.client.outstanding
