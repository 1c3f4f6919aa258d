"""The endpoint controller's decisions, as a pure function of desired and observed state and the time.

`plan(endpoints, instances, now, startup_timeout_s)` returns the actions that move each endpoint's
instances towards its target; the executor in `endpoints.py` applies them. A *fleet* is the instances of
one (endpoint config, variant) pair: an update starts the new config's fleets beside the old ones, and
traffic moves only when every new fleet is healthy at full size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from homeport.controllers.serverless_plan import Demand, Policy, fleet_size, provisioned
from homeport.core.deployment_plan import (
    Advance,
    Complete,
    Decision,
    Hold,
    Observed,
    Progress,
    RollBack,
    decide,
    schedule_of,
)
from homeport.core.rolling_plan import (
    Roll,
    RollbackFailed,
    Rolling,
    RollingDecision,
    RollingObserved,
    RollingProgress,
    decide_rolling,
    fleet_sizes,
    rolling_of,
)
from homeport.core.states import EndpointStatus
from homeport.dataplane.instances import LIVE, Instance, InstanceState

S = EndpointStatus
FleetKey = tuple[str, str]  # (endpoint config name, variant name)


@dataclass(frozen=True)
class EndpointView:
    name: str
    status: EndpointStatus
    target: dict[str, Any]
    serving: dict[str, Any] | None
    deployment: dict[str, Any] | None = None  # a blue/green update under way (services/deployments.start)
    alarms: Mapping[str, str] = field(default_factory=dict)  # the deployment's watched alarms -> their states
    demand: Mapping[FleetKey, Demand] = field(default_factory=dict)  # serverless fleets' gates


@dataclass(frozen=True)
class StartInstance:
    endpoint: str
    config: str
    variant: dict[str, Any]
    asynchronous: bool = False  # the instance takes async requests: payloads up to 1 GB


@dataclass(frozen=True)
class StopInstance:
    instance_id: str
    reason: str


@dataclass(frozen=True)
class Promote:
    """Every target fleet is healthy at full size: route to it and report InService."""

    endpoint: str


@dataclass(frozen=True)
class FailEndpoint:
    endpoint: str
    reason: str


@dataclass(frozen=True)
class AbortUpdate:
    """An update's new instances failed: keep serving the old target, report InService with the reason."""

    endpoint: str
    reason: str


@dataclass(frozen=True)
class Forget:
    """A deleted endpoint has no instances left: remove its record."""

    endpoint: str


@dataclass(frozen=True)
class Shift:
    """A deployment's next step: `share` of the traffic on the new fleet, from now."""

    endpoint: str
    progress: Progress | RollingProgress
    share: float


@dataclass(frozen=True)
class FailRollback:
    """A rolling deployment's rollback could not start the old fleet again: UpdateRollbackFailed."""

    endpoint: str
    reason: str


@dataclass(frozen=True)
class Wake:
    """Nothing to do until `at` (a bake ends, or the deployment's time runs out), unless something changes."""

    at: float


Action = StartInstance | StopInstance | Promote | FailEndpoint | AbortUpdate | Forget | Shift | FailRollback | Wake

PENDING = frozenset({S.CREATING, S.UPDATING, S.SYSTEM_UPDATING})
ROLLING = frozenset({S.UPDATING, S.ROLLING_BACK})  # the statuses of a rolling deployment under way


