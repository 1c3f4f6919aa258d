"""Acknowledged means on disk (issue 16): a reply that promises a write (an object stored, a resource created, an
async request accepted) leaves only after the SQLite log (the `-wal` file) holding that write was fsynced, and an
object's data file before the index points at it. A power loss keeps what was fsynced and loses the page cache.

The server is watched with strace: between reading a request and writing its reply it must have synced what the
request wrote. With HOMEPORT_DURABLE_COMMITS=false (SQLite synchronous=NORMAL: safe against a crash of the
process, not against a power loss) the log is not synced, which shows that the test tells the two apart.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from homeport.server.process import ServerProcess
from tests.conftest import KEYS, ROLE, XGBOOST_IMAGE, boto_client
from tests.integration.test_async_inference import deploy_async


def _strace_unusable() -> str | None:
    if shutil.which("strace") is None:
        return "strace is not installed (.ci/run installs it)"
    probe = subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", "true"], capture_output=True, check=False)
    return None if probe.returncode == 0 else f"ptrace is not permitted here: {probe.stderr.decode()[:200]}"


pytestmark = pytest.mark.skipif(bool(_strace_unusable()), reason=str(_strace_unusable()))

SYNC = re.compile(r"\b(?:fsync|fdatasync)\(\d+<([^>]*)>")
READ = re.compile(r"\bread\((\d+)<socket:[^>]*>, \"([A-Z]+ [^ ]*) HTTP/1.1")
WRITE = re.compile(r"\bwrite\((\d+)<socket:[^>]*>, \"HTTP/1.1 (\d+)")


@contextmanager
def traced(server: ServerProcess, log: Path) -> Iterator[None]:
    """strace attached to every thread of the server (not its instances) while the block runs."""
    assert server.proc is not None
    cmd = ["strace", "-f", "-qq", "-y", "-s", "80", "-e", "trace=read,write,fsync,fdatasync"]
    tracer = subprocess.Popen([*cmd, "-o", str(log), "-p", str(server.proc.pid)])
    _ping_until_seen(server, log, after=0)  # attached once it sees a request
    try:
        yield
        # strace prints a call when it sees it end, which can lag behind the reply the client already has: a ping
        # seen after the block means the event loop's earlier calls (its replies) are in the log too.
        _ping_until_seen(server, log, after=log.read_text().count("GET /ping"))
    finally:
        tracer.terminate()
        tracer.wait(timeout=30)


def _ping_until_seen(server: ServerProcess, log: Path, after: int) -> None:
    deadline = time.monotonic() + 30
    while (log.read_text() if log.exists() else "").count("GET /ping") <= after:
        assert time.monotonic() < deadline, "strace does not see the server's requests"
        urllib.request.urlopen(f"{server.url}/ping", timeout=5).read()
        time.sleep(0.05)


UNFINISHED, RESUMED = " <unfinished ...>", re.compile(r"<\.\.\. \w+ resumed>(.*)")


def _calls(log: Path) -> Iterator[str]:
    """Whole system calls, in the order they ended: with -f, a call another thread interrupts is printed as an
    `<unfinished ...>` line and a `<... read resumed>` line later, which are joined here (its thread id first)."""
    pending: dict[str, str] = {}
    for line in log.read_text().splitlines():
        thread, _, call = line.partition(" ")
        if call.endswith(UNFINISHED):
            pending[thread] = call.removesuffix(UNFINISHED)
        elif (resumed := RESUMED.match(call.lstrip())) and thread in pending:
            yield pending.pop(thread) + resumed.group(1)
        else:
            yield call


def windows(log: Path) -> list[tuple[str, int, list[str]]]:
    """(request line, status, paths synced between reading the request and writing its reply), in order."""
    found: list[tuple[str, int, list[str]]] = []
    open_requests: dict[str, tuple[str, list[str]]] = {}  # socket fd → (request line, synced so far)
    for line in _calls(log):
        if read := READ.search(line):
            open_requests[read.group(1)] = (read.group(2), [])
        elif sync := SYNC.search(line):
            for _, synced in open_requests.values():
                synced.append(sync.group(1))
        elif (write := WRITE.search(line)) and write.group(1) in open_requests and write.group(2) != "100":
            request, synced = open_requests.pop(write.group(1))
            found.append((request, int(write.group(2)), synced))
    return [w for w in found if w[0] != "GET /ping"]


def start(tmp: Path, durable: bool) -> ServerProcess:
    env = {"HOMEPORT_LOG_LEVEL": "warning", "HOMEPORT_DURABLE_COMMITS": str(durable).lower(), **KEYS}
    return ServerProcess(tmp, env=env).start()


def test_every_acknowledged_write_is_synced_before_its_reply(tmp_path: Path, xgb_model: dict[str, Any]) -> None:
    server = start(tmp_path / "data", durable=True)
    try:
        s3, sm = boto_client("s3", server.url), boto_client("sagemaker", server.url)
        runtime = boto_client("sagemaker-runtime", server.url)
        s3.create_bucket(Bucket="durable")
        s3.put_object(Bucket="durable", Key="input.csv", Body=b"1,2,3,4\n")
        endpoint = deploy_async(sm, xgb_model["url"], "durable", image=XGBOOST_IMAGE)
        container = {"Image": XGBOOST_IMAGE, "ModelDataUrl": xgb_model["url"]}
        with traced(server, tmp_path / "strace.log"):
            s3.put_object(Bucket="durable", Key="small", Body=b"x" * 100)  # kept in the index
            s3.put_object(Bucket="durable", Key="large", Body=b"y" * 300_000)  # a data file
            sm.create_model(ModelName="durable-model", ExecutionRoleArn=ROLE, PrimaryContainer=container)
            runtime.invoke_endpoint_async(EndpointName=endpoint, InputLocation="s3://durable/input.csv")
        seen = windows(tmp_path / "strace.log")
    finally:
        server.stop()
    by_request = {request: (status, synced) for request, status, synced in seen}
    small, large = by_request["PUT /durable/small"], by_request["PUT /durable/large"]
    assert small[0] == 200 and any(p.endswith("objects/index.db-wal") for p in small[1]), small
    assert large[0] == 200 and any(p.endswith("objects/index.db-wal") for p in large[1]), large
    assert any("/objects/tmp/" in p for p in large[1]), large  # its data file, before the rename
    assert any(re.search(r"/objects/data/durable/[0-9a-f]{2}$", p) for p in large[1]), large  # the rename
    posts = [(status, synced) for request, status, synced in seen if request.startswith("POST /")]
    assert posts and all(status in (200, 202) for status, _ in posts), seen
    assert all(any(p.endswith("homeport.db-wal") for p in synced) for _, synced in posts), posts


def test_without_durable_commits_the_log_is_not_synced(tmp_path: Path) -> None:
    server = start(tmp_path / "data", durable=False)
    try:
        s3 = boto_client("s3", server.url)
        s3.create_bucket(Bucket="relaxed")
        with traced(server, tmp_path / "strace.log"):
            s3.put_object(Bucket="relaxed", Key="small", Body=b"x" * 100)
        seen = windows(tmp_path / "strace.log")
    finally:
        server.stop()
    ((request, status, synced),) = seen
    assert (request, status) == ("PUT /relaxed/small", 200)
    assert not any(p.endswith("-wal") for p in synced), synced
