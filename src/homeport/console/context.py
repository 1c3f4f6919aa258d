"""What the console is given by the server that serves it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from homeport.api.auth.keys import KeyRing
from homeport.core.clock import Clock
from homeport.objects.locations import Locator

# (service, operation, parameters) → reply: the API's own handler, its parameters checked as a request's are.
Operate = Callable[[str, str, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class InstanceView:
    """One instance as this front door sees it."""

    id: str
    variant: str
    zone: str
    instance_type: str
    state: str
    started_at: float
    failure: str | None
    cpu: float | None  # percent of one core, at the last reading
    memory: float | None  # percent of the machine's memory


@dataclass(frozen=True)
class Console:
    keys: KeyRing
    clock: Clock
    operate: Operate
    instances: Callable[[str], Sequence[InstanceView]]  # an endpoint's, by name
    metric_period: int  # seconds, the server's metric period: the charts' resolution
    objects: Locator  # to read the reports jobs wrote (Model Monitor's statistics and violations)
    https_only: bool = False  # the session cookie's Secure flag: set when a TLS proxy fronts the server