def fleets(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    """Every variant that has instances: the production variants and the shadow ones."""
    return [*deployment["variants"], *deployment.get("shadows", [])]


def fleet_keys(deployment: dict[str, Any] | None) -> set[FleetKey]:
    if not deployment:
        return set()
    return {(deployment["config"], v["VariantName"]) for v in fleets(deployment)}


def plan(
    endpoints: Sequence[EndpointView],
    instances: Iterable[Instance],
    now: float,
    startup_timeout_s: float,
    serverless: Policy | None = None,
) -> list[Action]:
    actions: list[Action] = []
    by_endpoint: dict[str, list[Instance]] = defaultdict(list)
    for inst in instances:
        if inst.state != InstanceState.DRAINING:
            by_endpoint[inst.endpoint].append(inst)
    known = {e.name for e in endpoints}
    for name, orphans in by_endpoint.items():
        if name not in known:
            actions.extend(StopInstance(i.id, "its endpoint no longer exists") for i in orphans)
    for endpoint in endpoints:
        mine = by_endpoint.get(endpoint.name, [])
        actions.extend(_plan_endpoint(endpoint, mine, now, startup_timeout_s, serverless))
    return actions


def _plan_endpoint(
    ep: EndpointView, mine: list[Instance], now: float, startup_timeout_s: float, serverless: Policy | None
) -> list[Action]:
    if ep.status == S.DELETING:
        if not mine:
            return [Forget(ep.name)]
        return [StopInstance(i.id, "the endpoint is being deleted") for i in mine]
    if ep.status not in PENDING and ep.status not in (S.IN_SERVICE, S.ROLLING_BACK, S.UPDATE_ROLLBACK_FAILED):
        return [StopInstance(i.id, f"the endpoint is {ep.status.value}") for i in mine]

    actions: list[Action] = []
    wanted = fleet_keys(ep.target) | fleet_keys(ep.serving)
    broken: dict[FleetKey, str] = {}
    kept: list[Instance] = []
    for inst in mine:
        key = (inst.config, inst.variant)
        if key not in wanted:
            actions.append(StopInstance(inst.id, "its fleet is no longer part of the endpoint"))
        elif inst.state in (InstanceState.EXITED, InstanceState.UNHEALTHY):
            actions.append(StopInstance(inst.id, inst.failure or "the instance stopped"))
            if not inst.ever_healthy:
                broken.setdefault(key, inst.failure or f"instance {inst.id} exited before it passed /ping")
        elif (
            inst.state in (InstanceState.PROVISIONING, InstanceState.STARTING)
            and now - inst.started_at > startup_timeout_s
        ):
            actions.append(StopInstance(inst.id, "startup timeout"))
            broken.setdefault(key, f"instance {inst.id} did not pass /ping within {startup_timeout_s:g} seconds")
        else:
            kept.append(inst)
    if ep.status == S.UPDATE_ROLLBACK_FAILED:
        return actions  # what is left of both fleets serves, as it is, until the next update

    rolling = _rolling(ep)
    if broken and ep.status in PENDING and rolling is None:
        reason = next(iter(broken.values()))
        if ep.status == S.UPDATING and ep.serving is not None:
            return [*actions, AbortUpdate(ep.name, reason)]
        return [*actions, *(StopInstance(i.id, "the endpoint failed") for i in kept), FailEndpoint(ep.name, reason)]

    sizes: dict[FleetKey, int] = {}
    if rolling is not None and ep.serving is not None:
        steps, progress, share = rolling
        blue, green = fleet_sizes(steps, progress, share)
        sizes = {_only_fleet(ep.serving): blue, _only_fleet(ep.target): green}
    healthy_of: dict[FleetKey, int] = {}
    for deployment in (ep.target, ep.serving) if sizes else (ep.target,):
        assert deployment is not None
        for variant in fleets(deployment):
            key = (deployment["config"], variant["VariantName"])
            fleet = [i for i in kept if (i.config, i.variant) == key]
            want = sizes.get(key, variant["Count"])
            if "Serverless" in variant and serverless is not None:
                live = sum(1 for i in fleet if i.state in LIVE)
                want = fleet_size(variant["Serverless"], ep.demand.get(key), live, now, serverless)
            actions.extend(_converge(ep, deployment, variant, want, fleet))
            healthy_of[key] = min(
                want, sum(1 for i in kept if (i.config, i.variant) == key and i.state == InstanceState.HEALTHY)
            )
    ready = all(healthy_of[(ep.target["config"], v["VariantName"])] >= _floor(v, serverless) for v in fleets(ep.target))
    if rolling is not None and ep.serving is not None:
        return [*actions, _roll(ep, rolling, healthy_of, broken, now)]
    if ep.deployment is not None and ep.status == S.UPDATING and ep.serving is not None:
        return [*actions, _deploy(ep, ready, now)]
    if ready and (ep.status != S.IN_SERVICE or ep.serving != ep.target):
        actions.append(Promote(ep.name))
    return actions


def _floor(variant: dict[str, Any], serverless: Policy | None) -> int:
    """The instances a fleet must have healthy to serve: its count; a serverless one's provisioned concurrency's."""
    if "Serverless" in variant:
        return provisioned(variant["Serverless"], serverless.per_instance) if serverless is not None else 0
    return int(variant["Count"])


def _converge(
    ep: EndpointView, deployment: dict[str, Any], variant: dict[str, Any], want: int, fleet: list[Instance]
) -> list[Action]:
    """Start or stop instances of one fleet until it has `want` live."""
    live = [i for i in fleet if i.state in LIVE]
    if len(live) < want:
        return [
            StartInstance(ep.name, deployment["config"], variant, "async" in deployment)
            for _ in range(want - len(live))
        ]
    # Scale in: not-yet-healthy instances first, then the newest.
    order = sorted(live, key=lambda i: (i.state == InstanceState.HEALTHY, -i.started_at))
    return [StopInstance(i.id, "scale in") for i in order[: len(live) - want]]


def _only_fleet(deployment: dict[str, Any]) -> FleetKey:
    return deployment["config"], deployment["variants"][0]["VariantName"]


def _rolling(ep: EndpointView) -> tuple[Rolling, RollingProgress, float] | None:
    """A rolling deployment under way: its plan, its progress and the share of the traffic on the new fleet."""
    deployment = ep.deployment
    if deployment is None or "RollingUpdatePolicy" not in deployment["config"] or ep.status not in ROLLING:
        return None
    if ep.serving is None:
        return None
    steps = rolling_of(deployment["config"], ep.serving["variants"], ep.target["variants"])
    return steps, RollingProgress.from_json(deployment["progress"]), deployment["share"]


def _roll(
    ep: EndpointView,
    rolling: tuple[Rolling, RollingProgress, float],
    healthy: Mapping[FleetKey, int],
    broken: Mapping[FleetKey, str],
    now: float,
) -> Action:
    """One tick of a rolling deployment (`core/rolling_plan`): the fleets were sized for its step above."""
    assert ep.serving is not None
    steps, progress, share = rolling
    blue, green = _only_fleet(ep.serving), _only_fleet(ep.target)
    observed = RollingObserved(
        green_healthy=healthy.get(green, 0),
        blue_healthy=healthy.get(blue, 0),
        green_failure=broken.get(green),
        blue_failure=broken.get(blue),
        alarms=ep.alarms,
    )
    return _action(ep.name, decide_rolling(steps, progress, share, observed, now), now)


def _deploy(ep: EndpointView, ready: bool, now: float) -> Action:
    """One tick of a blue/green deployment (`core/deployment_plan`): the new fleet is started at full size
    above; traffic moves onto it step by step, and back at once on a rollback."""
    assert ep.deployment is not None
    steps = schedule_of(ep.deployment["config"], ep.target["variants"])
    progress = Progress.from_json(ep.deployment["progress"])
    return _action(ep.name, decide(steps, progress, Observed(green_ready=ready, alarms=ep.alarms), now), now)


def _action(endpoint: str, decision: Decision | RollingDecision, now: float) -> Action:
    """What the controller does about a deployment's decision."""
    match decision:
        case Advance(progress=moved, green_share=share) | Roll(progress=moved, green_share=share):
            return Shift(endpoint, moved, share)
        case Complete():
            return Promote(endpoint)
        case RollBack(reason=reason):
            return AbortUpdate(endpoint, reason)
        case RollbackFailed(reason=reason):
            return FailRollback(endpoint, reason)
        case Hold(wake_at=at):
            return Wake(at if at is not None else now + 3600)
    raise AssertionError("unreachable")
