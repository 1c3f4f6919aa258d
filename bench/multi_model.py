#!/usr/bin/env python3
"""Multi-model endpoints: 1,000 small XGBoost models on one instance whose memory budget holds 100, in one run.

    .venv/bin/python bench/multi_model.py                   # about 3 minutes on 2 cores
    .venv/bin/python bench/multi_model.py --quick           # 200 models holding 20, one round of 2 s: ~40 s
    .venv/bin/python bench/multi_model.py --models 5000 --hold 500 --rounds 5 --duration 10
    .venv/bin/python bench/multi_model.py --profile 8       # then py-spy on homeport and the instance, per mix

The issue's two figures, each measured against a floor in the same run:

- **Steady state**: a Zipf-distributed mix (s = `--zipf`, 1.1, over the `--models` models; which model has which
  rank is shuffled) of one-CSV-row InvokeEndpoint requests with TargetModel, on a 1-instance multi-model endpoint
  whose HOMEPORT_MODEL_CACHE_MB holds `--hold` (100) models, as a ratio to the same load on an ordinary
  single-model endpoint serving one of the same models (TargetModel-less, the same body). At concurrency 1 and
  16 (closed loop, keep-alive), warm-up then measured, the two endpoints interleaved over `--rounds` rounds; the
  table shows medians (the ratio: the median of each round's ratio). The cache hit ratio is the server's
  (CloudWatch ModelCacheHit, Sum / SampleCount) beside an exact LRU simulation (by bytes, as the container
  counts) of every request the endpoint was sent, as a check; loads/request is ModelLoadingTime's SampleCount
  over the requests. A third row, for locating time: the multi-model endpoint with hits only (a uniform mix over
  the `--hold` / 2 most popular models, all loaded), against the same single-model floor.
- **First request**: one InvokeEndpoint for each of `--first` (20) models never requested before (fetch from the
  S3 face, unpack, load: all included), as a ratio to the in-process time of loading the same model
  (`xgboost.Booster().load_model` on the unpacked file, then one `inplace_predict`), measured in this process on
  the server core. Twice: while the cache still has room, and once it is full (each load first unloads the
  least recently used model). Also, for information: a model that was unloaded earlier and whose files are
  still on disk (the steady state's miss), and the second request of each model (a hit).

Every model is trained on its own synthetic data (seeded), so every reply is checked against its own booster's
prediction: each first request, and one request to each of the 1,000 models in the sweep that fills the cache.

Pinning: `homeport serve`, its zygote and both endpoints' instances on core 1; this process and its load
generator (asyncio + uvloop + httptools, requests SigV4-signed by botocore with their TargetModel header) on
core 0. `OMP_NUM_THREADS=1` and the boosters' `nthread=1` everywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import io
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from invoke import LOADGEN_CORE, SERVER_CORE, affinity, can_pin, closed_loop, pinned

from batch import RESULTS, descendants, machine_cpu, process_cpu_s, say, write_results  # bench/ is on sys.path

IMAGE = "homeport/xgboost"
ROLE = "arn:aws:iam::000000000000:role/homeport-bench"
BUCKET = "bench-mme"
PREFIX = "models/"
MME, SINGLE = "bench-mme", "bench-single"
VARIANT = "AllTraffic"
SERVER_ENV = {
    "OMP_NUM_THREADS": "1",
    "HOMEPORT_MODEL_THREADS": "1",
    "PYTHONUNBUFFERED": "1",
    "HOMEPORT_LOG_LEVEL": "warning",
    "HOMEPORT_METRIC_PERIOD_SECONDS": "1",  # the cache metrics of a measured window are in within a second
}
CACHE_METRICS = (
    "ModelCacheHit",
    "ModelLoadingWaitTime",
    "ModelDownloadingTime",
    "ModelLoadingTime",
    "ModelUnloadingTime",
)
RTOL = 1e-5


# --------------------------------------------------------------------------------------------------------
# The models
# --------------------------------------------------------------------------------------------------------


@dataclass
class Model:
    key: str  # TargetModel: the object's key under the prefix
    file: Path  # the unpacked `xgboost-model`, for the in-process floor
    archive: bytes  # model.tar.gz
    size: int  # unpacked bytes: what it counts against HOMEPORT_MODEL_CACHE_MB
    expected: float  # its booster's prediction for the request row


def train_one(seed: int, key: str, args: argparse.Namespace, row: np.ndarray, out: Path) -> Model:
    import xgboost

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(args.rows, args.features))
    y = x @ rng.normal(size=args.features) + 0.1 * rng.normal(size=args.rows)
    params = {"max_depth": args.depth, "eta": 0.3, "nthread": 1, "objective": "reg:squarederror"}
    booster = xgboost.train(params, xgboost.DMatrix(x, label=y), args.trees)
    raw = bytes(booster.save_raw("ubj"))
    model_dir = out / key.removesuffix(".tar.gz")
    model_dir.mkdir(parents=True)
    (model_dir / "xgboost-model").write_bytes(raw)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:  # `tar czf model.tar.gz -C model_dir .`
        info = tarfile.TarInfo("xgboost-model")
        info.size, info.mtime, info.mode = len(raw), int(time.time()), 0o644
        tar.addfile(info, io.BytesIO(raw))
    expected = float(booster.inplace_predict(row, validate_features=False).ravel()[0])
    return Model(key, model_dir / "xgboost-model", buffer.getvalue(), len(raw), expected)


def build_models(args: argparse.Namespace, workdir: Path, row: np.ndarray) -> list[Model]:
    """`--models` models for the Zipf mix (m0000.tar.gz …), then `--first` + 1 never in it (x000.tar.gz …)."""
    keys = [f"m{i:04d}.tar.gz" for i in range(args.models)] + [f"x{i:03d}.tar.gz" for i in range(args.first + 1)]
    with ThreadPoolExecutor(len(ALLOWED) or 1) as pool:  # xgboost trains outside the GIL
        return list(pool.map(lambda ik: train_one(ik[0], ik[1], args, row, workdir / "unpacked"), enumerate(keys)))


ALLOWED = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()


def zipf_sequence(n: int, s: float, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`length` model indices drawn with P(rank k) ∝ 1/k^s, and rank → model index (a shuffle)."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n + 1) ** s
    ranked = rng.permutation(n)
    ranks = rng.choice(n, size=length, p=weights / weights.sum())
    return ranked[ranks].astype(np.int32), ranked


def load_floor(models: list[Model], row: np.ndarray, reps: int) -> dict[str, Any]:
    """In this process on the server core: Booster().load_model(file) + one inplace_predict, and the same from the
    .tar.gz (unpacked to a fresh directory first); each model's median of `reps`, then the median over models."""
    import xgboost

    def load_predict(path: Path) -> float:
        booster = xgboost.Booster()
        booster.load_model(bytearray(path.read_bytes()))  # as homeport's loader does (a name without a suffix)
        booster.set_param({"nthread": 1})
        return float(booster.inplace_predict(row, validate_features=False).ravel()[0])

    per_model, per_model_unpack = [], []
    with pinned({SERVER_CORE}), tempfile.TemporaryDirectory(prefix="mme-floor-") as tmp:
        load_predict(models[0].file)  # the first call in a process pays one-off costs
        for m in models:
            times, unpack_times = [], []
            for rep in range(reps):
                t0 = time.perf_counter()
                got = load_predict(m.file)
                times.append(time.perf_counter() - t0)
                assert abs(got - m.expected) <= RTOL * max(1.0, abs(m.expected)), (m.key, got, m.expected)
                t0 = time.perf_counter()
                dest = Path(tmp) / f"{m.key}-{rep}"
                with tarfile.open(fileobj=io.BytesIO(m.archive), mode="r:gz") as tar:
                    tar.extractall(dest, filter="data")
                load_predict(dest / "xgboost-model")
                unpack_times.append(time.perf_counter() - t0)
            per_model.append(statistics.median(times))
            per_model_unpack.append(statistics.median(unpack_times))
    return {
        "load_predict_ms": 1e3 * statistics.median(per_model),
        "unpack_load_predict_ms": 1e3 * statistics.median(per_model_unpack),
        "per_model_ms": [round(1e3 * t, 4) for t in per_model],
    }


