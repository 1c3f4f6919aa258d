"""A real PostgreSQL server for the tests: the Debian `postgresql` package's binaries, a cluster in a temporary
directory, listening on loopback only. As root, the cluster runs as the `postgres` user (PostgreSQL refuses root).
Nothing here is mocked; without the binaries, tests that need it are skipped saying what to install
(`.ci/run` installs the package)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def binaries() -> Path | None:
    """The server binaries' folder: Debian keeps them out of PATH, under /usr/lib/postgresql/<version>/bin."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_database(url: str, name: str) -> str:
    """Create database `name` on the server of `url` (a database of its own for each server under test)."""
    import psycopg

    server = url.removeprefix("postgresql+psycopg://").rsplit("/", 1)[0]
    with psycopg.connect(f"postgresql://{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def postgres_server(*, durable: bool = False) -> Iterator[str]:
    """Start a cluster; yield a SQLAlchemy URL of an empty database on it; stop and remove it. Tests run it
    without fsync; `durable` (benchmarks) keeps PostgreSQL's defaults, so its commits cost what they would."""
    bindir = binaries()
    if bindir is None:
        pytest.skip("PostgreSQL's server binaries are not installed (Debian: apt-get install postgresql)")
    as_root = os.geteuid() == 0
    home = Path(tempfile.mkdtemp(prefix="homeport-pg-"))  # not under pytest's root-only folders: postgres reads it
    if as_root:
        shutil.chown(home, "postgres", "postgres")

    def run(*command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stdout}{done.stderr}")

    data, port = home / "data", _free_port()
    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c max_connections=200"
    options += "" if durable else " -c fsync=off"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(home / "log"), "-w", "start")
    try:
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "homeport")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/homeport"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(home, ignore_errors=True)
