"""The real `python -m homeport.runtime` process on a Unix socket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.runtime.conftest import csv_body, features

STARTUP_SECONDS = 60


def start(runtime: str, model_dir: Path, socket: Path, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "homeport.runtime",
            "--runtime",
            runtime,
            "--model-dir",
            str(model_dir),
            "--uds",
            str(socket),
            "--workers",
            "2",
        ],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_ready(process: subprocess.Popen[bytes], client: httpx.Client) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the model server exited: {process.stderr.read().decode()}")  # type: ignore[union-attr]
        try:
            if client.get("/ping", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # polling for the server to come up, not waiting for work
    raise AssertionError("the model server did not answer /ping")


@pytest.fixture
def served(xgb_dir: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], httpx.Client]]:
    socket = tmp_path / "model.sock"
    process = start("xgboost", xgb_dir, socket, HOMEPORT_MODEL_THREADS="1")
    client = httpx.Client(transport=httpx.HTTPTransport(uds=str(socket)), base_url="http://model")
    try:
        wait_ready(process, client)
        yield process, client
    finally:
        client.close()
        if process.poll() is None:
            process.kill()
        process.wait(10)


def test_serves_the_contract_on_a_unix_socket(
    served: tuple[subprocess.Popen[bytes], httpx.Client], booster: Any
) -> None:
    _, client = served
    rows = features(3, seed=21)
    reply = client.post("/invocations", content=csv_body(rows), headers={"Content-Type": "text/csv"})
    assert reply.status_code == 200
    np.testing.assert_array_equal(np.array(reply.text.split("\n"), dtype=np.float32), booster.inplace_predict(rows))
    assert client.get("/execution-parameters").json()["MaxConcurrentTransforms"] == 2
    assert client.post("/invocations", content=b"1,2", headers={"Content-Type": "text/csv"}).status_code == 400
    too_big = client.post("/invocations", content=b"0" * (6 * 1024 * 1024 + 1), headers={"Content-Type": "text/csv"})
    assert too_big.status_code == 413


def test_sigterm_stops_it(served: tuple[subprocess.Popen[bytes], httpx.Client]) -> None:
    process, _ = served
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) in (0, -signal.SIGTERM)


def test_missing_model_exits_non_zero_with_the_reason(tmp_path: Path) -> None:
    model_dir = tmp_path / "empty"
    model_dir.mkdir()
    process = start("xgboost", model_dir, tmp_path / "s.sock")
    _, stderr = process.communicate(timeout=STARTUP_SECONDS)
    assert process.returncode == 1
    lines = stderr.decode().strip().splitlines()
    assert lines[-1] == f"homeport.runtime: no xgboost-model file in {model_dir} (it holds no files)"
    assert not (tmp_path / "s.sock").exists()


def test_user_model_fn_failure_exits_non_zero(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.py").write_text(
        "def model_fn(model_dir):\n    raise OSError('weights.bin is gone')\n"
    )
    process = start("toolkit", tmp_path, tmp_path / "s.sock")
    _, stderr = process.communicate(timeout=STARTUP_SECONDS)
    assert process.returncode == 1
    assert "OSError: weights.bin is gone" in stderr.decode().strip().splitlines()[-1]


def test_a_memory_size_limits_the_process_and_lowers_its_cpu_share(xgb_dir: Path, tmp_path: Path) -> None:
    """HOMEPORT_MEMORY_LIMIT_MB (a serverless variant's MemorySizeInMB): RLIMIT_DATA at that size, and the nice
    level whose CPU weight is its share of 6144 MB."""
    import resource

    from homeport.runtime.__main__ import nice_for

    assert [nice_for(mb) for mb in (1024, 2048, 3072, 4096, 5120, 6144)] == [8, 5, 3, 2, 1, 0]
    socket = tmp_path / "model.sock"
    process = start("xgboost", xgb_dir, socket, HOMEPORT_MEMORY_LIMIT_MB="1024")
    client = httpx.Client(transport=httpx.HTTPTransport(uds=str(socket)), base_url="http://model")
    try:
        wait_ready(process, client)
        limits = Path(f"/proc/{process.pid}/limits").read_text()
        (data,) = [line for line in limits.splitlines() if line.startswith("Max data size")]
        assert data.split()[3:5] == [str(1024 * 1024 * 1024)] * 2
        nice = int(Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
        assert nice == os.getpriority(os.PRIO_PROCESS, 0) + 8
        assert resource.getrlimit(resource.RLIMIT_DATA)[0] != 1024 * 1024 * 1024  # this process is untouched
    finally:
        client.close()
        process.kill()
        process.wait(10)


def test_serving_on_tcp_without_a_secret_is_refused(xgb_dir: Path) -> None:
    argv = [sys.executable, "-m", "homeport.runtime", "--runtime", "xgboost", "--model-dir", str(xgb_dir)]
    env = {k: v for k, v in os.environ.items() if k != "HOMEPORT_INSTANCE_SECRET"}
    refused = subprocess.run([*argv, "--port", "0"], env=env, capture_output=True, timeout=STARTUP_SECONDS)
    assert refused.returncode == 2 and b"HOMEPORT_INSTANCE_SECRET" in refused.stderr
