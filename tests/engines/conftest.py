"""What the engine tests share: a real XGBoost model directory, instance specs, and a ping over the socket."""

from __future__ import annotations

import time
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from homeport.engines.base import InstanceSpec


def until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def exit_of(engine: Any, spec: InstanceSpec) -> int:
    """Start the instance and wait for it to end (one that cannot serve); its exit code."""
    handle = engine.start(spec)
    until(lambda: engine.exit_code(handle) is not None)
    code: int = engine.exit_code(handle)
    return code


def ping(socket_path: Path) -> bool:
    import http.client
    import socket

    class Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(str(socket_path))

    conn = Conn("instance", timeout=2)
    try:
        conn.request("GET", "/ping")
        return conn.getresponse().status == 200
    except (OSError, urllib.error.URLError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def spec(tmp_path: Path, model_dir: Path, name: str, env: dict[str, str] | None = None) -> InstanceSpec:
    return InstanceSpec(name, "xgboost", model_dir, env or {}, tmp_path / f"{name}.sock", tmp_path / f"{name}.log")


@pytest.fixture
def model_dir(tmp_path: Path, xgb_model: dict[str, Any]) -> Path:
    import tarfile

    target = tmp_path / "model"
    with tarfile.open(xgb_model["path"]) as tar:
        tar.extractall(target, filter="data")
    return target


@pytest.fixture
def broken_model_dir(tmp_path: Path) -> Path:
    """An XGBoost model directory whose model file is not a model."""
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "xgboost-model").write_bytes(b"not a model")
    return broken
