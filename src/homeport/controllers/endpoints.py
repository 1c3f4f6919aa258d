"""The endpoint controller: observes instances, asks `endpoint_plan.plan` what to do, and does it."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from homeport.controllers.endpoint_plan import (
    AbortUpdate,
    Action,
    EndpointView,
    FailEndpoint,
    FailRollback,
    Forget,
    Promote,
    Shift,
    StartInstance,
    StopInstance,
    Wake,
    plan,
)
from homeport.controllers.loop import Loop
from homeport.controllers.provisioning import ping, provision, socket_dir
from homeport.controllers.routes import healthy_among, route_for
from homeport.controllers.serverless_gates import Gates
from homeport.controllers.serverless_plan import Policy
from homeport.core.deployment_plan import PROVISIONING, Progress, rollback_alarms, schedule_of, variant_status
from homeport.core.rolling_plan import RollingProgress, rolling_of, rolling_status
from homeport.core.states import EndpointStatus, move
from homeport.core.waiting import within
from homeport.dataplane.instances import LIVE, Instance, InstanceState
from homeport.dataplane.multi_model import Loader, ModelFiles
from homeport.dataplane.router import Route, Router
from homeport.dataplane.serverless import Gate
from homeport.engines.base import Engine, spread
from homeport.services import events
from homeport.services.context import Context
from homeport.services.endpoints import variant_summary
from homeport.store import Kind, alarms, instance_routes
from homeport.store.instance_routes import InstanceRoute

log = logging.getLogger(__name__)
S = EndpointStatus
DEPLOYING = frozenset({S.UPDATING.value, S.ROLLING_BACK.value, S.UPDATE_ROLLBACK_FAILED.value})

UNHEALTHY_AFTER = 3  # consecutive failed pings of a running instance
STOP_GRACE_S = 30.0  # SIGTERM, then SIGKILL 30 s later, as SageMaker does
FAST_TICK_S = 0.05  # while instances are starting, look again soon
RECENT_DEPLOYMENTS = 10  # ended blue/green deployments an endpoint keeps, newest first
ASYNC_MAX_PAYLOAD = 1 << 30  # InvokeEndpointAsync's limit: 1 GB


class EndpointController:
    def __init__(self, ctx: Context, engine: Engine, router: Router) -> None:
        self.ctx = ctx
        self.engine = engine
        self.router = router
        self.instances: dict[str, Instance] = {}
        self._numbers = itertools.count(1)
        self.loop = Loop("endpoint controller")
        self._tasks: set[asyncio.Task[None]] = set()
        self.socket_dir = socket_dir(ctx.settings)
        self._wake_at: float | None = None  # the earliest Wake of the last plan (a bake ending)
        self._loaders: dict[tuple[str, str, str], Loader] = {}  # multi-model variants': (endpoint, config, variant)
        self._gates = Gates(ctx.settings.serverless_idle_s, ctx.clock.now, self.wake)  # serverless variants'
        # Other front doors may share the database (PostgreSQL): they route from the healthy instances published
        # there. None until the first publish, which replaces what a previous leader left.
        self.share_routes = not ctx.settings.database.startswith("sqlite")
        self._shared: frozenset[InstanceRoute] | None = None

    def wake(self) -> None:
        self.loop.wake()

    # --- lifecycle -------------------------------------------------------------------------------------

    def restore(self) -> None:
        """After a restart: every endpoint that was serving comes back through SystemUpdating. A deployment under
        way is rolled back: both fleets start again from nothing, and its steps were timed against instances that
        are gone. An endpoint a failed rollback left on a mix of both fleets comes back on the old one, whole."""
        store = self.ctx.store
        with store.transaction() as conn:
            for doc in store.all(conn, Kind.ENDPOINT):
                status = doc["EndpointStatus"]
                if status in (S.UPDATING.value, S.ROLLING_BACK.value) and doc.get("_deployment"):
                    reason = "the deployment was rolled back: the server restarted while it was under way"
                    _abort(doc, reason, self.ctx.clock.now())
                if status == S.UPDATE_ROLLBACK_FAILED.value:
                    doc.pop("_deployment", None)
                    doc["_target"] = doc["_serving"]
                    move(doc, "EndpointStatus", S.SYSTEM_UPDATING)
                    store.replace(conn, Kind.ENDPOINT, doc["EndpointName"], doc, status=doc["EndpointStatus"])
                if doc["EndpointStatus"] == S.IN_SERVICE.value:
                    move(doc, "EndpointStatus", EndpointStatus.SYSTEM_UPDATING)
                    store.replace(conn, Kind.ENDPOINT, doc["EndpointName"], doc, status=doc["EndpointStatus"])
                    events.endpoint(conn, self.ctx.settings, doc, self.ctx.clock.now())

    async def run_forever(self) -> None:
        await self.loop.run(self.run_once, self._delay)

    def _delay(self) -> float:
        starting = any(i.state in (InstanceState.PROVISIONING, InstanceState.STARTING) for i in self.instances.values())
        delay = FAST_TICK_S if starting else self.ctx.settings.health_interval_s
        if self._wake_at is not None:
            delay = min(delay, max(0.0, self._wake_at - self.ctx.clock.now()))
        return delay

    async def shutdown(self, *, unpublish: bool = True) -> None:
        """Stop every instance; `unpublish` (while this front door still holds the lease) tells followers too."""
        for task in list(self._tasks):
            task.cancel()
        stops = [self.engine.stop(i.handle, STOP_GRACE_S) for i in self.instances.values() if i.handle is not None]
        for inst in self.instances.values():
            inst.client.close()
        try:
            await within(asyncio.gather(*stops, return_exceptions=True), STOP_GRACE_S + 5)
        finally:
            self.engine.kill_all()
            self.instances.clear()
            if unpublish and self.share_routes and self._shared:  # gone: followers stop routing to them
                try:
                    with self.ctx.store.transaction() as conn:
                        instance_routes.replace(conn, ())
                except SQLAlchemyError as exc:  # followers find them unreachable and retry elsewhere
                    log.warning("could not withdraw this front door's instances from the routes: %s", exc)

    # --- one tick --------------------------------------------------------------------------------------

    async def run_once(self) -> None:
        await self._observe()
        store = self.ctx.store
        with store.reading() as conn:
            docs = store.all(conn, Kind.ENDPOINT)
            watched = {name for d in docs for name in rollback_alarms((d.get("_deployment") or {}).get("config"))}
            states = {a["AlarmName"]: a["StateValue"] for a in alarms.find(conn, sorted(watched))} if watched else {}
        views = [
            EndpointView(
                d["EndpointName"],
                EndpointStatus(d["EndpointStatus"]),
                d["_target"],
                d["_serving"],
                d.get("_deployment"),
                states,
                self._gates.demand(d["EndpointName"]),
            )
            for d in docs
        ]
        settings = self.ctx.settings
        policy = Policy(settings.serverless_idle_s, settings.serverless_requests_per_instance)
        now = self.ctx.clock.now()
        actions = plan(views, list(self.instances.values()), now, settings.startup_timeout_s, policy)
        wakes = [a.at for a in actions if isinstance(a, Wake)]
        self._wake_at = min(wakes) if wakes else None
        for action in actions:
            self._apply(action)
        self._publish()
        self._gates.sample(self.router.meters)

    async def _observe(self) -> None:
        checks = [
            self._check(i)
            for i in self.instances.values()
            if i.state in (InstanceState.STARTING, InstanceState.HEALTHY, InstanceState.UNHEALTHY)
        ]
        if checks:
            await asyncio.gather(*checks)

    async def _check(self, inst: Instance) -> None:
        ok = await ping(self.engine, inst)
        if ok is None:
            return
        if ok:
            if not inst.ever_healthy:  # SageMaker's ModelSetupTime: from the start to serving
                self.router.meters.setup_time(inst.endpoint, inst.variant, self.ctx.clock.now() - inst.started_at)
            inst.state = InstanceState.HEALTHY
            inst.ever_healthy = True
            inst.ping_failures = 0
        elif inst.ever_healthy:
            inst.ping_failures += 1
            if inst.ping_failures >= UNHEALTHY_AFTER:
                inst.state = InstanceState.UNHEALTHY
                inst.failure = f"instance {inst.id} stopped answering /ping"

    # --- actions ---------------------------------------------------------------------------------------

    def _apply(self, action: Action) -> None:
        log.debug("apply %s", action)
        match action:
            case StartInstance():
                self._start(action)
            case StopInstance():
                inst = self.instances.get(action.instance_id)
                if inst is not None and inst.state != InstanceState.DRAINING:
                    log.info("stopping %s: %s", inst.id, action.reason)
                    self._gates.failed(inst, action.reason)
                    inst.state = InstanceState.DRAINING
                    self._spawn(self._stop(inst))
            case Promote():
                self._update_doc(action.endpoint, lambda d: _promote(d, self.ctx.clock.now()))
            case FailEndpoint():
                log.warning("endpoint %s failed: %s", action.endpoint, action.reason)
                self._update_doc(action.endpoint, lambda d: _fail(d, action.reason))
            case AbortUpdate():
                log.warning("update of endpoint %s abandoned: %s", action.endpoint, action.reason)
                self._update_doc(action.endpoint, lambda d: _abort(d, action.reason, self.ctx.clock.now()))
            case Forget():
                with self.ctx.store.transaction() as conn:
                    self.ctx.store.delete(conn, Kind.ENDPOINT, action.endpoint)
            case Shift():
                log.info("endpoint %s: %.0f%% of the traffic on the new fleet", action.endpoint, 100 * action.share)
                self._update_doc(action.endpoint, lambda d: _shift(d, action))
            case FailRollback():
                log.warning("endpoint %s: the rollback failed: %s", action.endpoint, action.reason)
                self._update_doc(action.endpoint, lambda d: _fail_rollback(d, action.reason, self.ctx.clock.now()))
            case Wake():
                pass  # run_once keeps the earliest for the loop's next delay

    def _update_doc(self, name: str, change: Any) -> None:
        store = self.ctx.store
        with store.transaction() as conn:
            doc = store.get(conn, Kind.ENDPOINT, name)
            # Deleted, or being deleted since this tick's plan was made: the decision is stale, and deletion wins.
            if doc is None or doc["EndpointStatus"] == EndpointStatus.DELETING:
                return
            before = doc["EndpointStatus"]
            change(doc)
            now = doc["LastModifiedTime"] = self.ctx.clock.now()
            store.replace(conn, Kind.ENDPOINT, name, doc, status=doc["EndpointStatus"])
            if doc["EndpointStatus"] != before:
                events.endpoint(conn, self.ctx.settings, doc, now)

    def _start(self, action: StartInstance) -> None:
        variant = action.variant
        number = next(self._numbers)
        instance_id = f"{action.endpoint}-{variant['VariantName']}-{number}"
        settings = self.ctx.settings
        inst = Instance(
            id=instance_id,
            endpoint=action.endpoint,
            config=action.config,
            variant=variant["VariantName"],
            started_at=self.ctx.clock.now(),
            socket_path=self.socket_dir / f"{number}.sock",
            instance_type=variant.get("InstanceType", ""),
            log_path=settings.logs_dir / "endpoints" / action.endpoint / variant["VariantName"] / f"{instance_id}.log",
        )
        taken = [
            i.zone
            for i in self.instances.values()
            if (i.endpoint, i.variant) == (inst.endpoint, inst.variant) and i.state in LIVE
        ]
        inst.zone = spread(self.engine.zones, taken)
        self.instances[instance_id] = inst
        container = variant["Container"]
        if action.asynchronous:  # InvokeEndpointAsync takes up to 1 GB; the container's own setting wins
            environment = {"MAX_CONTENT_LENGTH": str(ASYNC_MAX_PAYLOAD), **container.get("Environment", {})}
            container = {**container, "Environment": environment}
        extra = {}
        if "Serverless" in variant:  # enforced in the instance's process (runtime/__main__.limit_memory)
            extra["HOMEPORT_MEMORY_LIMIT_MB"] = str(variant["Serverless"]["MemorySizeInMB"])
        self._spawn(self._provision(inst, container, variant["Runtime"], extra))

    async def _provision(self, inst: Instance, container: dict[str, Any], runtime: str, extra: dict[str, str]) -> None:
        await provision(self.ctx, self.engine, inst, container, runtime, extra)
        self.wake()

    async def _stop(self, inst: Instance) -> None:
        self._publish()  # out of routing before anything else
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ctx.settings.model_timeout_s
        while inst.outstanding and loop.time() < deadline:
            await asyncio.sleep(0.01)
        inst.client.close()
        if inst.handle is not None:
            await self.engine.stop(inst.handle, STOP_GRACE_S)
        inst.socket_path.unlink(missing_ok=True)
        self.instances.pop(inst.id, None)
        self.wake()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- what the router and DescribeEndpoint see ------------------------------------------------------

    def _publish(self) -> None:
        store = self.ctx.store
        routes: dict[str, Route] = {}
        deployed: set[tuple[str, str]] = set()  # (endpoint, config) of what serves or is being deployed
        with store.transaction() as conn:
            for doc in store.all(conn, Kind.ENDPOINT):
                name = doc["EndpointName"]
                deployed.update((name, d["config"]) for d in (doc["_serving"], doc["_target"]) if d)
                route = route_for(doc, self._healthy, self._loader, self._gate)
                if route is not None:
                    routes[name] = route
                pending = self._pending(doc)
                shown = {
                    "ProductionVariants": self._summaries(doc),
                    "ShadowProductionVariants": self._summaries(doc, "shadows"),
                    "PendingDeploymentSummary": pending,
                }
                if any(doc.get(key) != value for key, value in shown.items()):
                    step = _step(doc.get("PendingDeploymentSummary"))
                    for key, value in shown.items():
                        doc.pop(key, None)
                        if value:  # an endpoint without shadows or a deployment shows neither
                            doc[key] = value
                    store.replace(conn, Kind.ENDPOINT, name, doc, status=doc["EndpointStatus"])
                    if _step(pending) not in ((), step):  # a deployment's next step
                        events.endpoint(conn, self.ctx.settings, doc, self.ctx.clock.now(), deployment=True)
            if self.share_routes:
                self._share(conn)
        self.router.publish(routes)
        for gone in [k for k in self._loaders if k[:2] not in deployed]:  # the endpoint or its config is gone
            self._spawn(asyncio.to_thread(self._loaders.pop(gone).files.close))  # gigabytes, maybe: off the loop
        self._gates.keep(deployed)

    def _share(self, conn: Connection) -> None:
        shared = frozenset(
            InstanceRoute(i.id, i.endpoint, i.config, i.variant, str(i.address), i.zone)
            for i in self.instances.values()
            if i.state == InstanceState.HEALTHY
        )
        if shared != self._shared:
            instance_routes.replace(conn, shared)
            self._shared = shared

    def _loader(self, endpoint: str, config: str, variant: dict[str, Any]) -> Loader | None:
        """A multi-model variant's loader, kept while the variant serves (its models' files with it)."""
        container = variant["Container"]
        if container.get("Mode") != "MultiModel":
            return None
        key = (endpoint, config, variant["VariantName"])
        loader = self._loaders.get(key)
        if loader is None:
            settings = self.ctx.settings
            volume = variant.get("VolumeSizeInGB")
            files = ModelFiles(
                container["ModelDataUrl"],
                settings.cache_dir / "multi-model" / endpoint / config / variant["VariantName"],
                locate=self.ctx.objects.locate,
                cache=container.get("MultiModelConfig", {}).get("ModelCacheSetting", "Enabled") == "Enabled",
                disk_bytes=volume * 1024**3 if volume else settings.model_disk_bytes,
                max_model_bytes=settings.max_model_bytes,
            )
            loader = self._loaders[key] = Loader(files, settings.model_load_wait_s)
        return loader

    def _healthy(self, endpoint: str, deployment: dict[str, Any], variant: dict[str, Any]) -> list[Instance]:
        return healthy_among(self.instances.values())(endpoint, deployment, variant)

    def _gate(self, name: str, serving: dict[str, Any], variant: dict[str, Any]) -> Gate | None:
        key = (name, serving["config"], variant["VariantName"])
        return self._gates.publish(key, variant.get("Serverless"), self._healthy(name, serving, variant))

    def _summaries(self, doc: dict[str, Any], kind: str = "variants") -> list[dict[str, Any]]:
        target, serving = doc["_target"], doc["_serving"]
        current = {v["VariantName"]: v for v in (serving or {}).get(kind, [])}
        shown = serving if serving and serving["config"] != target["config"] else target
        out = []
        for variant in shown.get(kind, []):
            now = current.get(variant["VariantName"])
            count = len(self._healthy(doc["EndpointName"], serving, now)) if serving and now else 0
            summary = variant_summary(variant, now["Weight"] if now else 0.0, count, now)
            out.append(summary)
        return out

    def _pending(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        """DescribeEndpoint's PendingDeploymentSummary while a deployment is under way (or a failed rollback left
        the endpoint on both fleets)."""
        deployment, target = doc.get("_deployment"), doc["_target"]
        if not deployment or doc["EndpointStatus"] not in DEPLOYING:
            return None
        if "RollingUpdatePolicy" in deployment["config"]:
            rolling = RollingProgress.from_json(deployment["progress"])
            plan = rolling_of(deployment["config"], doc["_serving"]["variants"], target["variants"])
            status = rolling_status(plan, rolling, deployment["share"])
            started, since = rolling.started, rolling.step_started or rolling.started
        else:
            progress = Progress.from_json(deployment["progress"])
            steps = schedule_of(deployment["config"], target["variants"])
            status = variant_status(steps, progress, sum(v["Count"] for v in target["variants"]))
            started = progress.started
            since = progress.started if progress.step == PROVISIONING else progress.step_started
        summary: dict[str, Any] = {"EndpointConfigName": target["config"], "StartTime": started}
        # The new fleet's shadows start with it and get their copies once it has all the traffic.
        for key, kind, share in (
            ("ProductionVariants", "variants", deployment["share"]),
            ("ShadowProductionVariants", "shadows", 0.0),
        ):
            variants = []
            for variant in target.get(kind, []):
                count = len(self._healthy(doc["EndpointName"], target, variant))
                variants.append(
                    {
                        **variant_summary(variant, variant["Weight"] * share, count),
                        "VariantStatus": [{**status, "StartTime": since}],
                    }
                )
            if variants:
                summary[key] = variants
        return summary


def _step(pending: dict[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """Where a deployment is: its new fleet's variant statuses (Creating, Baking … with SageMaker's messages)."""
    variants = (pending or {}).get("ProductionVariants", [])
    return tuple((s["Status"], s.get("StatusMessage", "")) for v in variants for s in v.get("VariantStatus", []))


def _shift(doc: dict[str, Any], action: Shift) -> None:
    if doc.get("_deployment") and doc["EndpointStatus"] in (S.UPDATING.value, S.ROLLING_BACK.value):
        doc["_deployment"] = {**doc["_deployment"], "progress": action.progress.to_json(), "share": action.share}
        progress = action.progress
        if isinstance(progress, RollingProgress) and progress.rolling_back and doc["EndpointStatus"] == S.UPDATING:
            move(doc, "EndpointStatus", S.ROLLING_BACK)
            doc["FailureReason"] = (progress.reason or "")[:1024]


def _fail_rollback(doc: dict[str, Any], reason: str, now: float) -> None:
    """Both fleets keep what they have and serve; the deployment stays, for the traffic split and for
    DescribeEndpoint, until the next UpdateEndpoint."""
    if doc["EndpointStatus"] != S.ROLLING_BACK.value:
        return
    _remember(doc, "RollbackFailed", reason, now, keep=True)
    move(doc, "EndpointStatus", S.UPDATE_ROLLBACK_FAILED)
    doc["FailureReason"] = reason[:1024]


def _promote(doc: dict[str, Any], now: float) -> None:
    _remember(doc, "Completed", None, now)
    doc["_serving"] = doc["_target"]
    doc["EndpointConfigName"] = doc["_target"]["config"]
    doc.pop("AsyncInferenceConfig", None)
    if "async" in doc["_target"]:
        doc["AsyncInferenceConfig"] = doc["_target"]["async"]
    recovered = doc["EndpointStatus"] == S.SYSTEM_UPDATING.value  # after a restart: why the last update failed stays
    move(doc, "EndpointStatus", EndpointStatus.IN_SERVICE)
    if not recovered:
        doc.pop("FailureReason", None)


def _remember(doc: dict[str, Any], outcome: str, reason: str | None, now: float, keep: bool = False) -> None:
    """A deployment ends: it joins the endpoint's recent ones (`HomeportDeployments`, homeport's own field in
    DescribeEndpoint, which boto3 drops and `homeport deployments` shows). `keep`: its record stays (a failed
    rollback still splits the traffic by it)."""
    deployment = doc.get("_deployment") if keep else doc.pop("_deployment", None)
    if not deployment:
        return
    record = {
        "EndpointConfigName": doc["_target"]["config"],
        "StartTime": deployment["progress"]["started"],
        "EndTime": now,
        "Outcome": outcome,
        "Type": _mode(deployment["config"]),
    }
    if reason:
        record["Reason"] = reason[:1024]
    doc["HomeportDeployments"] = [record, *doc.get("HomeportDeployments", [])][:RECENT_DEPLOYMENTS]


def _mode(config: dict[str, Any]) -> str:
    """A deployment's kind for its history: ALL_AT_ONCE, CANARY, LINEAR or ROLLING."""
    if "RollingUpdatePolicy" in config:
        return "ROLLING"
    return str(config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"])


def _fail(doc: dict[str, Any], reason: str) -> None:
    move(doc, "EndpointStatus", EndpointStatus.FAILED)
    doc["FailureReason"] = reason[:1024]


def _abort(doc: dict[str, Any], reason: str, now: float) -> None:
    _remember(doc, "RolledBack", reason, now)
    doc["_target"] = doc["_serving"]
    move(doc, "EndpointStatus", EndpointStatus.IN_SERVICE)
    doc["FailureReason"] = reason[:1024]
