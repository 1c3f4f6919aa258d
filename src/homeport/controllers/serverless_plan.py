"""How many instances a serverless variant keeps, as a pure function of its demand and the time.

A serverless variant has no instance count. It runs as many instances as its requests need, each taking up to
`per_instance` requests at once, and none once it has had no request for `idle_s` (`HOMEPORT_SERVERLESS_IDLE_S`),
except those its `ProvisionedConcurrency` keeps warm. The data plane's `Gate` counts the demand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Policy:
    idle_s: float  # no request for this long: down to the provisioned instances
    per_instance: int  # requests one instance takes at once before another starts


@dataclass(frozen=True)
class Demand:
    """What a serverless variant's gate observed."""

    in_flight: int  # requests in the variant now, waiting for a cold start or being served
    recent_peak: int  # the most in flight at once over the last idle period or two
    idle_since: float | None  # when the last request ended; None while one is in flight


def instances_for(concurrency: int, per_instance: int) -> int:
    return math.ceil(concurrency / per_instance) if concurrency > 0 else 0


def provisioned(serverless: dict[str, Any], per_instance: int) -> int:
    """The instances a variant's ProvisionedConcurrency keeps warm whatever its traffic."""
    return instances_for(int(serverless.get("ProvisionedConcurrency", 0)), per_instance)


def fleet_size(serverless: dict[str, Any], demand: Demand | None, live: int, now: float, policy: Policy) -> int:
    """The instances the variant should have: enough for the requests in flight; while it is not idle, what it has
    (up to what its recent peak needed); never fewer than its provisioned concurrency's, never more than its
    MaxConcurrency's."""
    per_instance = policy.per_instance
    floor = provisioned(serverless, per_instance)
    ceiling = max(floor, instances_for(int(serverless["MaxConcurrency"]), per_instance))
    if demand is None:
        return floor
    want = instances_for(demand.in_flight, per_instance)
    idle = demand.in_flight == 0 and demand.idle_since is not None and now - demand.idle_since >= policy.idle_s
    if not idle:
        want = max(want, min(live, instances_for(demand.recent_peak, per_instance)))
    return min(ceiling, max(floor, want))
