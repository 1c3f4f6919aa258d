"""The services and the API layer in-process: the integration tests' own boto3 calls, against servers that run
in the test process (tests/inprocess.py), so the fast tier covers them. Each module here runs one module of
tests/integration/ whose tests need no more than the API: none that restarts or kills the server, runs the CLI,
or sends raw HTTP."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import KEYS
from tests.inprocess import InProcessServer
from tests.integration.conftest import cw, faas, fast_xgb, frt, fs3, fsm, probe  # noqa: F401 - on these servers

KEY_PAIR = {"access_key_id": KEYS["HOMEPORT_ACCESS_KEY_ID"], "secret_access_key": KEYS["HOMEPORT_SECRET_ACCESS_KEY"]}


@pytest.fixture(scope="session")
def database() -> Iterator[Callable[[str], dict[str, str]]]:
    """HOMEPORT_TEST_DATABASE=postgresql: each in-process server keeps its state in a database of its own on a real
    PostgreSQL server (tests/postgres.py) instead of SQLite, so this whole tier runs against either."""
    if os.environ.get("HOMEPORT_TEST_DATABASE", "sqlite") != "postgresql":
        yield lambda name: {}
        return
    from tests.postgres import new_database, postgres_server

    with postgres_server() as url:
        yield lambda name: {"database_url": new_database(url, name)}


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, database: Callable[[str], dict[str, str]]) -> Iterator[Any]:
    with InProcessServer(tmp_path_factory.mktemp("homeport-data"), **KEY_PAIR, **database("server")) as proc:
        yield proc


@pytest.fixture(scope="session")
def fast(tmp_path_factory: pytest.TempPathFactory, database: Callable[[str], dict[str, str]]) -> Iterator[Any]:
    """A server whose metric period is one second, so alarms and scaling policies act within seconds."""
    with InProcessServer(
        tmp_path_factory.mktemp("metrics-data"),
        metric_period_seconds=1,
        model_load_wait_s=1.0,
        serverless_idle_s=1.0,
        capture_flush_s=0.2,
        **KEY_PAIR,
        **database("fast"),
    ) as proc:
        yield proc
