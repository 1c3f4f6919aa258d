"""Start a real `homeport serve` in a child process: for the worked example, the tests and the benchmarks."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

READY_PREFIX = "homeport listening on "


class ServerProcess:
    """`with ServerProcess(data_dir) as server: boto3.client(..., endpoint_url=server.url)`.

    The server signs nothing with the caller's AWS keys: it gets `HOMEPORT_ACCESS_KEY_ID`/`…SECRET…` from `env`
    (or the environment), or a fresh random pair, which `access_key_id`/`secret_access_key` give back.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 0,
        env: dict[str, str] | None = None,
        startup_timeout_s: float = 60.0,
        extra_args: list[str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.env = {**os.environ, **(env or {})}
        if not self.env.get("HOMEPORT_ACCESS_KEY_ID") and not self.env.get("HOMEPORT_KEYS_FILE"):
            # A pair of its own, so the caller can sign requests without reading the data directory.
            self.env["HOMEPORT_ACCESS_KEY_ID"] = "HP" + secrets.token_hex(9).upper()
            self.env["HOMEPORT_SECRET_ACCESS_KEY"] = secrets.token_urlsafe(30)
        self.access_key_id = self.env.get("HOMEPORT_ACCESS_KEY_ID", "")
        self.secret_access_key = self.env.get("HOMEPORT_SECRET_ACCESS_KEY", "")
        self.startup_timeout_s = startup_timeout_s
        self.extra_args = extra_args or []
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> ServerProcess:
        cmd = [
            sys.executable,
            "-m",
            "homeport",
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *self.extra_args,
        ]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=None, text=True, env=self.env, start_new_session=True
        )
        deadline = time.monotonic() + self.startup_timeout_s
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"homeport serve exited with {self.proc.wait()} before it listened")
            if line.startswith(READY_PREFIX):
                self.url = line[len(READY_PREFIX) :].strip()
                return self
        self.stop()
        raise RuntimeError("homeport serve did not start listening in time")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def instance_pids(self) -> list[int]:
        """The model instances this server runs: its descendants (forked by its zygote, or its own children)
        whose command line is `… -m homeport.runtime …`."""
        if self.proc is None:
            return []
        parents: dict[int, int] = {}
        commands: dict[int, str] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    commands[int(entry)] = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, ValueError, IndexError):
                continue

        def descends(pid: int) -> bool:
            seen = set()
            while pid in parents and pid not in seen:
                seen.add(pid)
                pid = parents[pid]
                if pid == self.proc.pid:  # type: ignore[union-attr]
                    return True
            return False

        return sorted(pid for pid, command in commands.items() if "homeport.runtime" in command and descends(pid))

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
