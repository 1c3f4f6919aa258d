"""What the engine tests share: a real XGBoost model directory, instance specs, and a ping over the socket."""

from __future__ import annotations

import time
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from homeport.engines.base import InstanceSpec
from homeport.runtime.address import SECRET_HEADER, Address


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


def ping(where: Path | Address, secret: str | None = None) -> bool:
    """Whether /ping answers 200 at `where` (a socket path or an address), sending `secret` (default: the
    address's own)."""
    return status(where, secret) == 200


def status(where: Path | Address, secret: str | None = None) -> int | None:
    """/ping's status at `where`, None when nothing answers."""
    import http.client

    address = where if isinstance(where, Address) else Address.unix(where)

    class Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = address.connect(2)

    conn = Conn("instance", timeout=2)
    given = address.secret if secret is None else secret
    try:
        conn.request("GET", "/ping", headers={SECRET_HEADER: given} if given else {})
        return conn.getresponse().status
    except (OSError, urllib.error.URLError, http.client.HTTPException):
        return None
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
