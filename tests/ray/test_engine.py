"""The Ray engine on a real cluster of several nodes: instances placed by zone with their type's resources, reached
over TCP with their secrets, and ended (for the controller to replace) when their node is lost; jobs run on a node
with their directory sent along, and what they wrote comes back, stopped or not."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homeport.engines.base import InstanceSpec, NoCapacity
from homeport.engines.jobs import JobSpec
from tests.engines.conftest import ping, status, until
from tests.ray.conftest import Cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def engine(cluster: Cluster) -> Iterator[Any]:
    from homeport.engines.ray_engine import RayEngine

    engine = RayEngine(cluster.address)
    yield engine
    engine.kill_all()
    engine.close()


def _spec(tmp_path: Path, model_dir: Path, name: str, zone: str, instance_type: str = "ml.m5.large") -> InstanceSpec:
    return InstanceSpec(
        name, "xgboost", model_dir, {}, tmp_path / f"{name}.sock", tmp_path / f"{name}.log", zone, instance_type
    )


def test_the_cluster_zones_are_its_nodes_labels(engine: Any, cluster: Cluster) -> None:
    assert list(engine.zones) == ["a", "b", "c"]


def test_an_instance_runs_on_a_node_of_its_zone_and_answers_only_with_its_secret(
    engine: Any, cluster: Cluster, model_dir: Path, tmp_path: Path
) -> None:
    spec = _spec(tmp_path, model_dir, "one", "b")
    spec.environment["SAGEMAKER_CONTAINER_LOG_LEVEL"] = "20"  # it logs where it listens
    handle = engine.start(spec)
    address = asyncio.run(engine.address(handle))
    assert address.host == cluster.nodes["b"]
    until(lambda: ping(address))
    # Its output is written on the node and copied into its log here as it grows.
    until(lambda: spec.log_path.is_file() and f"runtime on {address.host}:" in spec.log_path.read_text())
    assert status(address, secret="") == 403
    assert engine.exit_code(handle) is None
    asyncio.run(engine.stop(handle, grace_s=10))
    assert status(address) is None


def test_an_instance_too_big_for_any_node_fails_saying_why(engine: Any, model_dir: Path, tmp_path: Path) -> None:
    spec = _spec(tmp_path, model_dir, "big", "a", "ml.m5.24xlarge")  # 96 vCPUs: no node has them
    handle = engine.start(spec)
    until(lambda: engine.exit_code(handle) is not None)
    assert engine.exit_code(handle) == 1
    assert "no node of zone a has the 96 CPUs, 384 GiB of memory and 0 GPUs" in spec.log_path.read_text()
    with pytest.raises(OSError, match="96 CPUs"):
        asyncio.run(engine.address(handle))


def test_an_instance_stopped_before_it_is_placed_gives_its_place_back(
    engine: Any, model_dir: Path, tmp_path: Path
) -> None:
    # Two fill zone a's node (4 CPUs); a third waits for room, and is stopped while it waits.
    first, second = (engine.start(_spec(tmp_path, model_dir, n, "a")) for n in ("first", "second"))
    for handle in (first, second):
        asyncio.run(engine.address(handle))
    waiting = engine.start(_spec(tmp_path, model_dir, "waiting", "a"))
    asyncio.run(engine.stop(waiting, grace_s=1))
    until(lambda: engine.exit_code(waiting) is not None)
    asyncio.run(engine.stop(first, grace_s=5))
    late = engine.start(_spec(tmp_path, model_dir, "late", "a"))  # first's room, which waiting did not keep
    until(lambda: ping(asyncio.run(engine.address(late))))
    for handle in (second, late):
        asyncio.run(engine.stop(handle, grace_s=5))


def test_a_lost_node_ends_its_instances(engine: Any, cluster: Cluster, model_dir: Path, tmp_path: Path) -> None:
    ended: list[bool] = []
    engine.watch(lambda: ended.append(True))
    handle = engine.start(_spec(tmp_path, model_dir, "doomed", "c"))
    address = asyncio.run(engine.address(handle))
    until(lambda: ping(address))
    cluster.kill("c")
    until(lambda: engine.exit_code(handle) is not None, timeout=60)
    assert engine.exit_code(handle) == -signal.SIGKILL and ended
    until(lambda: "c" not in engine.zones, timeout=30)
    assert "was lost" in (tmp_path / "doomed.log").read_text()
    cluster.add("c")  # for the tests after


def test_what_an_instance_needs_shipped_is_each_directory_once(tmp_path: Path) -> None:
    import json

    from homeport.engines.ray_engine import _directories

    model, code, other = tmp_path / "model", tmp_path / "code", tmp_path / "second"
    for d in (model / "code", code, other):
        d.mkdir(parents=True)
    spec = _spec(tmp_path, model, "x", "a")
    assert _directories(spec) == [model]
    inside = InstanceSpec(**{**spec.__dict__, "environment": {"SAGEMAKER_SUBMIT_DIRECTORY": str(model / "code")}})
    assert _directories(inside) == [model]  # travels with the model
    apart = InstanceSpec(**{**spec.__dict__, "environment": {"SAGEMAKER_SUBMIT_DIRECTORY": str(code)}})
    assert _directories(apart) == [model, code]
    pipeline = {"containers": [{"model_dir": str(model)}, {"model_dir": str(other)}]}
    chained = InstanceSpec(**{**spec.__dict__, "environment": {"HOMEPORT_PIPELINE": json.dumps(pipeline)}})
    assert _directories(chained) == [model, other]


JOB = r"""
import os, sys, time
here = sys.argv[1]
print("read", open(os.path.join(here, "input", "rows.txt")).read(), flush=True)
os.makedirs(os.path.join(here, "model"))
with open(os.path.join(here, "model", "weights.txt"), "w") as f:
    f.write(os.environ["SCALE"])
