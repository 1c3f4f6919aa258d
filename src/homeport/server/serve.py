"""`homeport serve`: wire settings, store, engine, controllers, services and API into one process."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import ipaddress
import logging
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from homeport.api.app import (
    App,
    autoscaling_handlers,
    cloudwatch_handlers,
    logs_handlers,
    sagemaker_handlers,
    sts_callers,
)
from homeport.api.auth.authenticator import Authenticator
from homeport.api.auth.keys import AccessKey, KeyFileError, KeyRing, key_ring
from homeport.api.malformed import FrontDoorProtocol
from homeport.api.prometheus import exposition
from homeport.api.runtime import RuntimeApi
from homeport.api.s3.handlers import ExternalS3Notice, S3Api
from homeport.api.service_api import ServiceApi
from homeport.console.app import console_app
from homeport.console.context import Console, InstanceView
from homeport.controllers.alarms import AlarmEvaluator
from homeport.controllers.async_invocations import AsyncWorker
from homeport.controllers.autoscaler import Autoscaler
from homeport.controllers.endpoints import EndpointController
from homeport.controllers.experiments import ExperimentController
from homeport.controllers.job_runner import JobRunner
from homeport.controllers.log_shipper import LogShipper
from homeport.controllers.metric_collector import MetricCollector
from homeport.controllers.metric_loop import MetricLoop
from homeport.controllers.monitoring import MonitoringController
from homeport.controllers.notifier import Notifier
from homeport.controllers.processing_run import ProcessingJobRun
from homeport.controllers.provisioning import socket_dir
from homeport.controllers.route_follower import RouteFollower
from homeport.controllers.training_run import TrainingJobRun
from homeport.controllers.transform_run import TransformJobRun
from homeport.core.clock import Clock, SystemClock
from homeport.dataplane.capture import CaptureWriter
from homeport.dataplane.meters import Meters
from homeport.dataplane.router import Router
from homeport.engines.base import Engine
from homeport.engines.local import LocalEngine
from homeport.errors import InvalidParameterException, RuntimeValidationError
from homeport.objects.local import LocalObjectStore
from homeport.objects.locations import ExternalStore, Locator
from homeport.server.process import READY_PREFIX
from homeport.services.alarms import AlarmService
from homeport.services.async_invocations import AsyncInvocationService
from homeport.services.context import Context
from homeport.services.endpoint_configs import EndpointConfigService
from homeport.services.endpoints import EndpointService
from homeport.services.inference_experiments import InferenceExperimentService
from homeport.services.log_tailer import LogTailer
from homeport.services.logs import LogService
from homeport.services.metrics import MetricService, valid_period
from homeport.services.model_package_groups import ModelPackageGroupService
from homeport.services.model_packages import ModelPackageService
from homeport.services.models import ModelService
from homeport.services.monitoring_definitions import JobDefinitionService
from homeport.services.monitoring_executions import MonitoringExecutionService
from homeport.services.monitoring_schedules import MonitoringScheduleService
from homeport.services.processing_jobs import ProcessingJobService, is_monitoring
from homeport.services.scaling import ScalingService
from homeport.services.tags import TagService
from homeport.services.training_jobs import TrainingJobService
from homeport.services.transform_jobs import TransformJobService
from homeport.settings import Settings
from homeport.store import Kind, Store
from homeport.store.lease import Lease

log = logging.getLogger(__name__)


@dataclass
class Services:
    models: ModelService
    endpoint_configs: EndpointConfigService
    endpoints: EndpointService
    tags: TagService
    transform_jobs: TransformJobService
    metrics: MetricService
    alarms: AlarmService
    scaling: ScalingService
    inference_experiments: InferenceExperimentService
    logs: LogService
    training_jobs: TrainingJobService
    processing_jobs: ProcessingJobService
    data_quality_job_definitions: JobDefinitionService
    model_quality_job_definitions: JobDefinitionService
    monitoring_schedules: MonitoringScheduleService
    model_package_groups: ModelPackageGroupService
    model_packages: ModelPackageService


def build_services(ctx: Context, tailer: LogTailer | None = None) -> Services:
    groups = ModelPackageGroupService(ctx)
    packages = ModelPackageService(ctx, groups)
    models = ModelService(ctx, packages)
    configs = EndpointConfigService(ctx, models)
    endpoints = EndpointService(ctx, models, configs)
    alarms = AlarmService(ctx)
    processing = ProcessingJobService(ctx)
    definitions = {kind: JobDefinitionService(ctx, kind) for kind in ("DataQuality", "ModelQuality")}
    return Services(
        models,
        configs,
        endpoints,
        TagService(ctx),
        TransformJobService(ctx, models),
        MetricService(ctx),
        alarms,
        ScalingService(ctx, alarms),
        InferenceExperimentService(ctx, configs, endpoints),
        LogService(ctx, tailer),
        TrainingJobService(ctx),
        processing,
        definitions["DataQuality"],
        definitions["ModelQuality"],
        MonitoringScheduleService(ctx, MonitoringExecutionService(ctx, processing)),
        groups,
        packages,
    )


def default_engine(settings: Settings) -> Engine:
    """Where instances run: processes of their own, or (HOMEPORT_INSTANCE_MODE=inline) this server's event loop, or
    (HOMEPORT_ENGINE=ray) a Ray cluster's nodes."""
    if settings.engine == "ray":
        from homeport.engines.ray_engine import RayEngine

        return RayEngine(settings.ray_address)
    if settings.engine != "local":
        sys.exit(f"homeport: HOMEPORT_ENGINE must be local or ray, not {settings.engine!r}")
    if settings.instance_mode == "inline":
        if settings.instance_host:
            sys.exit(
                "homeport: HOMEPORT_INSTANCE_HOST needs HOMEPORT_INSTANCE_MODE=process (inline instances are "
                "served by this front door alone)"
            )
        from homeport.engines.inline import InlineEngine

        return InlineEngine()
    if settings.instance_mode != "process":
        sys.exit(f"homeport: HOMEPORT_INSTANCE_MODE must be process or inline, not {settings.instance_mode!r}")
    return LocalEngine(prefork=settings.prefork, host=settings.instance_host)


