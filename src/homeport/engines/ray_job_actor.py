"""The Ray actor that is one training or processing job on a cluster node: it unpacks the job's directory it was
sent into a directory of its own on the node, runs the job's command there, hands its output over as it grows,
and, once the command ended, what the command wrote in its directory (the model, the output data, the failure
file), so that the front door uploads it as it does for a job of its own machine.

Plain Python, like engines/ray_actor.py: engines/ray_engine.py makes it a Ray actor class. Its methods run in
the actor's threads: `wait` blocks until the command ends while `output` and `stop` are answered.
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
from pathlib import Path
from typing import Any

from homeport.engines.jobs import die_with_parent
from homeport.engines.ray_actor import STOP_WAIT_S, localize, read_output


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """Each file under `folder` (its path relative to it) → (size, modification time)."""
    found = {}
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            stat = path.stat()
            found[path.relative_to(folder).as_posix()] = (stat.st_size, stat.st_mtime_ns)
    return found


class JobActor:
    def __init__(
        self, argv: list[str], env: dict[str, str], cwd: str, shipped: dict[str, tuple[str, Any]], python: str
    ) -> None:
        """`cwd`: the job's directory on the front door, shipped (as each entry of `shipped`: path → (digest,
        object ref of its tar archive)); its paths in `argv` and `env` are rewritten to where they are on this
        node, and `python` (the front door's interpreter) to this node's."""
        import ray

        self.root = Path(tempfile.mkdtemp(prefix="homeport-job-"))
        self.work = self.root / "job"
        _, ref = shipped.pop(cwd)
        with tarfile.open(fileobj=io.BytesIO(ray.get(ref))) as tar:
            tar.extractall(self.work, filter="data")  # its own copy: the job writes in it
        self.before = _files(self.work)
        here = localize(shipped, Path(tempfile.gettempdir()) / "homeport-models", {cwd: str(self.work)})
        self.log = self.root / "output.log"
        with open(self.log, "ab") as out:
            node = ray.get_runtime_context().get_node_id()
            out.write(f"homeport: on node {ray.util.get_node_ip_address()} ({node[:12]})\n".encode())
            out.flush()
            command = [sys.executable if argv[0] == python else here(argv[0]), *map(here, argv[1:])]
            self.proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **{k: here(v) for k, v in env.items()}},
                cwd=self.work,
                start_new_session=True,  # its own process group: a stop reaches its children too
                preexec_fn=die_with_parent,  # a worker process killed (its node lost) takes the job along
            )

    def node(self) -> str:
        """The node's address (answered once the command started)."""
        import ray

        return str(ray.util.get_node_ip_address())

    def wait(self) -> int:
        """Blocks until the command ends; its exit code."""
        return self.proc.wait()

    def output(self, offset: int) -> bytes:
        """The command's output (stdout and stderr) from `offset` on."""
        return read_output(self.log, offset)

    def stop(self, grace_s: float) -> int:
        """SIGTERM the command's process group, SIGKILL it after `grace_s`."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(STOP_WAIT_S)
        return self.proc.returncode

    def results(self) -> bytes:
        """A tar archive of the files the command wrote or changed in the job's directory."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for name, seen in sorted(_files(self.work).items()):
                if self.before.get(name) != seen:
                    tar.add(self.work / name, arcname=name)
        return buffer.getvalue()

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __del__(self) -> None:  # killed, or its driver gone: the command and its directory go with it
        with contextlib.suppress(Exception):
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
            shutil.rmtree(self.root, ignore_errors=True)
