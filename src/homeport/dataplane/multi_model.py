"""Multi-model endpoints, the platform side: which instance serves a `TargetModel`, and getting it loaded there.

A model is fetched (`ModelDataUrl` prefix + `TargetModel`) and unpacked once per variant, on the disk all its
instances share, then loaded into the instance the request landed on through the multi-model container API
(`POST /models`). Concurrent first requests for one model on one instance wait on the same load. When the
container answers 507 (the model would pass its memory budget), the least recently used model there is unloaded
(`DELETE /models/{name}`) and the load tried again; its files stay on disk until the variant's disk budget needs
the room. With `ModelCacheSetting=Disabled`, a model is unloaded and its files deleted after each request.

The router prefers an instance that has the model loaded (or loading), so a hot model is loaded once, not once
per instance; a model no instance holds goes to the least busy one.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import re
import shutil
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homeport.core.waiting import within
from homeport.dataplane.connection import InstanceDropped, InstanceTimeout, InstanceUnreachable, Reply
from homeport.objects import archives
from homeport.objects.locations import Location, UnreachableObject
from homeport.runtime.multi_model import model_bytes

log = logging.getLogger(__name__)

LOAD_TIMEOUT_S = 360.0  # SageMaker keeps loading a model this long after the first request gave up waiting
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class TargetModelError(Exception):
    """TargetModel is missing, not allowed, or names no model data that can be fetched (a ValidationError)."""


class ModelNotReady(Exception):
    """The model is still loading after the wait; the load goes on (ModelNotReadyException)."""


class ModelLoadFailed(Exception):
    """The container could not load the model (or its archive is unusable): a ModelError with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@functools.lru_cache(maxsize=4096)  # on every request's path: hashed once per model, not once per request
def container_name(target: str) -> str:
    """The opaque `model_name` the container knows a TargetModel by: readable, and unique per target."""
    digest = hashlib.sha256(target.encode()).hexdigest()[:10]
    return f"{_UNSAFE.sub('-', target)[:80].strip('-.') or 'model'}-{digest}"


def check_target(target: str) -> None:
    if target.startswith("/") or ".." in target.split("/"):
        raise TargetModelError(
            f"TargetModel {target!r} must be a path relative to the endpoint's ModelDataUrl prefix, "
            "without '..' segments or a leading '/'."
        )


@dataclass
class ModelTimes:
    """Where one load spent its time, for the ModelDownloadingTime and ModelLoadingTime metrics."""

    download_s: float = 0.0
    load_s: float = 0.0
    unloads: list[float] = field(default_factory=list)
    reported: bool = False  # metered once, though every request that waited for the load gets it


@dataclass
class ModelSet:
    """The models one instance holds, least recently used first, and the loads under way."""

    loaded: OrderedDict[str, str] = field(default_factory=OrderedDict)  # TargetModel → container model_name
    loading: dict[str, asyncio.Task[ModelTimes]] = field(default_factory=dict)
    posting: set[str] = field(default_factory=set)  # loads the container is working on (POST /models sent)

    def holds(self, target: str) -> bool:
        return target in self.loaded or target in self.loading


@dataclass
class ModelFile:
    path: Path
    size: int


class ModelFiles:
    """A multi-model variant's models: fetched and unpacked once for all its instances, within a disk budget.

    Its bookkeeping runs on the event loop; only `fetch` runs in a thread.
    `locate` maps an s3:// URL to where it is read from (raising UnreachableObject when nothing is there);
    `holders` counts, per TargetModel, the instances that have it loaded or loading: its files are not removed
    to make room while any does.
    """

    def __init__(
        self,
        prefix: str,
        directory: Path,
        *,
        locate: Callable[[str], Location],
        cache: bool = True,
        disk_bytes: int = 30 * 1024**3,
        max_model_bytes: int = 20 * 1024**3,
    ) -> None:
        self.prefix = prefix
        self.directory = directory
        self.locate = locate
        self.cache = cache
        self.disk_bytes = disk_bytes
        self.max_model_bytes = max_model_bytes
        self.files: OrderedDict[str, ModelFile] = OrderedDict()  # least recently used first
        self.total_bytes = 0
        self.holders: dict[str, int] = {}

    def url(self, target: str) -> str:
        return self.prefix + target

    def on_disk(self, target: str) -> Path | None:
        """The model's files when they are here already. Not checked against the object again: as on SageMaker,
        a model is updated by uploading it under a new name."""
        entry = self.files.get(target)
        if entry is None or not entry.path.is_dir():
            return None
        self.files.move_to_end(target)
        return entry.path

    def fetch(self, target: str) -> tuple[Path, int]:
        """The unpacked model and its size (blocking: run it in a thread, then `add` it on the event loop);
        TargetModelError when there is nothing to fetch, ModelLoadFailed when the archive cannot be unpacked."""
        url = self.url(target)
        try:
            where = self.locate(url)
            path = archives.fetch(where.url, self.directory, self.max_model_bytes, where.storage_options)
        except UnreachableObject as exc:
            raise TargetModelError(f"Failed to download model data for TargetModel {target!r} from {exc}") from None
        except archives.ArtifactError as exc:
            if isinstance(exc, archives.UnsafeArchiveError | archives.ArchiveTooLargeError):
                raise ModelLoadFailed(400, str(exc)) from None
            if isinstance(exc, archives.UnreadableArchiveError):
                raise ModelLoadFailed(400, f"the model data at {url} is not a readable .tar.gz archive") from None
            raise TargetModelError(f"Failed to download model data for TargetModel {target!r}: {exc}") from None
        return path, model_bytes(path)

    def add(self, target: str, path: Path, size: int) -> None:
        """Count a fetched model's files, and make room for them under the disk budget."""
        old = self._forget(target)
        if old is not None and old.path != path and not self.holders.get(target):
            shutil.rmtree(old.path, ignore_errors=True)  # the object was replaced: its old files go
        self.files[target] = ModelFile(path, size)
        self.total_bytes += size
        self._make_room()

    def _forget(self, target: str) -> ModelFile | None:
        entry = self.files.pop(target, None)
        if entry is not None:
            self.total_bytes -= entry.size
        return entry

    def hold(self, target: str, delta: int) -> None:
        count = self.holders.get(target, 0) + delta
        if count > 0:
            self.holders[target] = count
        else:
            self.holders.pop(target, None)

    def discard(self, target: str) -> None:
        """Delete a model's files now (ModelCacheSetting=Disabled), unless an instance still holds it."""
        if self.holders.get(target):
            return
        entry = self._forget(target)
        if entry is not None:
            shutil.rmtree(entry.path, ignore_errors=True)

    def _make_room(self) -> None:
        for target in list(self.files):
            if self.total_bytes <= self.disk_bytes:
                return
            if self.holders.get(target):
                continue
            entry = self._forget(target)
            if entry is not None:
                shutil.rmtree(entry.path, ignore_errors=True)
                log.debug("multi-model cache %s: removed %s from disk to make room", self.directory, target)

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


