#!/usr/bin/env python3
"""Single-record InvokeEndpoint through homeport, beside its floors and a FastAPI peer, in one run.

    .venv/bin/python bench/invoke.py                 # ~3 minutes; prints a table, writes bench/results/*.json
    .venv/bin/python bench/invoke.py --profile 8     # then py-spy on homeport and its instance under load

Rows (see bench/README.md): the in-process `inplace_predict` floor, one raw ASGI hop (uvicorn + httptools,
no-op handler), FastAPI + xgboost on uvicorn (CSV row -> predict -> CSV, one hop), and homeport (client ->
homeport -> its instance over a Unix socket). Latency at concurrency 1 and throughput at 16 and 64 come
from `wrk` (C, keep-alive, Lua for the POST body) when it is installed, else from an asyncio load
generator in this file. The load generator runs on core 0; every server under test on core 1 (homeport
and its instance process share core 1, the same CPU budget as the peers). The servers are measured
interleaved, level by level, so that drift on a shared machine hits all rows alike, in three rounds whose
medians make the table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
EXAMPLE = ROOT / "examples" / "abalone" / "run.py"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::000000000000:role/homeport-bench"
LEVELS = (1, 16, 64)
LOADGEN_CORE, SERVER_CORE = 0, 1
TARGET_ADDED_OVER_HOP = 2.0  # (homeport p50 - in-process predict p50) / raw hop p50 <= 2
TARGET_THROUGHPUT = 2.0  # homeport rps / FastAPI + xgboost rps >= 2, at c=16 and c=64
SERVER_ENV = {"OMP_NUM_THREADS": "1", "HOMEPORT_MODEL_THREADS": "1", "PYTHONUNBUFFERED": "1"}


# --------------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------------


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("abalone_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def build_model(workdir: Path) -> tuple[Any, Path, np.ndarray, bytes]:
    """Train the worked example's Abalone model (one-hot Sex: 10 features, 50 trees, depth 5)."""
    example = load_example()
    splits = example.prepare()
    booster, _ = example.train(splits)
    booster.set_param({"nthread": 1})
    tarball = example.package_model(booster, workdir)
    features, _ = example.features_and_label(splits.test)
    row = features[:1]
    body = example.to_csv_body(splits.test.drop(columns=[example.LABEL]).iloc[:1]).strip().encode()
    return booster, tarball, row, body


def predict_floor(booster: Any, row: np.ndarray, calls: int = 2000) -> dict[str, float]:
    """`inplace_predict` on one row, in this process, on the server core: per-call p50/p99 in µs.

    Twice: back to back (the floor the targets use), and with the core idle 200 µs between calls, as a
    server's core is at c=1 while the reply and the next request travel; an idle core makes the next call
    slower (caches, frequency), which a hot loop hides.
    """
    clock = time.perf_counter_ns
    result: dict[str, float] = {}
    with pinned({SERVER_CORE}):
        for name, gap in (("", 0.0), ("idle_", 200e-6)):
            for _ in range(200):
                booster.inplace_predict(row, validate_features=False)
            times = []
            for _ in range(calls):
                if gap:
                    time.sleep(gap)
                t0 = clock()
                booster.inplace_predict(row, validate_features=False)
                times.append(clock() - t0)
            times.sort()
            result[f"{name}p50_us"] = times[len(times) // 2] / 1e3
            result[f"{name}p99_us"] = times[int(len(times) * 0.99)] / 1e3
    return result


# --------------------------------------------------------------------------------------------------------
# Pinning and child processes
# --------------------------------------------------------------------------------------------------------


ALLOWED = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()  # before any pinning


def can_pin() -> bool:
    return {LOADGEN_CORE, SERVER_CORE} <= ALLOWED


@contextlib.contextmanager
def pinned(cores: set[int]) -> Iterator[None]:
    """Run the block (and every process started in it) on `cores`; the bench goes back to its own after."""
    if not can_pin():
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def affinity(pid: int) -> list[int]:
    try:
        return sorted(os.sched_getaffinity(pid))
    except OSError:
        return []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[Any], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} in {timeout_s:g} s")


