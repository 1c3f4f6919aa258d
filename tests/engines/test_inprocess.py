"""The in-process engine: instances as threads serving the real container contract on their sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.engines.inprocess import KILLED, InProcessEngine
from tests.engines.conftest import exit_of, ping, spec, status, until


@pytest.fixture
def engine() -> Iterator[InProcessEngine]:
    engine = InProcessEngine()
    yield engine
    engine.close()


def test_an_instance_serves_the_contract_and_stops_cleanly(
    tmp_path: Path, model_dir: Path, engine: InProcessEngine
) -> None:
    ended: list[bool] = []
    engine.watch(lambda: ended.append(True))
    one = spec(tmp_path, model_dir, "one")
    handle = engine.start(one)
    until(lambda: ping(one.socket_path))
    assert engine.exit_code(handle) is None
    asyncio.run(engine.stop(handle, grace_s=5))
    assert engine.exit_code(handle) == 0
    assert ended == [True]
    assert not ping(one.socket_path)


def test_a_model_that_cannot_load_exits_with_its_reason(
    tmp_path: Path, broken_model_dir: Path, engine: InProcessEngine
) -> None:
    one = spec(tmp_path, broken_model_dir, "one")
    assert exit_of(engine, one) == 1
    assert "not an XGBoost model" in one.log_path.read_text()


def test_bad_container_settings_exit_with_status_2(tmp_path: Path, model_dir: Path, engine: InProcessEngine) -> None:
    one = spec(tmp_path, model_dir, "one", {"SAGEMAKER_MODEL_SERVER_WORKERS": "many"})
    assert exit_of(engine, one) == 2
    assert "SAGEMAKER_MODEL_SERVER_WORKERS" in one.log_path.read_text()


def test_kill_all_stops_every_instance_at_once(tmp_path: Path, model_dir: Path, engine: InProcessEngine) -> None:
    handles = [engine.start(spec(tmp_path, model_dir, name)) for name in ("one", "two")]
    until(lambda: all(ping(tmp_path / f"{name}.sock") for name in ("one", "two")))
    engine.kill_all()
    assert [engine.exit_code(h) for h in handles] == [KILLED, KILLED]


def test_an_instance_on_tcp_answers_only_requests_with_its_secret(tmp_path: Path, model_dir: Path) -> None:
    engine = InProcessEngine(host="127.0.0.1")
    try:
        one = spec(tmp_path, model_dir, "one")
        address = asyncio.run(engine.address(engine.start(one)))
        until(lambda: ping(address))
        assert status(address, secret="guess") == 403
    finally:
        engine.kill_all()