def external_store(settings: Settings) -> ExternalStore | None:
    if not settings.s3_endpoint_url:
        return None
    try:
        import s3fs  # noqa: F401 - fail at start, not at the first deployment
    except ImportError:
        sys.exit("homeport: HOMEPORT_S3_ENDPOINT_URL needs s3fs: pip install 'homeport[s3]'")
    return ExternalStore(
        settings.s3_endpoint_url,
        settings.s3_region or settings.region,
        settings.s3_access_key_id or None,
        settings.s3_secret_access_key or None,
    )


def access_keys(settings: Settings) -> tuple[KeyRing, AccessKey | None]:
    """The keys requests must be signed with; a pair generated now (to print once) when none are configured."""
    configured = bool(settings.access_key_id or settings.keys_file)
    if not configured and not _is_loopback(settings.host):
        sys.exit(
            f"homeport: refusing to listen on {settings.host} with no access keys configured; set "
            "HOMEPORT_ACCESS_KEY_ID and HOMEPORT_SECRET_ACCESS_KEY, or HOMEPORT_KEYS_FILE"
        )
    try:
        return key_ring(
            data_dir=settings.data_dir,
            access_key_id=settings.access_key_id or None,
            secret_access_key=settings.secret_access_key or None,
            keys_file=Path(settings.keys_file) if settings.keys_file else None,
        )
    except KeyFileError as exc:
        sys.exit(f"homeport: {exc}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Server:
    def __init__(self, settings: Settings, clock: Clock | None = None, engine: Engine | None = None) -> None:
        period = settings.metric_period_seconds
        if not valid_period(period):
            sys.exit(
                f"homeport: HOMEPORT_METRIC_PERIOD_SECONDS must be 1, 5, 10, 20, 30 or a multiple of 60, not {period}"
            )
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.settings = settings
        self.keys, self.generated_key = access_keys(settings)
        durable = settings.durable_commits
        self.store = Store(settings.database, durable=durable)
        self.lease = Lease(settings.database)
        self.meters = Meters()
        clock = clock or SystemClock()
        external = external_store(settings)
        self.objects = None if external else LocalObjectStore(settings.objects_dir, clock, durable=durable)
        self.ctx = Context(settings, self.store, clock, Locator(self.objects, external))
        self.capture = CaptureWriter(self.ctx.objects.put_bytes, settings.capture_flush_s)
        self.router = Router(self.meters, self.capture)
        self.engine = engine = engine or default_engine(settings)
        self.controller = EndpointController(self.ctx, engine, self.router)
        self.follower = RouteFollower(self.ctx, self.router)  # routes while another front door runs the instances
        self._following: asyncio.Task[None] | None = None
        sockets = socket_dir(settings)
        self.transforms = JobRunner(
            self.ctx, Kind.TRANSFORM_JOB, "TransformJob", lambda doc: TransformJobRun(self.ctx, engine, doc, sockets)
        )
        self.trainings = JobRunner(
            self.ctx, Kind.TRAINING_JOB, "TrainingJob", lambda doc: TrainingJobRun(self.ctx, engine, doc)
        )
        self.processings = JobRunner(
            self.ctx, Kind.PROCESSING_JOB, "ProcessingJob", lambda doc: ProcessingJobRun(self.ctx, engine, doc)
        )
        tailer = LogTailer(self.ctx)
        self.services = build_services(self.ctx, tailer)
        self.log_shipper = LogShipper(self.ctx, tailer)
        self.notifier = Notifier(self.ctx)
        self.experiments = ExperimentController(self.ctx, self.services.inference_experiments)
        self.monitoring = MonitoringController(self.ctx, self.services.monitoring_schedules)
        self.async_worker = AsyncWorker(
            self.ctx,
            self.router,
            self._wake_notifier,
            self.services.endpoints.scale_from_zero,
            door=self.lease.door,
            leading=lambda: self.lease.held,
        )
        self.metric_loop = MetricLoop(
            self.ctx,
            MetricCollector(self.ctx, self.meters, self.router, lambda: self.controller.instances.values()),
            AlarmEvaluator(self.ctx, self.services.metrics),
            [Autoscaler(self.ctx, self.services.scaling, self.services.endpoints, self.services.metrics).run_once],
            leading=lambda: self.lease.held,
        )
        self.ctx.wake = self._wake
        self._tasks: list[asyncio.Task[None]] = []
        apis = {
            "sagemaker": ServiceApi("sagemaker", sagemaker_handlers(self.services)),
            # CloudWatch names a malformed request ValidationError, not ValidationException.
            "cloudwatch": ServiceApi("cloudwatch", cloudwatch_handlers(self.services), RuntimeValidationError),
            "application-autoscaling": ServiceApi("application-autoscaling", autoscaling_handlers(self.services)),
            "logs": ServiceApi("logs", logs_handlers(self.services), InvalidParameterException),
            "sts": ServiceApi("sts", {}, RuntimeValidationError, callers=sts_callers(settings.account_id)),
        }
        self.app = App(
            list(apis.values()),
            RuntimeApi(
                settings, self.router, self._endpoint_status, AsyncInvocationService(self.ctx, self._wake_async)
            ),
            S3Api(self.objects) if self.objects else ExternalS3Notice(settings.s3_endpoint_url),
            Authenticator(self.keys, clock),
            self.startup,
            self.shutdown,
            exposition(self.meters, self.router),
            console_app(
                Console(
                    self.keys,
                    clock,
                    lambda service, operation, params: apis[service].call(operation, params),
                    self._instance_views,
                    settings.metric_period_seconds,
                    self.ctx.objects,
                    settings.console_https_only,
                )
            ),
        )
        self.url = ""
        self.stepped_down = False
        self._uvicorn: uvicorn.Server | None = None

    def _wake(self) -> None:
        self.controller.wake()
        self.transforms.wake()
        self.trainings.wake()
        self.processings.wake()
        self.async_worker.wake()
        self.notifier.wake()
        self.experiments.wake()
        self.monitoring.wake()
        self.lease.poke()  # a follower's write: the leading front door's controllers look now

    def _wake_notifier(self) -> None:
        self.notifier.wake()
        self.lease.poke()  # on a follower: the leader's notifier delivers what the follower's worker queued

    def _wake_async(self) -> None:
        self.async_worker.wake()
        self.lease.poke()

    def _instance_views(self, endpoint: str) -> list[InstanceView]:
        readings = self.metric_loop.collector.readings
        return [
            InstanceView(
                i.id, i.variant, i.zone, i.instance_type, i.state.value, i.started_at, i.failure,
                *readings.get(i.id, (None, None)),
            )
            for i in self.controller.instances.values()
            if i.endpoint == endpoint
        ]  # fmt: skip

    def _endpoint_status(self, name: str) -> str | None:
        with self.store.reading() as conn:
            doc = self.store.get(conn, Kind.ENDPOINT, name)
        return doc["EndpointStatus"] if doc else None

    async def startup(self) -> None:
        if self.generated_key is not None:  # shown once, at the start that created it; never logged
            key = self.generated_key
            print(
                "homeport: no access keys were configured, so this pair was generated and saved in "
                f"{self.settings.data_dir / 'credentials'} (mode 0600; AWS_SHARED_CREDENTIALS_FILE can point at it):\n"
                f"  aws_access_key_id = {key.access_key_id}\n  aws_secret_access_key = {key.secret_access_key}",
                flush=True,
            )
        loop = asyncio.get_running_loop()
        # Every front door serves the API, works on the async queue, and stores its own metrics and captures.
        self._tasks = [
            loop.create_task(self.metric_loop.run_forever()),
            loop.create_task(self.capture.run_forever()),
            loop.create_task(self.async_worker.run_forever()),
        ]
        if self.lease.try_acquire():
            self._lead()
        else:
            log.info(
                "another front door runs the controllers; this one routes to its instances and takes over if it stops"
            )
            self._following = loop.create_task(self.follower.run_forever())
        self.lease.watch(
            on_lead=lambda: _call_soon(loop, self._lead),
            on_wake=lambda: _call_soon(loop, self._wake),
            on_lost=lambda: _call_soon(loop, self._step_down),
        )
        print(f"{READY_PREFIX}{self.url}", flush=True)
        self.engine.warm()  # its template process, now that the server's own start no longer needs the CPU
        threading.Thread(target=_warm_imports, name="homeport-warm", daemon=True).start()

    def _lead(self) -> None:
        """Run the controllers: pick up every endpoint, job and queue where the last leader left them."""
        if self.lease.shared:
            log.warning("this front door now runs the controllers")
        if self._following is not None:
            self._following.cancel()
            self.follower.stop()
        self.controller.restore()
        self.transforms.restore(resume=True)
        self.trainings.restore(resume=False)  # a training run cannot pick up where it was: it ends, saying why
        self.processings.restore(resume=is_monitoring)  # an execution's analysis runs again from its start
        self.async_worker.restore()
        loop = asyncio.get_running_loop()
        self.engine.watch(lambda: _call_soon(loop, self.controller.wake))
        self._tasks += [
            loop.create_task(self.controller.run_forever()),
            loop.create_task(self.transforms.run_forever()),
            loop.create_task(self.trainings.run_forever()),
            loop.create_task(self.processings.run_forever()),
            loop.create_task(self.notifier.run_forever()),
            loop.create_task(self.experiments.run_forever()),
            loop.create_task(self.monitoring.run_forever()),
            loop.create_task(self.log_shipper.run_forever()),
        ]

    def _step_down(self) -> None:
        """The lease is lost, so another front door may already be starting instances for the same endpoints:
        stop acting now, and stop the process (its instances with it); a supervisor starts it again as a
        follower."""
        for task in self._tasks:
            task.cancel()
        self.stepped_down = True
        log.critical("stopping: this front door lost the controller lease")
        if self._uvicorn is not None:  # else embedded (tests): whoever runs the app stops it
            self._uvicorn.should_exit = True  # a graceful stop: requests in flight answered, instances stopped

    async def shutdown(self) -> None:
        log.info("stopping: shutting down every instance")
        loops = [*self._tasks, *filter(None, [self._following])]
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)  # each ends before the loop does: none left pending
        self.follower.stop()
        await self.transforms.shutdown()
        await self.trainings.shutdown()
        await self.processings.shutdown()
        await self.async_worker.shutdown()
        await self.notifier.shutdown()
        # A front door that lost the lease leaves the routes alone: they may be its successor's already.
        await self.controller.shutdown(unpublish=not self.stepped_down)
        await self.capture.flush()  # every request answered is in: nothing captured is lost on a graceful stop
        self.engine.close()
        self.lease.release()
        self.store.close()
        if self.objects:
            self.objects.close()

    def serve(self) -> None:
        sock = socket.socket(socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.settings.host, self.settings.port))
        except OSError as exc:
            sys.exit(f"homeport: cannot listen on {self.settings.host}:{self.settings.port}: {exc.strerror}")
        sock.listen(2048)  # listening before the ready line is printed: early clients queue, never refused
        host, port = sock.getsockname()[:2]
        self.url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
        config = uvicorn.Config(
            self.app,
            http=FrontDoorProtocol,
            loop="uvloop",
            lifespan="on",
            access_log=False,
            proxy_headers=False,
            log_level=self.settings.log_level,
            timeout_graceful_shutdown=int(self.settings.model_timeout_s) + 5,
        )
        self._uvicorn = uvicorn.Server(config)
        self._uvicorn.run(sockets=[sock])


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is already closed: the server is stopping
        loop.call_soon_threadsafe(callback)


def run(settings: Settings, **_: Any) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = Server(settings)
    server.serve()
    if server.stepped_down:  # a failure for a supervisor, which starts it again: it rejoins as a follower
        sys.exit("homeport: stopped because this front door lost the controller lease")


def _warm_imports() -> None:
    """What the first requests need and the start does not (datasketches and numpy, for the latency metrics):
    imported once the server is ready, so that neither the start nor the first request waits for it."""
    importlib.import_module("datasketches")