@dataclass
class Child:
    """A peer server: `python bench/invoke.py --serve KIND`, started pinned to the server core."""

    kind: str
    model: Path | None = None
    proc: subprocess.Popen[str] | None = None
    url: str = ""

    def start(self) -> Child:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", self.kind]
        if self.model is not None:
            cmd += ["--model", str(self.model)]
        if self.kind == "instance":  # homeport's own model server, reached directly over TCP
            assert self.model is not None
            port = free_port()
            cmd = [
                sys.executable,
                "-m",
                "homeport.runtime",
                "--runtime",
                "xgboost",
                "--model-dir",
                str(self.model.parent),
                "--port",
                str(port),
            ]
            with pinned({SERVER_CORE}):
                self.proc = subprocess.Popen(cmd, start_new_session=True, env={**os.environ, **SERVER_ENV})
            self.url = f"http://127.0.0.1:{port}"
            wait_listening(port, self.proc)
            return self
        with pinned({SERVER_CORE}):
            self.proc, self.url = spawn_listening(cmd, {**os.environ, **SERVER_ENV}, self.kind)
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


# --------------------------------------------------------------------------------------------------------
# The peer servers (run in a child: `--serve raw|fastapi`)
# --------------------------------------------------------------------------------------------------------


async def raw_app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    """One raw ASGI hop: read the body, answer a fixed small body."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/csv"), (b"content-length", b"5")],
        }
    )
    await send({"type": "http.response.body", "body": b"9.75\n"})


def fastapi_app(model: Path) -> Any:
    """CSV row -> inplace_predict -> CSV, the way a FastAPI model server would write it."""
    import xgboost

    booster = xgboost.Booster()
    with open(model, "rb") as f:
        booster.load_model(bytearray(f.read()))
    booster.set_param({"nthread": 1})

    def predict(body: bytes) -> bytes:
        lines = body.strip().splitlines()
        rows = np.array([[float(v) for v in line.split(b",")] for line in lines], dtype=np.float64)
        scores = booster.inplace_predict(rows, validate_features=False)
        return "\n".join(str(float(s)) for s in scores.ravel()).encode()

    try:
        from fastapi import FastAPI, Request, Response
    except ImportError:  # Starlette alone: the same handler without FastAPI's layer
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        async def handler(request: Request) -> Response:
            return Response(predict(await request.body()), media_type="text/csv")

        return Starlette(routes=[Route("/invocations", handler, methods=["POST"])])

    async def invocations(request: Request) -> Response:
        return Response(predict(await request.body()), media_type="text/csv")

    # The annotations are strings (postponed evaluation); FastAPI needs the classes to inject the request.
    invocations.__annotations__ = {"request": Request, "return": Response}
    app = FastAPI()
    app.post("/invocations")(invocations)
    return app


def spawn_listening(cmd: list[str], env: dict[str, str], label: str) -> tuple[subprocess.Popen[str], str]:
    """Start a child that serves with `serve_app` (it prints `listening PORT` once it listens): it and its URL."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening "):
        raise RuntimeError(f"the {label} server did not start (exit {proc.wait()})")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


def serve(kind: str, model: Path | None) -> None:
    if kind == "raw":
        app: Any = raw_app
    else:
        assert model is not None
        app = fastapi_app(model)
    serve_app(app)


def serve_app(app: Any) -> None:
    """Serve the ASGI `app` on uvicorn + httptools + uvloop, on a free loopback port it prints first."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    print(f"listening {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, http="httptools", loop="uvloop", lifespan="off", access_log=False, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


def peer_label() -> str:
    return "FastAPI + xgboost" if importlib.util.find_spec("fastapi") else "Starlette + xgboost"


# --------------------------------------------------------------------------------------------------------
# homeport
# --------------------------------------------------------------------------------------------------------


@dataclass
class Homeport:
    tarball: Path
    data_dir: Path
    cores: set[int] = field(default_factory=lambda: {SERVER_CORE})
    server: Any = None
    url: str = ""
    pids: dict[str, int] = field(default_factory=dict)
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # more server settings (HOMEPORT_INSTANCE_MODE=inline)

    def start(self) -> Homeport:
        import boto3

        from homeport.server.process import ServerProcess

        env = {**SERVER_ENV, "HOMEPORT_LOG_LEVEL": "warning", **self.env}
        with pinned(self.cores):  # homeport and (inherited) its instance processes: the server core
            self.server = ServerProcess(self.data_dir, env=env).start()
        common: dict[str, Any] = {
            "endpoint_url": self.server.url,
            "region_name": "us-east-1",
            "aws_access_key_id": self.server.access_key_id,
            "aws_secret_access_key": self.server.secret_access_key,
        }
        sm = boto3.client("sagemaker", **common)
        sm.create_model(
            ModelName="bench-model",
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": IMAGE, "ModelDataUrl": self.tarball.as_uri()},
        )
        sm.create_endpoint_config(
            EndpointConfigName="bench-config",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "bench-model",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                    "InitialVariantWeight": 1.0,
                }
            ],
        )
        sm.create_endpoint(EndpointName="bench", EndpointConfigName="bench-config")
        sm.get_waiter("endpoint_in_service").wait(EndpointName="bench", WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
        self.url = f"{self.server.url}/endpoints/bench"
        self.headers = signed_headers(f"{self.url}/invocations", self.body, self.server)
        self.pids = {"homeport": self.server.proc.pid}
        instances = self.server.instance_pids()
        if instances:
            self.pids["instance"] = instances[0]
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        for pid in self.pids.values():  # an instance that outlived homeport (it should not)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def signed_headers(url: str, body: bytes, server: Any) -> dict[str, str]:
    """SigV4 headers for the one request the load generator replays: valid for the server's 15-minute skew
    window, which outlasts a run. homeport verifies them on every request, as it does for any client."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest("POST", url, data=body, headers={"Content-Type": "text/csv"})
    SigV4Auth(Credentials(server.access_key_id, server.secret_access_key), "sagemaker", "us-east-1").add_auth(request)
    return {name: value for name, value in request.headers.items() if name.lower() != "content-type"}


