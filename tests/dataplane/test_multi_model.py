"""The platform side of multi-model endpoints against a scripted container: single-flight loads, LRU unloads on
507, waits for loads under way, the ModelNotReady wait, and the disk budget."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from homeport.dataplane.connection import InstanceDropped, Reply
from homeport.dataplane.multi_model import (
    Loader,
    ModelFiles,
    ModelLoadFailed,
    ModelNotReady,
    ModelSet,
    TargetModelError,
    check_target,
    container_name,
)
from homeport.dataplane.router import MissingTargetModel, NotMultiModel, Route, Router, VariantRoute
from homeport.objects.locations import Location, UnreachableObject
from tests.dataplane.test_router_pools import fleet


def archive(path: Path, size: int) -> None:
    data = b"\0" * size
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = size
        tar.addfile(info, io.BytesIO(data))


class Container:
    """A multi-model container that holds `capacity` models; loads take `load_s`."""

    def __init__(self, capacity: int = 2, load_s: float = 0.0, fail: int | None = None) -> None:
        self.capacity = capacity
        self.load_s = load_s
        self.fail = fail
        self.loaded: list[str] = []
        self.reserved = 0
        self.calls: list[tuple[str, str]] = []
        self.outstanding = 0

    async def request(self, method: str, path: str, headers: Any, body: bytes, timeout: float) -> Reply:
        self.calls.append((method, path))
        if method == "POST" and path == "/models":
            if self.fail is not None:
                return Reply(self.fail, {}, b"cannot load")
            name = json.loads(body)["model_name"]
            if len(self.loaded) + self.reserved >= self.capacity:
                return Reply(507, {}, b"out of memory")
            self.reserved += 1
            await asyncio.sleep(self.load_s)
            self.reserved -= 1
            self.loaded.append(name)
            return Reply(200, {}, b"{}")
        if method == "POST" and path.endswith("/invoke"):
            name = path.split("/")[2]
            return Reply(200, {}, name.encode()) if name in self.loaded else Reply(404, {}, b"not loaded")
        if method == "DELETE":
            name = path.rsplit("/", 1)[1]
            if name not in self.loaded:
                return Reply(404, {}, b"")
            self.loaded.remove(name)
            return Reply(200, {}, b"{}")
        raise AssertionError(path)


@pytest.fixture
def files(tmp_path: Path) -> ModelFiles:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("a", "b", "c", "d"):
        archive(source / f"{name}.tar.gz", 1000)
    (source / "junk.tar.gz").write_bytes(b"junk")

    def locate(url: str) -> Location:
        if not Path(url).exists():
            raise UnreachableObject(f"s3://bucket/{Path(url).name}: no such key")
        return Location(url)

    return ModelFiles(f"{source}/", tmp_path / "cache", locate=locate, disk_bytes=10_000)


def test_the_least_recently_used_model_is_unloaded_when_the_container_is_full(files: ModelFiles) -> None:
    async def go() -> None:
        container, models, loader = Container(capacity=2), ModelSet(), Loader(files)
        assert await loader.ensure(container, models, "a.tar.gz") is not None
        await loader.ensure(container, models, "b.tar.gz")
        assert await loader.ensure(container, models, "a.tar.gz") is None  # a hit: a is now the most recent
        times = await loader.ensure(container, models, "c.tar.gz")
        assert times is not None and len(times.unloads) == 1
        assert list(models.loaded) == ["a.tar.gz", "c.tar.gz"]
        assert container.loaded == [container_name("a.tar.gz"), container_name("c.tar.gz")]
        assert files.holders == {"a.tar.gz": 1, "c.tar.gz": 1}
        assert "b.tar.gz" in files.files  # unloaded, still on disk
        fetched = len(container.calls)
        assert await loader.ensure(container, models, "b.tar.gz") is not None  # loaded again from its files
        assert files.on_disk("b.tar.gz") == files.files["b.tar.gz"].path and len(container.calls) > fetched

    asyncio.run(go())


def test_concurrent_requests_share_one_load(files: ModelFiles) -> None:
    async def go() -> None:
        container, models, loader = Container(load_s=0.05), ModelSet(), Loader(files)
        results = await asyncio.gather(*(loader.ensure(container, models, "a.tar.gz") for _ in range(5)))
        assert container.calls.count(("POST", "/models")) == 1
        assert len({id(r) for r in results}) == 1  # every waiter got the one load's times

    asyncio.run(go())


def test_a_load_that_waits_for_others_in_the_container_gets_in_once_one_is_unloaded(files: ModelFiles) -> None:
    async def go() -> None:
        container, models, loader = Container(capacity=1, load_s=0.05), ModelSet(), Loader(files)
        first = asyncio.ensure_future(loader.ensure(container, models, "a.tar.gz"))
        await asyncio.sleep(0.01)  # a is in the container's hands
        await loader.ensure(container, models, "b.tar.gz")  # 507, waits for a, unloads it, loads
        await first
        assert list(models.loaded) == ["b.tar.gz"]

    asyncio.run(go())


def test_a_model_too_big_for_an_empty_container_fails_instead_of_waiting_forever(files: ModelFiles) -> None:
    async def go() -> None:
        container, loader = Container(capacity=0), Loader(files)
        models = ModelSet()
        results = await asyncio.wait_for(
            asyncio.gather(
                loader.ensure(container, models, "a.tar.gz"),
                loader.ensure(container, models, "b.tar.gz"),
                return_exceptions=True,
            ),
            5,
        )
        assert all(isinstance(r, ModelLoadFailed) and r.status == 507 for r in results)
        assert files.holders == {} and models.loading == {}

    asyncio.run(go())


def test_a_slow_load_is_not_ready_and_goes_on(files: ModelFiles) -> None:
    async def go() -> None:
        container, models, loader = Container(load_s=0.3), ModelSet(), Loader(files, wait_s=0.05)
        with pytest.raises(ModelNotReady, match="still loading"):
            await loader.ensure(container, models, "a.tar.gz")
        assert models.holds("a.tar.gz")
        await asyncio.sleep(0.4)
        assert await loader.ensure(container, models, "a.tar.gz") is None

    asyncio.run(go())


@pytest.mark.parametrize(
    ("target", "error", "words"),
    [
        ("absent.tar.gz", TargetModelError, "no such key"),
        ("junk.tar.gz", ModelLoadFailed, "not a readable"),
    ],
)
def test_archives_that_cannot_be_had(files: ModelFiles, target: str, error: type[Exception], words: str) -> None:
    async def go() -> None:
        models = ModelSet()
        with pytest.raises(error, match=words):
            await Loader(files).ensure(Container(), models, target)
        assert files.holders == {} and not models.holds(target)

    asyncio.run(go())


def test_a_container_that_fails_the_load_or_drops_it(files: ModelFiles) -> None:
    async def go() -> None:
        with pytest.raises(ModelLoadFailed) as raised:
            await Loader(files).ensure(Container(fail=500), ModelSet(), "a.tar.gz")
        assert raised.value.status == 500 and "cannot load" in raised.value.message

        class Dropping:
            async def request(self, *args: Any) -> Reply:
                raise InstanceDropped("connection reset")

        with pytest.raises(ModelLoadFailed, match="did not answer POST /models: connection reset"):
            await Loader(files).ensure(Dropping(), ModelSet(), "b.tar.gz")

    asyncio.run(go())


def test_forget_and_discard(files: ModelFiles) -> None:
    async def go() -> None:
        container, models, loader = Container(), ModelSet(), Loader(files)
        await loader.ensure(container, models, "a.tar.gz")
        path = files.files["a.tar.gz"].path
        files.discard("a.tar.gz")  # held: kept
        assert path.is_dir()
        loader.forget(models, "a.tar.gz")
        assert not models.holds("a.tar.gz") and files.holders == {}
        files.discard("a.tar.gz")
        assert not path.exists() and "a.tar.gz" not in files.files

    asyncio.run(go())


def test_the_disk_budget_removes_unheld_models_oldest_first(files: ModelFiles) -> None:
    files.disk_bytes = 2500  # room for two 1000-byte models
    files.hold("a.tar.gz", 1)
    for target in ("a.tar.gz", "b.tar.gz", "c.tar.gz", "d.tar.gz"):
        files.add(target, *files.fetch(target))
    assert files.total_bytes == 2000
    assert list(files.files) == ["a.tar.gz", "d.tar.gz"]  # a is held; b and c made room
    assert len(list(files.directory.iterdir())) == 2
    files.close()
    assert not files.directory.exists()


@pytest.mark.parametrize("target", ["../x.tar.gz", "a/../../x", "/etc/passwd"])
def test_targets_outside_the_prefix_are_refused(target: str) -> None:
    with pytest.raises(TargetModelError, match="relative to the endpoint's ModelDataUrl"):
        check_target(target)


def test_container_names_are_safe_and_distinct() -> None:
    names = {container_name(t) for t in ("a/b.tar.gz", "a-b.tar.gz", "a b.tar.gz", "..", "é")}
    assert len(names) == 5 and all("/" not in n and " " not in n for n in names)


def routed(files: ModelFiles, instances: int = 2) -> tuple[Router, list[Any], list[Container]]:
    pool = fleet("c", instances)
    containers = [Container(capacity=4) for _ in pool]
    for inst, container in zip(pool, containers, strict=True):
        inst.client = container  # type: ignore[assignment]
    router = Router()
    router.publish({"e": Route("e", [VariantRoute("v1", 1.0, pool, loader=Loader(files))])})
    return router, pool, containers


def test_requests_for_a_model_go_to_the_instance_that_has_it(files: ModelFiles) -> None:
    async def go() -> None:
        router, pool, containers = routed(files)
        for target in ("a.tar.gz", "a.tar.gz", "b.tar.gz", "a.tar.gz"):
            reply = (await router.invoke("e", None, [], b"1", 5.0, target_model=target))[2]
            assert reply.status == 200 and reply.body == container_name(target).encode()
        loads = [c.calls.count(("POST", "/models")) for c in containers]
        assert sorted(loads) == [0, 2] or sorted(loads) == [1, 1]  # each model loaded once
        assert sum(len(i.models.loaded) for i in pool) == 2

    asyncio.run(go())


def test_a_model_the_container_lost_is_loaded_again(files: ModelFiles) -> None:
    async def go() -> None:
        router, _, containers = routed(files, instances=1)
        await router.invoke("e", None, [], b"1", 5.0, target_model="a.tar.gz")
        containers[0].loaded.clear()  # the container restarted
        _, _, reply = await router.invoke("e", None, [], b"1", 5.0, target_model="a.tar.gz")
        assert reply.status == 200
        assert containers[0].calls.count(("POST", "/models")) == 2

    asyncio.run(go())


def test_target_model_must_match_the_kind_of_variant(files: ModelFiles) -> None:
    async def go() -> None:
        router, _, _ = routed(files)
        with pytest.raises(MissingTargetModel):
            await router.invoke("e", None, [], b"1", 5.0)
        router.publish({"e": Route("e", [VariantRoute("v1", 1.0, fleet("s", 1))])})
        with pytest.raises(NotMultiModel):
            await router.invoke("e", None, [], b"1", 5.0, target_model="a.tar.gz")

    asyncio.run(go())