# --------------------------------------------------------------------------------------------------------
# homeport: the server, the endpoints, signing
# --------------------------------------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    server: Any
    sm: Any
    s3: Any
    cw: Any
    models: list[Model]
    body: bytes
    budget_mb: float
    started: datetime
    pids: dict[str, int] = field(default_factory=dict)
    history: list[int] = field(default_factory=list)  # model index of every request sent to the MME, in order
    profile: dict[str, Any] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.server.url.removeprefix("http://")

    def path(self, endpoint: str) -> str:
        return f"/endpoints/{endpoint}/invocations"


def clients(server: Any) -> tuple[Any, Any, Any]:
    import boto3
    from botocore.config import Config

    common: dict[str, Any] = {
        "endpoint_url": server.url,
        "region_name": "us-east-1",
        "aws_access_key_id": server.access_key_id,
        "aws_secret_access_key": server.secret_access_key,
        "config": Config(retries={"max_attempts": 2}, read_timeout=300, max_pool_connections=16),
    }
    return tuple(boto3.client(s, **common) for s in ("sagemaker", "s3", "cloudwatch"))  # type: ignore[return-value]


def deploy(b: Bench, endpoint: str, container: dict[str, Any]) -> None:
    b.sm.create_model(ModelName=endpoint, ExecutionRoleArn=ROLE, PrimaryContainer=container)
    variant = {"VariantName": VARIANT, "ModelName": endpoint, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
    b.sm.create_endpoint_config(EndpointConfigName=endpoint, ProductionVariants=[variant])
    b.sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=endpoint)
    b.sm.get_waiter("endpoint_in_service").wait(EndpointName=endpoint, WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})


