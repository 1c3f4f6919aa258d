"""The services and the API layer in-process: the integration tests' own boto3 calls, against servers that run
in the test process (tests/inprocess.py), so the fast tier covers them. Each module here runs one module of
tests/integration/ whose tests need no more than the API: none that restarts or kills the server, runs the CLI,
or sends raw HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import KEYS
from tests.inprocess import InProcessServer
from tests.integration.conftest import cw, faas, fast_xgb, frt, fs3, fsm, probe  # noqa: F401 - on these servers

KEY_PAIR = {"access_key_id": KEYS["HOMEPORT_ACCESS_KEY_ID"], "secret_access_key": KEYS["HOMEPORT_SECRET_ACCESS_KEY"]}


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with InProcessServer(tmp_path_factory.mktemp("homeport-data"), **KEY_PAIR) as proc:
        yield proc


@pytest.fixture(scope="session")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A server whose metric period is one second, so alarms and scaling policies act within seconds."""
    with InProcessServer(
        tmp_path_factory.mktemp("metrics-data"),
        metric_period_seconds=1,
        model_load_wait_s=1.0,
        serverless_idle_s=1.0,
        capture_flush_s=0.2,
        **KEY_PAIR,
    ) as proc:
        yield proc