class Loader:
    """Gets TargetModels loaded into instances of one variant (the instances' `models` sets)."""

    def __init__(self, files: ModelFiles, wait_s: float = 60.0) -> None:
        self.files = files
        self.wait_s = wait_s  # how long a request waits for a load before ModelNotReady

    async def ensure(self, client: Any, models: ModelSet, target: str) -> ModelTimes | None:
        """Have `target` loaded on the instance; None when it was already (a cache hit)."""
        if target in models.loaded:
            models.loaded.move_to_end(target)
            return None
        task = models.loading.get(target)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._load(client, models, target))
            models.loading[target] = task
            self.files.hold(target, 1)
            task.add_done_callback(lambda t: self._loaded(models, target, t))
        try:
            return await within(asyncio.shield(task), self.wait_s)
        except TimeoutError:
            raise ModelNotReady(
                f"Model {target} is still loading after {self.wait_s:g} s; it keeps loading: retry the request."
            ) from None

    def _loaded(self, models: ModelSet, target: str, task: asyncio.Task[ModelTimes]) -> None:
        models.loading.pop(target, None)
        if task.cancelled() or task.exception() is not None:  # (retrieves it: a load nobody waits for any more)
            self.files.hold(target, -1)

    async def _load(self, client: Any, models: ModelSet, target: str) -> ModelTimes:
        times = ModelTimes()
        started = time.perf_counter()
        model_dir = self.files.on_disk(target)
        if model_dir is None:
            fetched, size = await asyncio.to_thread(self.files.fetch, target)
            self.files.add(target, fetched, size)
            model_dir = fetched
        times.download_s = time.perf_counter() - started
        name = container_name(target)
        request = json.dumps({"model_name": name, "url": str(model_dir)}).encode()
        while True:
            started = time.perf_counter()
            models.posting.add(target)
            try:
                reply = await _call(client, "POST", "/models", request, LOAD_TIMEOUT_S)
            finally:
                models.posting.discard(target)
            if reply.status in (200, 409):  # 409: the container has it already
                times.load_s = time.perf_counter() - started
                models.loaded[target] = name
                return times
            if reply.status != 507:
                raise ModelLoadFailed(reply.status, reply.body.decode("utf-8", "replace"))
            if not models.loaded:
                # Memory the container holds for loads under way: once they are in, one can be unloaded. (Only
                # those it is working on: two loads that each wait for the other would wait forever.)
                others = [models.loading[k] for k in models.posting if k in models.loading]
                if not others:  # nothing left to unload: it does not fit even alone
                    raise ModelLoadFailed(507, reply.body.decode("utf-8", "replace"))
                await asyncio.wait(others)
                continue
            victim = next(iter(models.loaded))
            times.unloads.append(await self.unload(client, models, victim))

    async def unload(self, client: Any, models: ModelSet, target: str) -> float:
        """Unload `target` from the instance (its files stay); the seconds it took."""
        name = models.loaded.pop(target)
        self.files.hold(target, -1)
        started = time.perf_counter()
        try:
            reply = await _call(client, "DELETE", f"/models/{name}", b"", LOAD_TIMEOUT_S)
            if reply.status not in (200, 404):
                log.warning("unloading %s answered %d: %s", name, reply.status, reply.body[:200])
        except ModelLoadFailed as exc:
            log.warning("unloading %s failed: %s", name, exc)
        return time.perf_counter() - started

    def forget(self, models: ModelSet, target: str) -> None:
        """The container says it does not hold `target` (restarted, say): load it again next time."""
        if models.loaded.pop(target, None) is not None:
            self.files.hold(target, -1)


async def _call(client: Any, method: str, path: str, body: bytes, timeout: float) -> Reply:
    headers = [("Content-Type", "application/json")] if body else []
    try:
        reply: Reply = await client.request(method, path, headers, body, timeout)
    except (InstanceUnreachable, InstanceDropped, InstanceTimeout) as exc:
        reason = str(exc) or type(exc).__name__
        raise ModelLoadFailed(500, f"the instance did not answer {method} {path}: {reason}") from None
    return reply