def instance_pid(server: Any, known: set[int], timeout_s: float = 10.0) -> int:
    """The process of the endpoint just created: the server's one new descendant that is not its zygote. (Not
    `ServerProcess.instance_pids()`, which goes by command line: a forked instance is missed until it has set its
    title, which was seen not to happen.)"""
    deadline = time.monotonic() + timeout_s
    while True:
        top = set(children(server.proc.pid))  # the zygote (or, without one, fresh instance processes)
        forks = {pid for pid in top if "homeport.engines.zygote" in command_line(pid)}
        new = [pid for pid in descendants(server.proc.pid) if pid not in forks and pid not in known]
        if len(new) == 1:
            return new[0]
        if time.monotonic() > deadline:
            raise RuntimeError(f"expected one new instance process, found {new}")
        time.sleep(0.05)


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(p) for p in f.read().split()]
    return found


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def sign(b: Bench, endpoint: str, target: str | None) -> dict[str, str]:
    """SigV4 headers for one InvokeEndpoint (TargetModel among the signed headers), valid for the server's
    15-minute skew window: made afresh before each phase."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    headers = {"Content-Type": "text/csv"}
    if target is not None:
        headers["X-Amzn-SageMaker-Target-Model"] = target
    request = AWSRequest("POST", f"{b.server.url}{b.path(endpoint)}", data=b.body, headers=headers)
    credentials = Credentials(b.server.access_key_id, b.server.secret_access_key)
    SigV4Auth(credentials, "sagemaker", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def raw_request(b: Bench, endpoint: str, target: str | None) -> bytes:
    headers = sign(b, endpoint, target)
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head = f"POST {b.path(endpoint)} HTTP/1.1\r\nHost: {b.host}\r\n{lines}Content-Length: {len(b.body)}\r\n\r\n"
    return head.encode() + b.body


def check(model: Model, status: int, text: str) -> None:
    if status != 200:
        raise RuntimeError(f"{model.key}: homeport answered {status}: {text[:300]}")
    got = float(text.strip())
    if abs(got - model.expected) > RTOL * max(1.0, abs(model.expected)):
        raise RuntimeError(f"{model.key}: homeport predicted {got}, its booster {model.expected}")


class Caller:
    """Sequential InvokeEndpoints on one keep-alive connection, each timed from send to the last byte read."""

    def __init__(self, b: Bench) -> None:
        self.b = b
        self.conn = http.client.HTTPConnection(b.host, timeout=120)

    def __call__(self, endpoint: str, index: int | None) -> tuple[float, int, str]:
        target = None if index is None else self.b.models[index].key
        headers = sign(self.b, endpoint, target)
        if index is not None:
            self.b.history.append(index)
        t0 = time.perf_counter()
        self.conn.request("POST", self.b.path(endpoint), self.b.body, headers)
        reply = self.conn.getresponse()
        text = reply.read().decode()
        elapsed = time.perf_counter() - t0
        return elapsed, reply.status, text

    def close(self) -> None:
        self.conn.close()


# --------------------------------------------------------------------------------------------------------
# CloudWatch: the server's own count of cache hits, load times
# --------------------------------------------------------------------------------------------------------


def cache_totals(b: Bench, timeout_s: float = 10.0) -> dict[str, dict[str, float]]:
    """Each cache metric's Sum and SampleCount since the server started, once ModelCacheHit has counted every
    request the MME was sent (each has had its reply by now; the period's flush is at most a second behind), or
    `timeout_s` passed."""
    wait_for = len(b.history)
    deadline = time.monotonic() + timeout_s
    while True:
        totals = {name: metric_total(b, name) for name in CACHE_METRICS}
        counted = totals["ModelCacheHit"]["SampleCount"]
        if counted >= wait_for or time.monotonic() > deadline:
            totals["_expected"] = {"SampleCount": float(wait_for)}
            return totals
        time.sleep(0.25)


def metric_total(b: Bench, name: str, namespace: str = "AWS/SageMaker", statistic: str = "Sum") -> dict[str, float]:
    dims = [{"Name": "EndpointName", "Value": MME}, {"Name": "VariantName", "Value": VARIANT}]
    points = b.cw.get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=dims,
        StartTime=b.started - timedelta(minutes=1),
        EndTime=datetime.now(UTC) + timedelta(minutes=5),
        Period=3600,
        Statistics=[statistic, "SampleCount"],
    )["Datapoints"]
    if statistic == "Maximum":
        return {"Maximum": max((p["Maximum"] for p in points), default=0.0)}
    return {k: sum(p[k] for p in points) for k in (statistic, "SampleCount")}


def delta(after: dict[str, dict[str, float]], before: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The window's cache figures: hit ratio, and the mean of each time metric (ms) over the loads in it."""
    d = {k: {s: after[k][s] - before[k][s] for s in ("Sum", "SampleCount")} for k in CACHE_METRICS}
    hits = d["ModelCacheHit"]
    out: dict[str, Any] = {
        "requests_metered": hits["SampleCount"],
        "hits": hits["Sum"],
        "hit_ratio": hits["Sum"] / hits["SampleCount"] if hits["SampleCount"] else None,
        "complete": after["ModelCacheHit"]["SampleCount"] >= after["_expected"]["SampleCount"],
    }
    for k in CACHE_METRICS[1:]:
        n = d[k]["SampleCount"]
        out[f"{k}_ms"] = d[k]["Sum"] / n / 1e3 if n else None
        out[f"{k}_n"] = n
    return out


def lru_hits(b: Bench, start: int, end: int) -> tuple[int, int]:
    """An exact LRU (by bytes, as the container counts them) over every request the MME was sent, in order:
    (hits, requests) for history[start:end]."""
    budget = int(b.budget_mb * 1024 * 1024)
    loaded: OrderedDict[int, None] = OrderedDict()
    used = hits = 0
    for n, i in enumerate(b.history[:end]):
        hit = i in loaded
        if hit:
            loaded.move_to_end(i)
        else:
            size = b.models[i].size
            while loaded and used + size > budget:
                used -= b.models[loaded.popitem(last=False)[0]].size
            loaded[i] = None
            used += size
        if n >= start:
            hits += hit
    return hits, end - start


def lru_holds(b: Bench) -> set[int]:
    budget = int(b.budget_mb * 1024 * 1024)
    loaded: OrderedDict[int, None] = OrderedDict()
    used = 0
    for i in b.history:
        if i in loaded:
            loaded.move_to_end(i)
            continue
        while loaded and used + b.models[i].size > budget:
            used -= b.models[loaded.popitem(last=False)[0]].size
        loaded[i] = None
        used += b.models[i].size
    return set(loaded)


# --------------------------------------------------------------------------------------------------------
# Load generation
# --------------------------------------------------------------------------------------------------------


class Mix:
    """The requests to send, in order: each connection takes the next when its last reply is in."""

    def __init__(self, requests: list[bytes], sequence: np.ndarray, history: list[int] | None) -> None:
        self.requests = requests
        self.sequence = sequence.tolist()
        self.pos = 0
        self.history = history  # model indices sent, for the LRU simulation (the MME's mix only)

    def next(self) -> bytes:
        i = self.sequence[self.pos % len(self.sequence)]
        self.pos += 1
        if self.history is not None:
            self.history.append(i)
        return self.requests[i]


async def mixed_load(host: str, mix: Mix, connections: int, seconds: float) -> dict[str, Any]:
    """`connections` keep-alive connections, each sending the mix's next request when the last reply is in."""
    run = await closed_loop(host, mix.next, connections, seconds)
    latencies, n = run.latencies_ns, len(run.latencies_ns)
    return {
        "rps": n / run.elapsed_s,
        "p50_ms": latencies[n // 2] / 1e6,
        "p99_ms": latencies[int(n * 0.99)] / 1e6,
        "mean_ms": statistics.fmean(latencies) / 1e6,
        "requests": n,
        "errors": n - run.statuses[200],
        "failures": run.failures,
    }


def run_load(b: Bench, mix: Mix, connections: int, seconds: float) -> dict[str, Any]:
    try:
        import uvloop

        runner: Callable[..., Any] = uvloop.run
    except ImportError:
        runner = asyncio.run
    return runner(mixed_load(b.host, mix, connections, seconds))  # type: ignore[no-any-return]


def cpu_now(b: Bench) -> dict[str, float]:
    found = {role: process_cpu_s(pid)[0] for role, pid in b.pids.items()}
    t = os.times()
    found["client"] = t.user + t.system
    found["machine"] = machine_cpu()["busy"]  # (not counted in `ours`: see measure_level)
    return found


# --------------------------------------------------------------------------------------------------------
# The phases
# --------------------------------------------------------------------------------------------------------


def first_requests(b: Bench, indices: list[int], label: str) -> dict[str, Any]:
    """One never-requested (or long-unloaded) model after another: its first request (load included), then its
    second (a hit), each checked against its booster; the server's download / load times for the phase."""
    before = cache_totals(b)
    caller = Caller(b)
    first, second = [], []
    try:
        for i in indices:
            elapsed, status, text = caller(MME, i)
            check(b.models[i], status, text)
            first.append(elapsed)
            elapsed, status, text = caller(MME, i)
            check(b.models[i], status, text)
            second.append(elapsed)
    finally:
        caller.close()
    server = delta(cache_totals(b), before)
    say(
        f"  {label}: first request p50 {1e3 * statistics.median(first):.2f} ms, "
        f"second {1e3 * statistics.median(second):.2f} ms (server: download "
        f"{server['ModelDownloadingTime_ms'] or 0:.2f} ms, load {server['ModelLoadingTime_ms'] or 0:.2f} ms)"
    )
    return {
        "models": [b.models[i].key for i in indices],
        "first_ms": [round(1e3 * t, 3) for t in first],
        "second_ms": [round(1e3 * t, 3) for t in second],
        "first_p50_ms": 1e3 * statistics.median(first),
        "first_max_ms": 1e3 * max(first),
        "second_p50_ms": 1e3 * statistics.median(second),
        "server": server,
    }


def sweep(b: Bench, indices: list[int]) -> dict[str, Any]:
    """One request to each model (fills the cache, puts every model's files on disk), each reply checked."""
    caller = Caller(b)
    times = []
    try:
        for i in indices:
            elapsed, status, text = caller(MME, i)
            check(b.models[i], status, text)
            times.append(elapsed)
    finally:
        caller.close()
    times.sort()
    return {"requests": len(times), "p50_ms": 1e3 * times[len(times) // 2], "total_s": sum(times)}


def measure_level(b: Bench, key: str, level: int, mix: Mix) -> dict[str, Any]:
    """Warm-up, then the measured window; for the MME, the server's cache counts over the window alone."""
    args = b.args
    run_load(b, mix, level, args.warmup)
    mme = key != "single"
    if mme:
        before = cache_totals(b)
    start = len(b.history)
    cpu0, wall0 = cpu_now(b), time.perf_counter()
    run = run_load(b, mix, level, args.duration)
    cpu1, wall1 = cpu_now(b), time.perf_counter()
    if run["errors"]:
        say(f"  {key} c={level}: {run['errors']} errors, e.g. {run['failures'][:2]}")
    n = max(run["requests"], 1)
    run["cpu_us_per_request"] = {k: round(1e6 * (cpu1[k] - cpu0[k]) / n, 1) for k in cpu0 if k != "machine"}
    run["client_busy"] = round((cpu1["client"] - cpu0["client"]) / (wall1 - wall0), 3)
    ours = sum(cpu1[k] - cpu0[k] for k in cpu0 if k != "machine")
    run["others_busy"] = round((cpu1["machine"] - cpu0["machine"] - ours) / (wall1 - wall0), 3)
    if mme:
        run["server"] = delta(cache_totals(b), before)
        hits, total = lru_hits(b, start, len(b.history))
        run["lru_hit_ratio"] = hits / total if total else None
        run["loads_per_request"] = run["server"]["ModelLoadingTime_n"] / n
    return run


ROWS = {
    "single": "single-model",
    "hot": "multi-model, hits only",
    "mme": "multi-model, Zipf",
}


def steady_state(b: Bench, sequence: np.ndarray, ranked: np.ndarray) -> dict[str, Any]:
    """Every row at a level, then the next level; the rows' order turns round by round."""
    args = b.args
    n = args.models
    hot_set = ranked[: max(1, args.hold // 2)]  # half the budget's worth of the most popular: never unloaded
    hot_sequence = hot_set[np.random.default_rng(args.seed + 2).integers(0, len(hot_set), 100_000)]
    mixes = {
        "single": Mix([raw_request(b, SINGLE, None)], np.zeros(1, dtype=np.int32), None),
        "hot": Mix([], hot_sequence.astype(np.int32), b.history),
        "mme": Mix([], sequence, b.history),
    }
    say(f"  warm-up: {args.initial_warmup:g} s of the Zipf mix at c=16")
    runs: dict[str, list[dict[str, Any]]] = {}
    for round_ in range(args.rounds):
        # SigV4's 15-minute window: signed again each round
        mme_requests = [raw_request(b, MME, m.key) for m in b.models[:n]]
        mixes["hot"].requests = mixes["mme"].requests = mme_requests
        mixes["single"].requests = [raw_request(b, SINGLE, None)]
        if round_ == 0:
            run_load(b, mixes["mme"], 16, args.initial_warmup)
            order = list(mixes)
        turn = round_ % len(order)
        order = order[turn:] + order[:turn]
        for level in args.levels:
            for key in order:
                run = measure_level(b, key, level, mixes[key])
                runs.setdefault(f"{key}_c{level}", []).append(run)
                extra = ""
                if key != "single":
                    server = run["server"]
                    extra = (
                        f", hit ratio {fmt(server['hit_ratio'], '.3f')} (LRU sim {fmt(run['lru_hit_ratio'], '.3f')}), "
                        f"loads/request {run['loads_per_request']:.3f}"
                    )
                say(
                    f"  {round_ + 1}/{args.rounds} {key:<6} c={level:<2} {run['rps']:>7,.0f} rps  "
                    f"p50 {run['p50_ms']:.2f} ms  p99 {run['p99_ms']:.2f} ms{extra}"
                )
    if args.profile:
        b.profile = profile(b, mixes, args.profile)
    return runs


def profile(b: Bench, mixes: dict[str, Mix], seconds: int) -> dict[str, Any]:
    """py-spy record on homeport and the multi-model instance during `seconds` of each multi-model mix at c=16:
    the raw profiles go to bench/results/, the top frames (own samples, and homeport's functions inclusive) to
    the JSON."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        say("py-spy is not installed (pip install py-spy): no profile")
        return {}
    RESULTS.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {}
    for key in ("hot", "mme"):
        procs = {}
        for role in ("homeport", "mme"):
            out = RESULTS / f"profile-mme-{key}-{role}.txt"
            cmd = [spy, "record", "--pid", str(b.pids[role]), "--duration", str(seconds), "--rate", "250"]
            cmd += ["--nonblocking", "--format", "raw", "--output", str(out)]
            if can_pin():
                cmd = ["taskset", "-c", str(LOADGEN_CORE), *cmd]
            procs[role] = (subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out)
        time.sleep(0.5)
        run = run_load(b, mixes[key], 16, seconds + 1)
        say(f"  profiled {key} at c=16: {run['rps']:,.0f} rps")
        for role, (proc, out) in procs.items():
            proc.wait(60)
            if out.exists():
                report[f"{key}-{role}"] = top_frames(out)
    return report


def top_frames(path: Path, n: int = 25) -> dict[str, Any]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            if "homeport" in frame:
                inclusive[frame] += int(count)
    pct = lambda c: [(f, round(100 * k / max(total, 1), 1)) for f, k in c.most_common(n)]  # noqa: E731
    return {"samples": total, "file": str(path), "top_own": pct(own), "top_homeport_inclusive": pct(inclusive)}


def summarize(runs: dict[str, list[dict[str, Any]]], levels: list[int]) -> dict[str, Any]:
    def med(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return statistics.median(present) if present else None

    out: dict[str, Any] = {}
    for name, rs in runs.items():
        keys = ("rps", "p50_ms", "p99_ms", "client_busy", "others_busy")
        row: dict[str, Any] = {k: med([r[k] for r in rs]) for k in keys}
        row["others_busy_max"] = max(r["others_busy"] for r in rs)
        row["errors"] = sum(r["errors"] for r in rs)
        row["requests"] = sum(r["requests"] for r in rs)
        cpu = [r["cpu_us_per_request"] for r in rs]
        row["cpu_us_per_request"] = {k: med([c[k] for c in cpu]) for k in cpu[0]}
        if "server" in rs[0]:
            row["hit_ratio"] = med([r["server"]["hit_ratio"] for r in rs])
            row["lru_hit_ratio"] = med([r["lru_hit_ratio"] for r in rs])
            row["loads_per_request"] = med([r["loads_per_request"] for r in rs])
            for k in CACHE_METRICS[1:]:
                row[f"{k}_ms"] = med([r["server"][f"{k}_ms"] for r in rs])
            row["server_counts_complete"] = all(r["server"]["complete"] for r in rs)
        out[name] = row
    for level in levels:
        # Each round's ratio (the rows ran back to back in it), then the median.
        for key in ("mme", "hot"):
            pairs = zip(runs[f"{key}_c{level}"], runs[f"single_c{level}"], strict=True)
            out[f"{key}_c{level}"]["ratio"] = statistics.median(m["rps"] / s["rps"] for m, s in pairs)
    return out


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from homeport.server.process import ServerProcess

    began = time.perf_counter()
    os.environ["OMP_NUM_THREADS"] = "1"
    work = Path(tempfile.mkdtemp(prefix="homeport-mme-", dir=args.tmp))
    rng = np.random.default_rng(args.seed)
    row = np.round(rng.normal(size=(1, args.features)), 6)
    body = ",".join(repr(float(v)) for v in row.ravel()).encode()
    say(
        f"training {args.models} + {args.first + 1} models "
        f"({args.features} features, {args.trees} trees, depth {args.depth})"
    )
    models = build_models(args, work, row)
    sizes = [m.size for m in models[: args.models]]
    budget_mb = args.hold * statistics.fmean(sizes) / 2**20
    trained_s = time.perf_counter() - began
    say(f"  {trained_s:.1f} s; unpacked {statistics.fmean(sizes) / 1e3:.1f} kB each; budget {budget_mb:.4f} MB")
    if can_pin():
        os.sched_setaffinity(0, {LOADGEN_CORE})
    with pinned({SERVER_CORE}):
        server = ServerProcess(work / "data", env=SERVER_ENV).start()
    try:
        sm, s3, cw = clients(server)
        b = Bench(args, server, sm, s3, cw, models, body, budget_mb, datetime.now(UTC))
        s3.create_bucket(Bucket=BUCKET)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda m: s3.put_object(Bucket=BUCKET, Key=PREFIX + m.key, Body=m.archive), models))
        upload_s = time.perf_counter() - t0
        say(f"  uploaded {len(models)} archives in {upload_s:.1f} s")
        hot = int(zipf_sequence(args.models, args.zipf, 1, args.seed)[1][0])  # the rank-1 model
        deploy(b, SINGLE, {"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/{PREFIX}{models[hot].key}"})
        b.pids["single"] = instance_pid(server, set())
        env = {"HOMEPORT_MODEL_CACHE_MB": f"{budget_mb:.6f}"}
        mme = {"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/{PREFIX}", "Mode": "MultiModel", "Environment": env}
        deploy(b, MME, mme)
        b.pids["mme"] = instance_pid(server, {b.pids["single"]})
        b.pids["homeport"] = server.proc.pid
        for role in ("single", "mme"):
            if "homeport.runtime" not in command_line(b.pids[role]):
                # Seen when PATH is the first environment variable: xgboost's import rewrites it, and setproctitle
                # in the zygote's child then cannot find argv's memory.
                say(f"  the {role} instance {b.pids[role]} has not set its title: {command_line(b.pids[role])!r}")
        caller = Caller(b)
        _, status, text = caller(SINGLE, None)
        check(models[hot], status, text)
        caller.close()
        setup_s = time.perf_counter() - began

        sequence, ranked = zipf_sequence(args.models, args.zipf, args.sequence, args.seed + 1)
        extras = list(range(args.models, len(models)))
        cold_tail = [int(i) for i in ranked[-args.first :]]  # the least requested ranks of the mix
        results: dict[str, Any] = {"first": {}}

        say("first requests, cache empty (no unload needed)")
        floor_a = load_floor([models[i] for i in cold_tail], row, args.floor_reps)
        caller = Caller(b)
        prime, status, text = caller(MME, extras[0])  # the instance's first load of all: for information
        caller.close()
        check(models[extras[0]], status, text)
        results["first"]["prime_ms"] = 1e3 * prime
        results["first"]["room"] = first_requests(b, cold_tail, "cache has room")
        results["first"]["room"]["floor"] = floor_a

        say(f"sweep: one request to each of the {args.models} models, each checked")
        rest = [i for i in range(args.models) if i not in set(cold_tail)]
        random.Random(args.seed).shuffle(rest)
        results["sweep"] = sweep(b, rest)
        say(f"  p50 {results['sweep']['p50_ms']:.2f} ms, {results['sweep']['total_s']:.1f} s in all")

        say("steady state")
        runs = steady_state(b, sequence, ranked)
        results["steady"] = summarize(runs, args.levels)
        results["steady_rounds"] = runs
        results["profile"] = b.profile

        say("first requests, cache full (each load unloads the least recently used model)")
        fresh = extras[1:]
        floor_b = load_floor([models[i] for i in fresh], row, args.floor_reps)
        results["first"]["full"] = first_requests(b, fresh, "cache full")
        results["first"]["full"]["floor"] = floor_b
        evicted = [i for i in cold_tail if i not in lru_holds(b)]
        results["first"]["reload"] = first_requests(b, evicted, "unloaded earlier, files on disk, cache full")
        results["first"]["reload"]["floor"] = load_floor([models[i] for i in evicted], row, args.floor_reps)
        loaded = metric_total(b, "LoadedModelCount", "/aws/sagemaker/Endpoints", "Maximum")
        results["loaded_model_count_max"] = loaded["Maximum"]
        results["affinity"] = {role: affinity(pid) for role, pid in b.pids.items()} | {"bench": affinity(0)}
        results["command_lines"] = {role: command_line(pid) for role, pid in b.pids.items()}
    finally:
        server.stop()
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    floor_ms = {p: results["first"][p]["floor"]["load_predict_ms"] for p in ("room", "full", "reload")}
    results["first_ratios"] = {p: results["first"][p]["first_p50_ms"] / floor_ms[p] for p in floor_ms}
    results["config"] = {
        "models": args.models,
        "hold": args.hold,
        "zipf_s": args.zipf,
        "features": args.features,
        "trees": args.trees,
        "depth": args.depth,
        "unpacked_bytes_mean": statistics.fmean(sizes),
        "unpacked_bytes_min_max": [min(sizes), max(sizes)],
        "archive_bytes_mean": statistics.fmean(len(m.archive) for m in models),
        "budget_mb": budget_mb,
        "rounds": args.rounds,
        "levels": args.levels,
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "first": args.first,
        "pinned": can_pin(),
        "zipf_top_share": zipf_share(args.models, args.zipf, args.hold),
        "body": body.decode(),
    }
    results["timings_s"] = {"train": trained_s, "upload": upload_s, "setup": setup_s}
    results["elapsed_s"] = time.perf_counter() - began
    results["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "versions": versions()}
    return results


def zipf_share(n: int, s: float, top: int) -> float:
    """The share of requests that go to the `top` most popular models: the hit ratio of a perfect cache of `top`."""
    weights = 1.0 / np.arange(1, n + 1) ** s
    return float(weights[:top].sum() / weights.sum())


def versions() -> dict[str, str]:
    from importlib.metadata import version

    found = {}
    for name in ("homeport", "xgboost", "numpy", "boto3"):
        with contextlib.suppress(Exception):
            found[name] = version(name)
    return found


# --------------------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------------------


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(r: dict[str, Any]) -> str:
    c = r["config"]
    s = r["steady"]
    lines = [
        f"{c['models']:,} XGBoost models ({c['features']} features, {c['trees']} trees of depth {c['depth']}; "
        f"{c['unpacked_bytes_mean'] / 1e3:.1f} kB unpacked), HOMEPORT_MODEL_CACHE_MB {c['budget_mb']:.3f} "
        f"(= {c['hold']} models), Zipf s={c['zipf_s']:g}",
        "",
        f"steady state: medians of {c['rounds']} interleaved rounds, {c['warmup_s']:g} s warm-up + "
        f"{c['duration_s']:g} s measured each",
        f"{'':<28} {'rps':>7} {'÷ single':>8} {'p50 ms':>7} {'p99 ms':>7} {'hit ratio':>9} {'LRU sim':>7} "
        f"{'loads/req':>9} {'µs CPU/req':>16}",
        f"{'':<28} {'':>7} {'':>8} {'':>7} {'':>7} {'(server)':>9} {'':>7} {'':>9} {'front/instance':>16}",
    ]
    for level in c["levels"]:
        for key, name in ROWS.items():
            row = s[f"{key}_c{level}"]
            cpu = row["cpu_us_per_request"]
            lines.append(
                f"{name + f' c={level}':<28} {row['rps']:>7,.0f} {fmt(row.get('ratio'), '.2f'):>8} "
                f"{row['p50_ms']:>7.2f} {row['p99_ms']:>7.2f} {fmt(row.get('hit_ratio'), '.3f'):>9} "
                f"{fmt(row.get('lru_hit_ratio'), '.3f'):>7} {fmt(row.get('loads_per_request'), '.3f'):>9} "
                f"{cpu['homeport']:>7,.0f}/{cpu['single' if key == 'single' else 'mme']:<8,.0f}"
            )
    lines.append("multi-model, Zipf: the server's means per load (ModelDownloadingTime, ModelLoadingTime,")
    lines.append("ModelUnloadingTime) and per request that waited for one (ModelLoadingWaitTime), ms:")
    for level in c["levels"]:
        m = s[f"mme_c{level}"]
        lines.append(
            f"  c={level:<3} download {fmt(m['ModelDownloadingTime_ms'], '.2f')}, load "
            f"{fmt(m['ModelLoadingTime_ms'], '.2f')}, unload {fmt(m['ModelUnloadingTime_ms'], '.2f')}, "
            f"wait {fmt(m['ModelLoadingWaitTime_ms'], '.2f')}"
        )
    rows = [s[f"{k}_c{v}"] for k in ROWS for v in c["levels"]]
    lines.append(
        f"a perfect cache of the {c['hold']} most popular models would hit {c['zipf_top_share']:.3f}; "
        f"errors: {sum(row['errors'] for row in rows)}; client core busy at most "
        f"{max(row['client_busy'] for row in rows):.0%}; other processes' CPU at most "
        f"{max(row['others_busy_max'] for row in rows):.0%} of a core"
    )
    f = r["first"]
    lines += [
        "",
        f"first request (load included), {c['first']} models each: p50 ms, and ÷ in-process load + predict p50",
        f"{'':<48} {'p50 ms':>8} {'max ms':>8} {'floor ms':>9} {'÷ floor':>8} {'2nd req':>8}"
        "  server: download / load ms",
    ]
    labels = {
        "room": "never requested, cache has room",
        "full": "never requested, cache full (unloads LRU)",
        "reload": "unloaded earlier, files on disk, cache full",
    }
    for key, label in labels.items():
        p = f[key]
        server = p["server"]
        lines.append(
            f"{label:<48} {p['first_p50_ms']:>8.2f} {p['first_max_ms']:>8.2f} "
            f"{p['floor']['load_predict_ms']:>9.3f} {r['first_ratios'][key]:>8.1f} {p['second_p50_ms']:>8.2f}  "
            f"{fmt(server['ModelDownloadingTime_ms'], '.2f')} / {fmt(server['ModelLoadingTime_ms'], '.2f')}"
        )
    lines += [
        f"(floor: Booster().load_model(file) + one inplace_predict in this process on core {SERVER_CORE}, each model's "
        f"median of {r['floor_reps']}; with unpacking the .tar.gz first: "
        f"{f['room']['floor']['unpack_load_predict_ms']:.3f} ms)",
        f"(the instance's very first load: {f['prime_ms']:.1f} ms; the sweep's {r['sweep']['requests']} first "
        f"requests: p50 {r['sweep']['p50_ms']:.2f} ms; LoadedModelCount max {r['loaded_model_count_max']:g})",
        f"(setup {r['timings_s']['setup']:.0f} s: training {r['timings_s']['train']:.0f} s, upload "
        f"{r['timings_s']['upload']:.1f} s; whole run {r['elapsed_s']:.0f} s)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000, help="models in the Zipf mix (1000)")
    parser.add_argument("--hold", type=int, default=100, help="models the memory budget holds (100)")
    parser.add_argument("--zipf", type=float, default=1.1, help="the Zipf exponent s (1.1)")
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--trees", type=int, default=20)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--rows", type=int, default=256, help="training rows per model")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--levels", type=lambda v: [int(x) for x in v.split(",")], default=[1, 16])
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each measured window")
    parser.add_argument("--initial-warmup", type=float, default=6.0, help="seconds of the mix before round 1")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per endpoint and level")
    parser.add_argument("--first", type=int, default=20, help="models timed on their first request, per phase")
    parser.add_argument("--floor-reps", type=int, default=5)
    parser.add_argument("--sequence", type=int, default=2_000_000, help="length of the Zipf sequence (it wraps)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", type=int, default=0, metavar="S", help="py-spy each multi-model mix S s at c=16")
    parser.add_argument("--quick", action="store_true", help="200 models holding 20, one round of 2 s")
    parser.add_argument("--tmp", default=None, help="directory for the work directory (default $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (models, server data)")
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.hold, args.rounds, args.duration, args.warmup = 200, 20, 1, 2.0, 1.0
        args.initial_warmup, args.first = 2.0, 10
    results = measure(args)
    results["floor_reps"] = args.floor_reps
    write_results("multi_model", results)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
