"""The Ray engine (`homeport serve --engine ray --ray-address HOST:PORT`): each instance is an actor placed on a
cluster node with the resources its instance type stands for (core/instance_types.py), running the model server
there on TCP with a secret of its own (runtime/address.py). A variant's instances spread over the cluster's zones:
the values of the nodes' `zone` label (`ray start --labels zone=a`); a node without one is a zone of its own.

The model (and the code, where it is apart from the model) is packed once per directory, put in Ray's object store,
and unpacked once per node (engines/ray_actor.py), so that nodes need no disk in common with the front door; an
instance's output is written on its node and copied into its log here as it grows. A node
lost is its actors lost: each instance on it ends (exit code -9), and the endpoint controller replaces it on the
nodes that are left. A training or processing job is an actor too (engines/ray_job.py): its directory is sent to
a node with the resources of its instance type, and what it wrote there comes back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import io
import json
import logging
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from homeport.core.instance_types import capacity
from homeport.core.waiting import within
from homeport.engines.base import InstanceSpec, NoCapacity
from homeport.engines.jobs import JobSpec
from homeport.engines.ray_actor import OUTPUT_CHUNK, InstanceActor
from homeport.engines.ray_job import CALL_TIMEOUT_S, FOLLOW_S, LOST, RayJob
from homeport.engines.ray_job_actor import JobActor
from homeport.runtime.address import Address, new_secret

log = logging.getLogger(__name__)

ZONE_LABEL = "zone"
UNLABELLED = "node-"  # the zone of a node without the label: this and its node id
ZONES_FRESH_S = 1.0  # how long the cluster's list of zones is taken as it is
PACKAGES_ENV = "HOMEPORT_CODE_PACKAGES"  # where the code's requirements.txt was installed, on the front door
DEFAULT_TYPE = "ml.m5.large"  # for an instance without one (serverless): a small share of a node
SERVERLESS_CPUS = 1


def require_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise SystemExit("homeport: the Ray engine needs Ray: pip install 'homeport[ray]'") from None
    return ray


class RayInstance:
    """An instance as the engine tracks it: its actor once placed, its address once it listens, its exit code."""

    def __init__(self, spec: InstanceSpec) -> None:
        self.spec = spec
        self.actor: Any = None
        self.code: int | None = None
        self.ready: concurrent.futures.Future[Address] = concurrent.futures.Future()
        self.stopping = False
        self.copied = 0  # how much of its output is in its log here
        self.copying = threading.Lock()


class RayEngine:
    def __init__(self, address: str, zone_label: str = ZONE_LABEL) -> None:
        self.ray = ray = require_ray()
        ray.init(address=address, namespace="homeport", log_to_driver=False, configure_logging=False)
        self.actor_class = ray.remote(InstanceActor)
        self.job_class = ray.remote(JobActor)
        self.jobs: set[RayJob] = set()
        self.zone_label = zone_label
        self.instances: dict[str, RayInstance] = {}
        self.on_exit: Callable[[], None] = lambda: None
        self._packed: dict[tuple[str, float], tuple[str, Any]] = {}  # (directory, its mtime) → (digest, ref)
        self._zones: tuple[float, dict[str, list[dict[str, float]]]] = (-ZONES_FRESH_S, {})
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(8, thread_name_prefix="homeport-ray")
        self._closing = threading.Event()
        threading.Thread(target=self._follow_output, name="homeport-ray-output", daemon=True).start()

    # --- where instances go ---------------------------------------------------------------------------

    @property
    def zones(self) -> Sequence[str]:
        """The zones of the cluster's live nodes."""
        return sorted(self._nodes())

    def _nodes(self) -> dict[str, list[dict[str, float]]]:
        """Each zone's live nodes (their resources) that have CPUs to give: a head started with `--num-cpus 0`
        hosts no instance. A node without the zone label is a zone of its own, `node-` and its id."""
        with self._lock:
            taken, nodes = self._zones
            if time.monotonic() - taken >= ZONES_FRESH_S:
                nodes = {}
                for node in self.ray.nodes():
                    if node.get("Alive") and node.get("Resources", {}).get("CPU", 0) > 0:  # one that can host
                        zone = (node.get("Labels") or {}).get(self.zone_label) or f"{UNLABELLED}{node['NodeID']}"
                        nodes.setdefault(zone, []).append(node["Resources"])
                self._zones = (time.monotonic(), nodes)
            return nodes

    def _need(self, instance_type: str, memory_mb: str | None = None) -> dict[str, float]:
        """The resources an instance type stands for; a serverless instance's (its memory size, and a CPU)."""
        if memory_mb:
            return {"CPU": SERVERLESS_CPUS, "memory": int(memory_mb) * 1024**2, "GPU": 0}
        size = capacity(instance_type or DEFAULT_TYPE)
        return {"CPU": size.vcpus, "memory": int(size.memory_gib * 1024**3), "GPU": size.gpus}

    def _placement(self, need: dict[str, float], zone: str | None, what: str) -> dict[str, Any]:
        """An actor's options: `need`, on a node of `zone` (any node: None). NoCapacity when no node there could
        ever hold it (Ray would wait for one to join)."""
        nodes = (zone and self._nodes().get(zone)) or [n for found in self._nodes().values() for n in found]
        if not any(all(node.get(k, 0) >= v for k, v in need.items()) for node in nodes):
            raise NoCapacity(
                f"no node{f' of zone {zone}' if zone else ''} has the {need['CPU']:g} CPUs, "
                f"{need['memory'] / 1024**3:g} GiB of memory and {need['GPU']:g} GPUs that {what} stands for"
            )
        options: dict[str, Any] = {
            "max_concurrency": 4, "num_cpus": need["CPU"], "memory": need["memory"], "num_gpus": need["GPU"]
        }  # fmt: skip
        if zone and zone.startswith(UNLABELLED):
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(zone[len(UNLABELLED) :], soft=False)
        elif zone and zone in self._nodes():
            options["label_selector"] = {self.zone_label: zone}
        return options

    # --- the Engine interface ---------------------------------------------------------------------------

    def start(self, spec: InstanceSpec) -> RayInstance:
        instance = RayInstance(spec)
        self.instances[spec.instance_id] = instance
        self._pool.submit(self._launch, instance)
        return instance

    def _launch(self, instance: RayInstance) -> None:
        """Pack what the instance needs, place its actor, and learn where it listens (in a thread: packing a
        model and waiting for a node take time)."""
        spec = instance.spec
        try:
            if spec.environment.get("SAGEMAKER_MULTI_MODEL"):
                raise OSError("multi-model endpoints are not served by the Ray engine yet (their models load from "
                              "the front door's disk)")  # fmt: skip
            shipped = {str(d): self._pack(d) for d in _directories(spec)}
            secret = new_secret()
            argv = ["--runtime", spec.runtime, "--model-dir", str(spec.model_dir)]
            need = self._need(spec.instance_type, spec.environment.get("HOMEPORT_MEMORY_LIMIT_MB"))
            what = spec.instance_type or "a serverless instance"
            actor = self.actor_class.options(**self._placement(need, spec.zone, what)).remote(
                argv, spec.environment, secret, shipped, spec.instance_id
            )
            instance.actor = actor
            if instance.stopping:  # stopped while it was being packed
                self.ray.kill(actor)
            host, port = self.ray.get(actor.address.remote())
        except Exception as exc:  # cannot pack, place or start it: the instance ends, as a process that failed
            why = "it was stopped" if instance.stopping else str(exc)
            self._end(instance, 1, f"homeport: could not start instance {spec.instance_id} on the cluster: {why}")
            return
        instance.ready.set_result(Address.tcp(host, port, secret))
        ended = actor.wait.remote().future()
        ended.add_done_callback(lambda done: self._after(self._ended, instance, done))

    def _after(self, then: Callable[..., None], *args: Any) -> None:
        """`then(*args)` in the engine's threads (it calls Ray, which a Ray callback must not wait on)."""
        with contextlib.suppress(RuntimeError):  # the engine is closing
            self._pool.submit(then, *args)

    def _ended(self, instance: RayInstance, done: concurrent.futures.Future[int]) -> None:
        try:
            code = done.result()
        except Exception as exc:  # the actor is gone: its node was lost, or it was killed
            lost = "" if instance.stopping else f"homeport: instance {instance.spec.instance_id} was lost: {exc}"
            self._end(instance, LOST, lost)
        else:
            self._copy_output(instance)  # what it printed last (why it ended) is in its log before it ends
            self._end(instance, code)

    def _follow_output(self) -> None:
        """Copy each running instance's new output from its node into its log here, every FOLLOW_S."""
        while not self._closing.wait(FOLLOW_S):
            for instance in list(self.instances.values()):
                if instance.code is None and instance.ready.done() and instance.ready.exception() is None:
                    self._copy_output(instance)

    def _copy_output(self, instance: RayInstance) -> None:
        with instance.copying, contextlib.suppress(Exception):  # a lost actor's output ends where it was copied to
            while chunk := self.ray.get(instance.actor.output.remote(instance.copied), timeout=CALL_TIMEOUT_S):
                instance.spec.log_path.parent.mkdir(parents=True, exist_ok=True)
                with open(instance.spec.log_path, "ab") as out:
                    out.write(chunk)
                instance.copied += len(chunk)
                if len(chunk) < OUTPUT_CHUNK:
                    break

    def _end(self, instance: RayInstance, code: int, line: str = "") -> None:
        if line:
            log.warning("%s", line)
            with contextlib.suppress(OSError):
                instance.spec.log_path.parent.mkdir(parents=True, exist_ok=True)
                with open(instance.spec.log_path, "a") as out:
                    out.write(line + "\n")
        if not instance.ready.done():
            instance.ready.set_exception(OSError(line or f"instance ended with {code}"))
        instance.code = code
        self.on_exit()

    def _pack(self, directory: Path) -> tuple[str, Any]:
        """(digest, object ref) of `directory` as a tar archive, packed once while it is unchanged."""
        key = (str(directory), directory.stat().st_mtime)
        with self._lock:
            if key in self._packed:
                return self._packed[key]
        packed = self._put(directory)
        with self._lock:
            self._packed[key] = packed
        return packed

    def _put(self, directory: Path) -> tuple[str, Any]:
        """(digest, object ref) of `directory` as a tar archive in the object store."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(directory, arcname=".")
        archive = buffer.getvalue()
        return hashlib.sha256(archive).hexdigest()[:32], self.ray.put(archive)

    def exit_code(self, handle: RayInstance) -> int | None:
        return handle.code

    async def address(self, handle: RayInstance) -> Address:
        return await asyncio.wrap_future(handle.ready)

    def direct(self, handle: Any) -> None:
        return None  # on a node: reached over TCP

    async def stop(self, handle: RayInstance, grace_s: float) -> None:
        handle.stopping = True
        actor = handle.actor
        if actor is not None and handle.ready.done() and handle.code is None:
            with contextlib.suppress(Exception):  # an actor already gone has nothing left to stop
                await within(asyncio.wrap_future(actor.stop.remote(grace_s).future()), grace_s + 15)
            await asyncio.get_running_loop().run_in_executor(self._pool, self._copy_output, handle)
        if actor is not None:  # placed or not: its resources go back to the cluster
            with contextlib.suppress(Exception):
                self.ray.kill(actor)
        self.instances.pop(handle.spec.instance_id, None)

    async def start_job(self, spec: JobSpec) -> RayJob:
        """The job's actor, on any node with the resources of its instance type; its directory goes with it."""
        options = self._placement(self._need(spec.instance_type), None, spec.instance_type or DEFAULT_TYPE)
        loop = asyncio.get_running_loop()
        shipped = await loop.run_in_executor(self._pool, self._ship_job, spec)
        actor = self.job_class.options(**options).remote(spec.argv, spec.env, str(spec.cwd), shipped, sys.executable)
        job = RayJob(self.ray, actor, spec, self.jobs.discard)
        self.jobs.add(job)
        return job

    def _ship_job(self, spec: JobSpec) -> dict[str, tuple[str, Any]]:
        """The job's directory (packed anew: the job's own) and the packages its requirements.txt installed."""
        shipped = {str(spec.cwd): self._put(spec.cwd)}
        packages = spec.env.get(PACKAGES_ENV, "")
        if packages and Path(packages).is_dir():
            shipped[packages] = self._pack(Path(packages))
        return shipped

    def warm(self) -> None:
        pass  # nodes are started by the cluster's operator

    def watch(self, callback: Callable[[], None]) -> None:
        self.on_exit = callback

    def kill_all(self) -> None:
        actors = [i.actor for i in self.instances.values() if i.actor is not None] + [j.actor for j in self.jobs]
        for actor in actors:
            with contextlib.suppress(Exception):
                self.ray.kill(actor)
        self.instances.clear()

    def close(self) -> None:
        self._closing.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(Exception):
            self.ray.shutdown()


def _directories(spec: InstanceSpec) -> list[Path]:
    """The directories of this machine the instance reads: its model, its code where that is apart, and each
    container's model in a serial inference pipeline."""
    found = [spec.model_dir]
    for named in (spec.environment.get("SAGEMAKER_SUBMIT_DIRECTORY", ""), spec.environment.get(PACKAGES_ENV, "")):
        if named and Path(named).is_dir():  # its code apart from the model; what its requirements.txt installed
            found.append(Path(named))
    if "HOMEPORT_PIPELINE" in spec.environment:
        found += [Path(c["model_dir"]) for c in json.loads(spec.environment["HOMEPORT_PIPELINE"])["containers"]]
    # A directory inside another one travels with it.
    return [d for d in dict.fromkeys(found) if not any(d != o and d.is_relative_to(o) for o in found)]
