"""The Ray actor that is one instance on a cluster node: it unpacks the model it was sent into the node's own
directory, and runs `python -m homeport.runtime` there on TCP, on the node's address, with the instance's secret.

Plain Python: engines/ray_engine.py makes it a Ray actor class, so that importing this module needs no Ray. Its
methods run in the actor's threads (`max_concurrency`): `wait` blocks until the model server ends while `stop`
and `address` are answered.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from homeport.engines.jobs import die_with_parent
from homeport.runtime.address import SECRET_ENV, free_port

STOP_WAIT_S = 10.0
OUTPUT_CHUNK = 1 << 20  # bytes of a process's output handed over per call


def unpack(archive: bytes, digest: str, root: Path) -> Path:
    """The directory `archive` (a tar) unpacks to under `root`, unpacked once per node: instances of one model on a
    node share it. Unpacked aside, then renamed into place, so that a half-unpacked model is never used."""
    target = root / digest
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    aside = Path(tempfile.mkdtemp(dir=root, prefix=f".{digest}-"))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(aside, filter="data")
    try:
        aside.rename(target)
    except OSError:  # another instance of the same model on this node unpacked it first
        shutil.rmtree(aside, ignore_errors=True)
    return target


def read_output(log: Path, offset: int) -> bytes:
    """A process's output from `offset` on, at most OUTPUT_CHUNK bytes of it."""
    with open(log, "rb") as out:
        out.seek(offset)
        return out.read(OUTPUT_CHUNK)


def localize(
    shipped: dict[str, tuple[str, Any]], root: Path, moved: dict[str, str] | None = None
) -> Callable[[str], str]:
    """Each shipped directory (path on the front door → (digest, object ref of its archive)) unpacked under `root`
    once per node; returns what rewrites a value naming those paths (anywhere in it: a pipeline's JSON names its
    models' paths) to where they are on this node. `moved`: paths already placed elsewhere."""
    import ray

    moved = dict(moved or {})
    for path, (digest, ref) in shipped.items():
        moved[path] = str(root / digest if (root / digest).is_dir() else unpack(ray.get(ref), digest, root))

    def here(value: str) -> str:
        for path, local in moved.items():
            value = value.replace(path, local)
        return value

    return here


class InstanceActor:
    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        secret: str,
        shipped: dict[str, tuple[str, Any]],
        instance_id: str,
    ) -> None:
        """`argv`: the runtime's arguments but its address; `shipped`: each directory of the front door's machine
        the instance needs (its model, its code) → (digest, an object ref of its tar archive); its paths in `argv`
        and `env` are rewritten to where they are unpacked on this node. It listens on the node's address."""
        import ray

        root = Path(tempfile.gettempdir()) / "homeport-models"
        here = localize(shipped, root)
        self.host = host = ray.util.get_node_ip_address()
        self.port = free_port(host)
        # Its output stays on the node, where the front door copies it from (`output`): a node need not share the
        # front door's disk, and one that did would still be written to at the path the front door reads.
        (root / "logs").mkdir(parents=True, exist_ok=True)
        self.log = log = Path(tempfile.mkstemp(dir=root / "logs", prefix=f"{instance_id}-", suffix=".log")[1])
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "homeport.runtime", *map(here, argv), "--host", host, "--port", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **{k: here(v) for k, v in env.items()}, SECRET_ENV: secret},
                cwd=here(argv[argv.index("--model-dir") + 1]),
                start_new_session=True,
                preexec_fn=die_with_parent,  # a worker process killed (its node lost) takes its model server along
            )

    def output(self, offset: int) -> bytes:
        return read_output(self.log, offset)

    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def wait(self) -> int:
        """Blocks until the model server ends; its exit code."""
        return self.proc.wait()

    def stop(self, grace_s: float) -> int:
        """SIGTERM (in-flight requests finish), SIGKILL after `grace_s`."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_WAIT_S)
        return self.proc.returncode

    def __del__(self) -> None:  # the actor ends (killed, or its driver gone): its model server ends with it
        with contextlib.suppress(Exception):
            if self.proc.poll() is None:
                self.proc.kill()
            self.log.unlink()