print("saved", flush=True)
time.sleep(float(os.environ.get("SLEEP", "0")))
"""


def _job(tmp_path: Path, env: dict[str, str], instance_type: str = "ml.m5.large") -> JobSpec:
    base = tmp_path / "job"
    (base / "input").mkdir(parents=True)
    (base / "input" / "rows.txt").write_text("1 2 3")
    (base / "job.py").write_text(JOB)
    argv = [sys.executable, str(base / "job.py"), str(base)]  # its directory's path is rewritten on the node
    return JobSpec(argv, env, base, tmp_path / "logs" / "job.log", instance_type)


def _printed(spec: JobSpec, text: str) -> bool:
    return spec.log_path.is_file() and text in spec.log_path.read_text()


def test_a_job_runs_on_a_node_and_what_it_wrote_comes_back(engine: Any, cluster: Cluster, tmp_path: Path) -> None:
    spec = _job(tmp_path, {"SCALE": "2"})

    async def run() -> int:
        job = await engine.start_job(spec)
        return int(await job.wait())

    assert asyncio.run(run()) == 0
    output = spec.log_path.read_text()
    node = re.search(r"homeport: on node (\S+) ", output)
    assert node and node.group(1) in cluster.nodes.values(), output
    assert "read 1 2 3\nsaved\n" in output
    assert (spec.cwd / "model" / "weights.txt").read_text() == "2"
    assert not engine.jobs  # its actor is gone, and its resources with it


def test_a_stopped_job_keeps_what_it_saved(engine: Any, tmp_path: Path) -> None:
    spec = _job(tmp_path, {"SCALE": "3", "SLEEP": "120"})

    async def run() -> int:
        job = await engine.start_job(spec)
        deadline = time.monotonic() + 60
        while not _printed(spec, "saved"):  # its output arrives while it runs
            assert time.monotonic() < deadline, "the job's output never came"
            await asyncio.sleep(0.1)
        await job.stop(grace_s=30)  # under coverage (sigterm = true) the command saves its data before it ends
        return int(await job.wait())

    code = asyncio.run(run())
    assert code == -signal.SIGTERM, spec.log_path.read_text()[-2000:]  # the log says why a job ended otherwise
    assert (spec.cwd / "model" / "weights.txt").read_text() == "3"


def test_a_job_too_big_for_any_node_is_refused_saying_why(engine: Any, tmp_path: Path) -> None:
    with pytest.raises(
        NoCapacity, match=r"no node has the 96 CPUs, 384 GiB of memory and 0 GPUs that ml\.m5\.24xlarge"
    ):
        asyncio.run(engine.start_job(_job(tmp_path, {}, "ml.m5.24xlarge")))
