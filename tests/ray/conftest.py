"""A real Ray cluster of several nodes on this machine, for the Ray engine's tests: a head that runs no instances,
and workers labelled with zones, each a `ray start` of its own with its own loopback address (127.0.0.0/8: these
machines allow test traffic to loopback only, and Ray takes 127.0.0.1 itself for the machine's outward address)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# The engine tests' model directories, and the integration tests' probe model.
from tests.engines.conftest import broken_model_dir, model_dir  # noqa: F401
from tests.integration.conftest import probe  # noqa: F401

HEAD_IP = "127.0.0.11"
NODE_CPUS = 4  # logical: two ml.m5.large instances (2 vCPUs, 8 GiB each) fit a node
NODE_MEMORY = 16 * 1024**3
STORE_BYTES = 128 * 1024**2  # the object store's shared memory, per node (models travel through it)
ENV = {
    **os.environ,
    "RAY_USAGE_STATS_ENABLED": "0",
    # A node whose raylet is gone is declared dead after 3 missed health checks of 0.5 s, not the default 15 s.
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_failure_threshold": "3",
    "RAY_health_check_timeout_ms": "500",
}


@dataclass
class Cluster:
    address: str
    temp_dir: Path
    nodes: dict[str, str] = field(default_factory=dict)  # zone → node IP
    started: int = 0  # nodes started: the next one's address is 127.0.0.(12 + started)

    def raylet(self, zone: str) -> int:
        """The pid of the raylet of the zone's node."""
        ip = self.nodes[zone]
        found = subprocess.run(
            ["pgrep", "-f", "--", f"raylet.*--node_ip_address={ip} "], capture_output=True, text=True
        )
        pids = [int(p) for p in found.stdout.split()]
        assert pids, f"no raylet for {ip}"
        return pids[0]

    def kill(self, zone: str) -> None:
        """The zone's node lost: its raylet and every process of it SIGKILLed at once."""
        os.kill(self.raylet(zone), signal.SIGKILL)
        self.nodes.pop(zone)

    def add(self, zone: str) -> None:
        """A node for `zone` joins (again)."""
        ip = f"127.0.0.{12 + self.started}"
        self.started += 1
        _ray(
            "start", f"--address={self.address}", f"--node-ip-address={ip}", f"--num-cpus={NODE_CPUS}",
            f"--memory={NODE_MEMORY}", f"--labels=zone={zone}", f"--object-store-memory={STORE_BYTES}",
            "--disable-usage-stats",
        )  # fmt: skip
        self.nodes[zone] = ip


def _ray(*args: str) -> None:
    ray = Path(sys.executable).parent / "ray"
    done = subprocess.run([str(ray), *args], env=ENV, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ray {' '.join(args)} failed: {done.stderr[-2000:]}")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HEAD_IP, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def ray_cluster(zones: list[str]) -> Iterator[Cluster]:
    pytest.importorskip("ray", reason="the Ray engine's tests need Ray: pip install 'homeport[ray]'")
    temp_dir = Path(tempfile.mkdtemp(prefix="hp-ray-"))
    cluster = Cluster(f"{HEAD_IP}:{_free_port()}", temp_dir)
    try:
        _ray(
            "start", "--head", f"--node-ip-address={HEAD_IP}", f"--port={cluster.address.split(':')[1]}",
            "--num-cpus=0", "--include-dashboard=false", f"--temp-dir={temp_dir}",
            f"--object-store-memory={STORE_BYTES}", "--disable-usage-stats",
        )  # fmt: skip
        for zone in zones:
            cluster.add(zone)
        yield cluster
    finally:
        _stop(temp_dir, [HEAD_IP, *[f"127.0.0.{12 + n}" for n in range(cluster.started)]])


def _stop(temp_dir: Path, ips: list[str]) -> None:
    """SIGKILL the cluster's processes and all they started: its agents rename themselves (`ray::…`), so they are
    found as descendants of the processes that name the cluster's directory or addresses. Not `ray stop`, which
    would stop every cluster on the machine."""
    marks = [str(temp_dir).encode(), *(f"node-ip-address={ip}".encode() for ip in ips)]
    marks += [f"node_ip_address={ip}".encode() for ip in ips]
    parents: dict[int, int] = {}
    ours: set[int] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            parents[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if any(mark in (proc / "cmdline").read_bytes() for mark in marks):
                ours.add(int(proc.name))
    ours.discard(os.getpid())
    grown = True
    while grown:
        children = {pid for pid, parent in parents.items() if parent in ours} - ours - {os.getpid()}
        grown = bool(children)
        ours |= children
    for pid in ours:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    with ray_cluster(["a", "b", "c"]) as found:
        yield found
