"""The local engine: instances forked from the zygote, how their ends are seen, and the plain-subprocess fallback."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.engines.base import InstanceSpec
from homeport.engines.local import ForkedProcess, LocalEngine
from tests.engines.conftest import exit_of, ping, spec, status, until


@pytest.fixture
def engine() -> Iterator[LocalEngine]:
    engine = LocalEngine(prefork=True)
    assert engine.zygote is None  # started once the server is ready
    engine.warm()
    assert engine.zygote is not None
    until(lambda: engine.zygote is not None and engine.zygote.ready)
    yield engine
    engine.kill_all()
    engine.close()


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def runs_as_batch(pid: int) -> bool:
    """Every thread of the process is SCHED_BATCH (the threads it started inherit the policy)."""
    threads = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    return all(os.sched_getscheduler(t) == os.SCHED_BATCH for t in threads)


def test_an_instance_is_forked_from_the_zygote_and_serves(tmp_path: Path, model_dir: Path, engine: LocalEngine) -> None:
    one = spec(tmp_path, model_dir, "one", {"SAGEMAKER_CONTAINER_LOG_LEVEL": "WARNING"})
    handle = engine.start(one)
    assert isinstance(handle, ForkedProcess)
    assert engine.zygote is not None and parent_of(handle.pid) == engine.zygote.proc.pid
    until(lambda: ping(one.socket_path))
    command = Path(f"/proc/{handle.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    assert "-m homeport.runtime --runtime xgboost" in command  # ps shows what it is
    assert "loaded xgboost model" not in one.log_path.read_text()  # its own environment: INFO lines are off
    assert runs_as_batch(handle.pid)  # it does not preempt the front door that forwards to it
    assert engine.exit_code(handle) is None
    started = time.monotonic()
    asyncio.run(engine.stop(handle, grace_s=10))
    # SIGTERM: uvicorn shuts down, then re-raises the signal it handled; no SIGKILL after the grace time.
    assert engine.exit_code(handle) in (0, -signal.SIGTERM) and time.monotonic() - started < 5


def test_the_title_is_set_when_path_comes_first_in_the_environment(tmp_path: Path, model_dir: Path) -> None:
    # Importing xgboost rewrites PATH; when PATH is the first entry, setproctitle lost track of argv's memory.
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update({"PATH": saved["PATH"], **saved})
    try:
        engine = LocalEngine(prefork=True)
        engine.warm()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        until(lambda: engine.zygote is not None and engine.zygote.ready)
        one = spec(tmp_path, model_dir, "one")
        handle = engine.start(one)
        until(lambda: ping(one.socket_path))
        command = Path(f"/proc/{handle.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        assert "-m homeport.runtime --runtime xgboost" in command
    finally:
        engine.kill_all()
        engine.close()


def test_a_killed_instance_reports_the_signal(tmp_path: Path, model_dir: Path, engine: LocalEngine) -> None:
    one = spec(tmp_path, model_dir, "one")
    handle = engine.start(one)
    until(lambda: ping(one.socket_path))
    os.kill(handle.pid, signal.SIGKILL)
    until(lambda: engine.exit_code(handle) is not None)
    assert engine.exit_code(handle) == -signal.SIGKILL


def test_a_model_that_cannot_load_exits_with_its_reason(
    tmp_path: Path, broken_model_dir: Path, engine: LocalEngine
) -> None:
    one = spec(tmp_path, broken_model_dir, "one")
    assert exit_of(engine, one) == 1
    assert "not an XGBoost model" in one.log_path.read_text()


def test_instances_die_with_the_zygote(tmp_path: Path, model_dir: Path, engine: LocalEngine) -> None:
    one = spec(tmp_path, model_dir, "one")
    handle = engine.start(one)
    until(lambda: ping(one.socket_path))
    assert engine.zygote is not None
    engine.zygote.proc.kill()
    until(lambda: engine.exit_code(handle) is not None)
    until(
        lambda: not Path(f"/proc/{handle.pid}").exists() or "zombie" in Path(f"/proc/{handle.pid}/status").read_text()
    )
    # With the zygote gone, the next instance starts as a plain subprocess.
    two = spec(tmp_path, model_dir, "two")
    fallback = engine.start(two)
    assert not isinstance(fallback, ForkedProcess)
    until(lambda: ping(two.socket_path))


def test_without_prefork_instances_are_plain_subprocesses(tmp_path: Path, model_dir: Path) -> None:
    engine = LocalEngine(prefork=False)
    try:
        one = spec(tmp_path, model_dir, "one")
        handle = engine.start(one)
        assert not isinstance(handle, ForkedProcess) and parent_of(handle.pid) == os.getpid()
        until(lambda: ping(one.socket_path))
        assert runs_as_batch(handle.pid)
    finally:
        engine.kill_all()
        engine.close()


def test_spread_places_a_new_instance_in_the_zone_with_fewest_of_its_variant() -> None:
    from homeport.engines.base import spread

    assert spread(("a", "b", "c"), []) == "a"
    assert spread(("a", "b", "c"), ["a"]) == "b"
    assert spread(("a", "b", "c"), ["a", "b", "a"]) == "c"
    assert spread(("a", "b"), ["b", "b", "a"]) == "a"
    assert spread(("local",), ["local", "local"]) == "local"


@pytest.mark.parametrize("prefork", [True, False])
def test_the_engine_says_at_once_when_an_instance_ends(tmp_path: Path, model_dir: Path, prefork: bool) -> None:
    import threading

    engine = LocalEngine(prefork=prefork)
    ended = threading.Event()
    engine.watch(ended.set)  # as the server does: before the zygote starts, once the server is ready
    engine.warm()
    try:
        until(lambda: engine.zygote is None or engine.zygote.ready)
        one = spec(tmp_path, model_dir, "watched")
        handle = engine.start(one)
        assert isinstance(handle, ForkedProcess) == prefork
        until(lambda: ping(one.socket_path))
        assert not ended.is_set()
        os.kill(handle.pid, signal.SIGKILL)
        assert ended.wait(10), "no word of the instance's end"
        assert engine.exit_code(handle) == -signal.SIGKILL
    finally:
        engine.kill_all()
        engine.close()


def test_an_instance_asked_for_while_the_zygote_imports_is_forked_from_it(tmp_path: Path, model_dir: Path) -> None:
    """Waiting for the zygote costs about what a fresh start does, and the instance then shares its memory."""
    engine = LocalEngine(prefork=True)
    try:
        engine.warm()
        assert engine.zygote is not None and not engine.zygote.ready  # still importing
        one = spec(tmp_path, model_dir, "one")
        handle = engine.start(one)
        assert isinstance(handle, ForkedProcess)
        until(lambda: ping(one.socket_path))
    finally:
        engine.kill_all()
        engine.close()


def test_user_code_forked_from_the_zygote_gets_xgboost_whole(tmp_path: Path, engine: LocalEngine) -> None:
    """The zygote imports xgboost without scikit-learn (the algorithm container needs none); a script gets the
    scikit-learn wrappers as it would in a fresh process."""
    import http.client
    import socket

    pytest.importorskip("sklearn")
    code = tmp_path / "script" / "code"
    code.mkdir(parents=True)
    (code / "inference.py").write_text(
        "import xgboost\n"
        "def model_fn(model_dir):\n"
        "    import sklearn.base\n"
        "    return xgboost.compat.SKLEARN_INSTALLED and issubclass(xgboost.XGBRegressor, sklearn.base.BaseEstimator)\n"
        "def predict_fn(data, model):\n"
        "    return [model]\n"
    )
    one = InstanceSpec("one", "toolkit", tmp_path / "script", {}, tmp_path / "one.sock", tmp_path / "one.log")
    handle = engine.start(one)
    assert isinstance(handle, ForkedProcess)
    until(lambda: ping(one.socket_path))

    class Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(str(one.socket_path))

    conn = Conn("instance", timeout=10)
    conn.request("POST", "/invocations", body=b"[1]", headers={"Content-Type": "application/json"})
    reply = conn.getresponse()
    assert (reply.status, reply.read()) == (200, b"[true]")


@pytest.mark.parametrize("prefork", [True, False], ids=["forked", "fresh"])
def test_an_instance_on_tcp_answers_only_requests_with_its_secret(
    tmp_path: Path, model_dir: Path, prefork: bool
) -> None:
    engine = LocalEngine(prefork=prefork, host="127.0.0.1")
    engine.warm()
    try:
        one, two = spec(tmp_path, model_dir, "one"), spec(tmp_path, model_dir, "two")
        first, second = engine.start(one), engine.start(two)
        address, other = asyncio.run(engine.address(first)), asyncio.run(engine.address(second))
        assert address.host == "127.0.0.1" and address.port and not address.path
        assert other.secret != address.secret  # each instance its own
        until(lambda: ping(address))
        assert status(address, secret="") == 403
        assert status(address, secret=other.secret) == 403
        assert not one.socket_path.exists()  # no Unix socket besides
        until(lambda: ping(other))
        asyncio.run(engine.stop(first, grace_s=10))
        assert status(address) is None
    finally:
        engine.kill_all()
        engine.close()