# --------------------------------------------------------------------------------------------------------
# Load generation
# --------------------------------------------------------------------------------------------------------

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = "%s"
wrk.headers["Content-Type"] = "text/csv"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCHJSON {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"p50_us\\": %%d, \\"p99_us\\": %%d, "
    .. "\\"mean_us\\": %%.1f, \\"errors\\": %%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass
class LoadGen:
    body: bytes
    use_wrk: bool
    workdir: Path
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # url → extra headers (homeport's SigV4)

    def run(self, url: str, connections: int, seconds: float) -> dict[str, float]:
        if self.use_wrk:
            return self._wrk(url, connections, seconds)
        with pinned({LOADGEN_CORE}):
            return asyncio.run(_asyncio_load(url, self.body, connections, seconds, self.headers.get(url, {})))

    def script(self, url: str) -> Path:
        extra = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in self.headers.get(url, {}).items())
        path = self.workdir / f"post-{abs(hash(url))}.lua"
        path.write_text(WRK_SCRIPT % self.body.decode() + extra)
        return path

    def _wrk(self, url: str, connections: int, seconds: float) -> dict[str, float]:
        cmd = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(self.script(url)),
            f"{url}/invocations",
        ]
        if can_pin():
            cmd = ["taskset", "-c", str(LOADGEN_CORE), *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
        for line in out.splitlines():
            if line.startswith("BENCHJSON "):
                raw = json.loads(line[len("BENCHJSON ") :])
                return {
                    "rps": raw["requests"] / (raw["duration_us"] / 1e6),
                    "p50_us": raw["p50_us"],
                    "p99_us": raw["p99_us"],
                    "mean_us": raw["mean_us"],
                    "requests": raw["requests"],
                    "errors": raw["errors"],
                }
        raise RuntimeError(f"wrk printed no summary:\n{out}")


async def _asyncio_load(
    url: str, body: bytes, connections: int, seconds: float, headers: dict[str, str]
) -> dict[str, float]:
    """N keep-alive connections, each sending the next request when the last reply is in (closed loop)."""
    host, _, rest = url.removeprefix("http://").partition("/")
    path = "/" + rest + ("/" if rest else "") + "invocations"
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/csv\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    run = await closed_loop(host, lambda: request, connections, seconds)
    latencies = run.latencies_ns
    return {
        "rps": len(latencies) / run.elapsed_s,
        "p50_us": latencies[len(latencies) // 2] / 1e3,
        "p99_us": latencies[int(len(latencies) * 0.99)] / 1e3,
        "mean_us": statistics.fmean(latencies) / 1e3,
        "requests": len(latencies),
        "errors": len(latencies) - run.statuses[200],
    }


@dataclass
class LoadRun:
    latencies_ns: list[int]  # sorted
    elapsed_s: float
    statuses: Counter[int]
    failures: list[str]  # the first few non-200 replies: "status: body"


async def closed_loop(host: str, next_request: Callable[[], bytes], connections: int, seconds: float) -> LoadRun:
    """`connections` keep-alive connections to `host` ("name:port"), each sending `next_request()` (a whole HTTP/1.1
    request) when its last reply is in, for `seconds`."""
    import httptools

    name, _, port = host.partition(":")
    latencies: list[int] = []
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    stop_at = time.perf_counter() + seconds

    class Reply:
        def __init__(self) -> None:
            self.complete = False
            self.body = b""

        def on_body(self, data: bytes) -> None:
            self.body += data

        def on_message_complete(self) -> None:
            self.complete = True

    async def one() -> None:
        reader, writer = await asyncio.open_connection(name, int(port))
        clock = time.perf_counter_ns
        try:
            while time.perf_counter() < stop_at:
                got = Reply()
                parser = httptools.HttpResponseParser(got)
                t0 = clock()
                writer.write(next_request())
                while not got.complete:
                    data = await reader.read(65536)
                    if not data:
                        raise ConnectionError("server closed the connection")
                    parser.feed_data(data)
                latencies.append(clock() - t0)
                status = parser.get_status_code()
                statuses[status] += 1
                if status != 200 and len(failures) < 5:
                    failures.append(f"{status}: {got.body[:300].decode(errors='replace')}")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return LoadRun(latencies, elapsed, statuses, failures)


def check_reply(url: str, body: bytes, expected: float | None, headers: dict[str, str] | None = None) -> None:
    import http.client

    host = url.removeprefix("http://").partition("/")[0]
    path = "/" + url.removeprefix("http://").partition("/")[2]
    conn = http.client.HTTPConnection(host, timeout=30)
    try:
        conn.request("POST", path.rstrip("/") + "/invocations", body, {"Content-Type": "text/csv", **(headers or {})})
        reply = conn.getresponse()
        text = reply.read().decode()
    finally:
        conn.close()
    if reply.status != 200:
        raise RuntimeError(f"{url} answered {reply.status}: {text[:200]}")
    if expected is not None and abs(float(text.strip()) - expected) > 1e-4 * max(1.0, abs(expected)):
        raise RuntimeError(f"{url} predicted {text.strip()}, the in-process booster {expected}")


# --------------------------------------------------------------------------------------------------------
# Profile (optional)
# --------------------------------------------------------------------------------------------------------


def profile(homeport: Homeport, load: LoadGen, seconds: int, native: bool) -> dict[str, Any]:
    """py-spy record on homeport and its instance during a c=64 load; the top frames by own samples."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("py-spy is not installed (pip install py-spy): no profile", file=sys.stderr)
        return {}
    RESULTS.mkdir(parents=True, exist_ok=True)
    procs = {}
    for role, pid in homeport.pids.items():
        out = RESULTS / f"profile-{role}.txt"
        cmd = [
            spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            "200",
            "--native" if native else "--nonblocking",
            "--format",
            "raw",
            "--output",
            str(out),
        ]
        if can_pin():
            cmd = ["taskset", "-c", str(LOADGEN_CORE), *cmd]
        procs[role] = (subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out)
    load.run(homeport.url, 64, seconds + 1)
    report: dict[str, Any] = {}
    for role, (proc, out) in procs.items():
        proc.wait(60)
        if not out.exists():
            continue
        own: Counter[str] = Counter()
        total = 0
        for line in out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack:
                continue
            total += int(count)
            own[stack.split(";")[-1]] += int(count)
        top = [(frame, round(100 * n / max(total, 1), 1)) for frame, n in own.most_common(15)]
        report[role] = {"samples": total, "file": str(out), "top_own": top}
    return report


# --------------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------------


def median_run(runs: list[dict[str, float]]) -> dict[str, Any]:
    """Each figure's median over the rounds (a shared machine drifts; one round can land in a slow spell),
    with the rounds themselves kept for the record."""
    keys = ("rps", "p50_us", "p99_us", "mean_us")
    summary: dict[str, Any] = {k: statistics.median(run[k] for run in runs) for k in keys}
    summary["requests"] = sum(run["requests"] for run in runs)
    summary["errors"] = sum(run["errors"] for run in runs)
    summary["rounds"] = [{k: run[k] for k in ("rps", "p50_us", "p99_us")} for run in runs]
    return summary


def fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(results: dict[str, Any]) -> str:
    floor = results["floor"]["p50_us"]
    hop = results["rows"]["raw_hop"]["c1"]["p50_us"]
    lines = [
        f"{'row':<24} {'p50 c=1':>9} {'p99 c=1':>9} {'added p50':>10} {'rps c=16':>9} {'rps c=64':>9}",
        f"{'':<24} {'µs':>9} {'µs':>9} {'÷ raw hop':>10} {'':>9} {'':>9}",
    ]
    lines.append(
        f"{'in-process predict':<24} {fmt(floor, 1):>9} {fmt(results['floor']['p99_us'], 1):>9}"
        f" {'':>10} {fmt(1e6 / floor):>9} {'':>9}"
    )
    idle = results["floor"]["idle_p50_us"]
    lines.append(f"{'  same, core idle 200 µs':<24} {fmt(idle, 1):>9} {fmt(results['floor']['idle_p99_us'], 1):>9}")
    for key, row in results["rows"].items():
        added = None if key == "raw_hop" else (row["c1"]["p50_us"] - floor) / hop
        lines.append(
            f"{row['label']:<24} {fmt(row['c1']['p50_us']):>9} {fmt(row['c1']['p99_us']):>9}"
            f" {fmt(added, 2):>10} {fmt(row['c16']['rps']):>9} {fmt(row['c64']['rps']):>9}"
        )
    r = results["ratios"]
    lines += [
        "",
        f"(homeport p50 - predict p50) / raw hop p50 = {r['added_over_hop']:.2f}"
        f"   (target <= {TARGET_ADDED_OVER_HOP:g})  "
        f"{'ok' if r['added_over_hop'] <= TARGET_ADDED_OVER_HOP else 'MISSED'}",
        f"homeport / {results['rows']['peer']['label']} throughput: c=16 {r['throughput_c16']:.2f}x,"
        f" c=64 {r['throughput_c64']:.2f}x   (target >= {TARGET_THROUGHPUT:g})  "
        f"{'ok' if min(r['throughput_c16'], r['throughput_c64']) >= TARGET_THROUGHPUT else 'MISSED'}",
        f"same over the idle-core predict p50: {r['added_over_hop_idle_floor']:.2f}"
        f" (FastAPI peer {r['peer_added_over_hop_idle_floor']:.2f}, instance alone "
        f"{r['instance_added_over_hop_idle_floor']:.2f})",
        f"homeport's own hop (homeport p50 - instance alone p50) = {r['homeport_hop_p50_us']:,.0f} µs"
        f" = {r['homeport_hop_p50_us'] / hop:.2f} raw hops",
        "(in-process rps = 1 / p50 call time: one core doing nothing but predict calls)",
    ]
    return "\n".join(lines)


def add_cores_option(parser: argparse.ArgumentParser, default_note: str = str(SERVER_CORE)) -> None:
    """--homeport-cores: where the server and its instances run (the load generator keeps the other core)."""
    parser.add_argument(
        "--homeport-cores",
        type=lambda v: {int(c) for c in v.split(",")},
        default={SERVER_CORE},
        metavar="LIST",
        help=f"cores for homeport and its instances (default {default_note})",
    )


def measure(args: argparse.Namespace) -> dict[str, Any]:
    if can_pin():
        os.sched_setaffinity(0, {LOADGEN_CORE})
    os.environ.update({"OMP_NUM_THREADS": "1"})
    use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and shutil.which("wrk") is not None)
    servers: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="homeport-bench-") as tmp:
        workdir = Path(tmp)
        t0 = time.monotonic()
        booster, tarball, row, body = build_model(workdir / "model")
        expected = float(booster.inplace_predict(row, validate_features=False).ravel()[0])
        (workdir / "unpacked").mkdir()
        model_file = workdir / "unpacked" / "xgboost-model"
        booster.save_model(str(workdir / "model.ubj"))
        (workdir / "model.ubj").rename(model_file)
        load = LoadGen(body, use_wrk, workdir)
        try:
            raw = Child("raw").start()
            servers.append(raw)
            peer = Child("fastapi", model_file).start()
            servers.append(peer)
            instance = Child("instance", model_file).start()
            servers.append(instance)
            homeport = Homeport(tarball, workdir / "data", args.homeport_cores, body=body)
            servers.append(homeport)
            homeport.start()
            load.headers[homeport.url] = homeport.headers
            targets = {
                "raw_hop": ("one raw hop (ASGI)", raw.url),
                "peer": (peer_label(), peer.url),
                "instance": ("homeport instance alone", instance.url),
                "homeport": ("homeport", homeport.url),
            }
            check_reply(raw.url, body, None)
            check_reply(peer.url, body, expected)
            check_reply(instance.url, body, expected)
            check_reply(homeport.url, body, expected, homeport.headers)
            setup_s = time.monotonic() - t0
            floor = predict_floor(booster, row)
            rows: dict[str, Any] = {k: {"label": label, "url": url} for k, (label, url) in targets.items()}
            runs: dict[tuple[str, int], list[dict[str, float]]] = {}
            for round_ in range(args.rounds):  # interleaved: every server at a level, then the next level
                for level in LEVELS:
                    for key, (_, url) in targets.items():
                        load.run(url, level, args.warmup)
                        run = load.run(url, level, args.duration)
                        runs.setdefault((key, level), []).append(run)
                        print(
                            f"  {round_ + 1}/{args.rounds} {key:<9} c={level:<3} {run['rps']:>9,.0f} rps "
                            f"p50 {run['p50_us']:,.0f} µs",
                            file=sys.stderr,
                        )
            for (key, level), measured in runs.items():
                rows[key][f"c{level}"] = median_run(measured)
            pinning = {
                "bench_and_loadgen": affinity(os.getpid()),
                "raw_hop": affinity(raw.proc.pid),
                "peer": affinity(peer.proc.pid),
                "instance_alone": affinity(instance.proc.pid),
                **{f"homeport_{role}": affinity(pid) for role, pid in homeport.pids.items()},
            }
            check_reply(homeport.url, body, expected, homeport.headers)
            spy = profile(homeport, load, args.profile, args.native) if args.profile else {}
        finally:
            for server in reversed(servers):
                with contextlib.suppress(Exception):
                    server.stop()
    hop = rows["raw_hop"]["c1"]["p50_us"]
    ratios = {
        "added_over_hop": (rows["homeport"]["c1"]["p50_us"] - floor["p50_us"]) / hop,
        "peer_added_over_hop": (rows["peer"]["c1"]["p50_us"] - floor["p50_us"]) / hop,
        "instance_added_over_hop": (rows["instance"]["c1"]["p50_us"] - floor["p50_us"]) / hop,
        "added_over_hop_idle_floor": (rows["homeport"]["c1"]["p50_us"] - floor["idle_p50_us"]) / hop,
        "peer_added_over_hop_idle_floor": (rows["peer"]["c1"]["p50_us"] - floor["idle_p50_us"]) / hop,
        "instance_added_over_hop_idle_floor": (rows["instance"]["c1"]["p50_us"] - floor["idle_p50_us"]) / hop,
        "homeport_hop_p50_us": rows["homeport"]["c1"]["p50_us"] - rows["instance"]["c1"]["p50_us"],
        "throughput_c16": rows["homeport"]["c16"]["rps"] / rows["peer"]["c16"]["rps"],
        "throughput_c64": rows["homeport"]["c64"]["rps"] / rows["peer"]["c64"]["rps"],
    }
    errors = sum(row[f"c{level}"]["errors"] for row in rows.values() for level in LEVELS)
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadgen": "wrk -t1" if use_wrk else "asyncio (this file)",
        "duration_s": args.duration,
        "rounds": args.rounds,
        "warmup_s": args.warmup,
        "setup_s": round(setup_s, 1),
        "pinning": pinning if can_pin() else "none (fewer than 2 usable cores)",
        "request_body": body.decode(),
        "floor": floor,
        "rows": rows,
        "ratios": ratios,
        "errors": errors,
        "profile": spy,
        "targets": {"added_over_hop_max": TARGET_ADDED_OVER_HOP, "throughput_ratio_min": TARGET_THROUGHPUT},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds measured per row, level and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the table shows medians")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before each measurement")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="SECONDS",
        help="then py-spy homeport and its instance this long under c=64 load",
    )
    parser.add_argument("--native", action="store_true", help="py-spy --native (C frames; pauses the process)")
    add_cores_option(parser, f"{SERVER_CORE}: the peers' budget")
    parser.add_argument("--serve", choices=["raw", "fastapi"], help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.model)
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops every server
    results = measure(args)
    print(table(results))
    if results["profile"]:
        for role, prof in results["profile"].items():
            print(f"\npy-spy, {role} ({prof['samples']} samples), top frames by own time:")
            for frame, share in prof["top_own"]:
                print(f"  {share:5.1f}%  {frame}")
    if results["errors"]:
        print(f"\nWARNING: {results['errors']} failed requests during the measurements", file=sys.stderr)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"invoke-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"\nwrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
