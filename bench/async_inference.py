#!/usr/bin/env python3
"""Asynchronous inference (InvokeEndpointAsync) through homeport, beside the real-time path, in one run.

    .venv/bin/python bench/async_inference.py              # 1,000-request bursts x3, a 1 GiB input; ~1.5 minutes
    .venv/bin/python bench/async_inference.py --quick      # 200 requests, one run, a 64 MiB input; ~20 s
    .venv/bin/python bench/async_inference.py --notify     # results seen through the notification webhook

Parts (see bench/README.md), all against one real `homeport serve` driven with boto3:

1. Burst: N one-row Abalone CSV inputs, uploaded beforehand to the embedded S3 store, sent with
   `invoke_endpoint_async` from T client threads; time to accept (the call's latency), time to result (the result
   object's LastModified, stamped by the server when it wrote it, minus the moment the request was sent) and the
   throughput (N / first send to last result).
2. Its floor: the same rows through `invoke_endpoint` on a real-time endpoint of the same model (same instance
   count, same threads, same server core), interleaved run by run; the ratio of the throughputs.
3. A large input (~1 GiB of Abalone rows, `--large-mb`) through the async endpoint: time to result and the peak
   VmRSS of the `homeport serve` process (not its instances), sampled every 50 ms, against the input's size.
4. Cold start: the async endpoint scaled to zero instances (UpdateEndpointWeightsAndCapacities), then one request:
   send to result object, 3 times.

The bench process and its client threads run on core 0, homeport and its instances on core 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
from invoke import (
    IMAGE,
    LOADGEN_CORE,
    ROLE,
    SERVER_ENV,
    add_cores_option,
    affinity,
    can_pin,
    load_example,
    pinned,
)
from s3_transfer import cpu_s

from batch import rss_kb, say, stderr_to, verdict, write_results  # bench/ is on sys.path: this file runs beside them

MiB = 1024 * 1024
BUCKET = "bench-async"
OUT_PREFIX = "out/"
MODEL = "bench-async-model"
ASYNC_ENDPOINT, REALTIME_ENDPOINT = "bench-async", "bench-realtime"
VARIANT = "AllTraffic"
SAMPLE_S = 0.05  # the server's VmRSS, during the large input
TARGET_THROUGHPUT = 0.5  # async throughput / real-time throughput >= 0.5
TARGET_COLD_S = 2.0  # send -> result object from zero instances < 2 s
TARGET_RSS_ABOVE_IDLE_MB = 200.0  # for information: the S3 face's target for a body streamed through the server
LARGE_TIMEOUT_S = 900.0
COLD_TIMEOUT_S = 30.0


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by the nearest rank; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# --------------------------------------------------------------------------------------------------------
# The model and the data
# --------------------------------------------------------------------------------------------------------


@dataclass
class Data:
    tarball: Path
    rows: list[bytes]  # the test rows as CSV lines, no line end
    expected: np.ndarray  # the in-process prediction of each


def build(workdir: Path) -> Data:
    """The worked example's Abalone model (one-hot Sex: 10 features, 50 trees, depth 5) and its test rows."""
    example = load_example()
    splits = example.prepare()
    booster, _ = example.train(splits)
    booster.set_param({"nthread": 1})
    tarball = example.package_model(booster, workdir)
    text = example.to_csv_body(splits.test.drop(columns=[example.LABEL]))
    rows = [line.encode() for line in text.splitlines() if line.strip()]
    parsed = np.array([[float(v) for v in row.split(b",")] for row in rows], dtype=np.float64)
    expected = np.asarray(booster.inplace_predict(parsed, validate_features=False), dtype=np.float64).ravel()
    return Data(tarball, rows, expected)


def close(got: float, want: float) -> bool:
    return abs(got - want) <= 1e-4 * max(1.0, abs(want))


# --------------------------------------------------------------------------------------------------------
# homeport
# --------------------------------------------------------------------------------------------------------


@dataclass
class Clients:
    sm: Any
    rt: Any
    s3: Any


def clients(server: Any, threads: int) -> Clients:
    import boto3
    from botocore.config import Config

    common: dict[str, Any] = {
        "endpoint_url": server.url,
        "region_name": "us-east-1",
        "aws_access_key_id": server.access_key_id,
        "aws_secret_access_key": server.secret_access_key,
    }
    pool = max(10, threads + 4)
    control = Config(retries={"max_attempts": 3, "mode": "standard"}, read_timeout=300, max_pool_connections=pool)
    # No retries on the runtime: a refused or failed call is counted, not hidden.
    runtime = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=900, max_pool_connections=pool)
    return Clients(
        boto3.client("sagemaker", config=control, **common),
        boto3.client("sagemaker-runtime", config=runtime, **common),
        boto3.client("s3", config=control, **common),
    )


def error_text(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response["Error"]
        return f"{err.get('Code', '?')}: {err.get('Message', '')}"
    return f"{type(exc).__name__}: {exc}"


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


class Cpu:
    """CPU seconds spent over a block by the server process and by its (live) instances, apart."""

    def __init__(self, b: Bench) -> None:
        self.b = b
        self.server_s = self.instances_s = 0.0

    def _now(self) -> tuple[float, dict[int, float]]:
        return cpu_s(self.b.pid), {p: cpu_s(p) for p in self.b.server.instance_pids()}

    def start(self) -> Cpu:
        self._server0, self._inst0 = self._now()
        return self

    def stop(self) -> None:
        server, inst = self._now()
        self.server_s = server - self._server0
        self.instances_s = sum(v - self._inst0.get(p, 0.0) for p, v in inst.items())

    def __enter__(self) -> Cpu:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def vm_hwm_kb(pid: int) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        return next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), 0)
    return 0


class Rss:
    """VmRSS of the server process alone (and, for information, of its instances summed), every 50 ms."""

    def __init__(self, pid: int, instances: Callable[[], list[int]]) -> None:
        self.pid = pid
        self.instances = instances
        self.peak_kb = 0
        self.instances_peak_kb = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        tick = 0
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, rss_kb(self.pid))
            if tick % 4 == 0:  # walking /proc for the instances costs more: every 200 ms
                self.instances_peak_kb = max(self.instances_peak_kb, sum(rss_kb(p) for p in self.instances()))
            self.samples += 1
            tick += 1
            self._stop.wait(SAMPLE_S)

    def __enter__(self) -> Rss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


class Webhook:
    """The notification target (`--notify`): records when each message arrives, by InferenceId."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.messages: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                now = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    message = json.loads(body)
                    if isinstance(message.get("Message"), str):  # an SNS envelope around the message
                        message = json.loads(message["Message"])
                except (ValueError, AttributeError):
                    message = {"unparsed": body[:500].decode("utf-8", "replace")}
                with hook.lock:
                    hook.messages.append({"path": self.path, "at": now, **message})
                    if isinstance(message, dict) and message.get("inferenceId"):
                        hook.arrived.setdefault(str(message["inferenceId"]), now)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self, ids: set[str]) -> int:
        with self.lock:
            return sum(1 for i in ids if i in self.arrived)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Bench:
    args: argparse.Namespace
    work: Path
    data: Data
    server: Any
    c: Clients
    hook: Webhook | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return int(self.server.proc.pid)


def deploy(b: Bench) -> dict[str, Any]:
    """The model (in the S3 face), a real-time endpoint and an async endpoint of it, both InService."""
    sm, s3, args = b.c.sm, b.c.s3, b.args
    s3.create_bucket(Bucket=BUCKET)
    s3.upload_file(str(b.data.tarball), BUCKET, "model/model.tar.gz")
    env = {}
    if args.container_max_mb:  # the XGBoost container's body limit (6 MB by default, InvokeEndpoint's)
        env["MAX_CONTENT_LENGTH"] = str(args.container_max_mb * MiB)
    sm.create_model(
        ModelName=MODEL,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/model/model.tar.gz", "Environment": env},
    )
    variant = {
        "VariantName": VARIANT,
        "ModelName": MODEL,
        "InitialInstanceCount": args.instances,
        "InstanceType": "ml.m5.large",
        "InitialVariantWeight": 1.0,
    }
    sm.create_endpoint_config(EndpointConfigName=f"{REALTIME_ENDPOINT}-config", ProductionVariants=[variant])
    output: dict[str, Any] = {"S3OutputPath": f"s3://{BUCKET}/{OUT_PREFIX.rstrip('/')}"}
    client = {"MaxConcurrentInvocationsPerInstance": args.per_instance}
    notify: dict[str, Any] = {"asked": bool(b.hook), "used": False}
    config_name = f"{ASYNC_ENDPOINT}-config"
    if b.hook is not None:
        topics = {"SuccessTopic": f"{b.hook.url}/success", "ErrorTopic": f"{b.hook.url}/error"}
        try:
            sm.create_endpoint_config(
                EndpointConfigName=config_name,
                ProductionVariants=[variant],
                AsyncInferenceConfig={"OutputConfig": {**output, "NotificationConfig": topics}, "ClientConfig": client},
            )
            notify["used"] = True
        except Exception as exc:  # refused by this build: poll S3 instead, and say so
            notify["refused"] = error_text(exc)
            b.notes.append(f"--notify: NotificationConfig refused ({error_text(exc)}); results found by polling S3")
            b.hook.stop()
            b.hook = None
    if not notify["used"]:
        sm.create_endpoint_config(
            EndpointConfigName=config_name,
            ProductionVariants=[variant],
            AsyncInferenceConfig={"OutputConfig": output, "ClientConfig": client},
        )
    sm.create_endpoint(EndpointName=REALTIME_ENDPOINT, EndpointConfigName=f"{REALTIME_ENDPOINT}-config")
    sm.create_endpoint(EndpointName=ASYNC_ENDPOINT, EndpointConfigName=config_name)
    for name in (REALTIME_ENDPOINT, ASYNC_ENDPOINT):
        sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})
    return notify


# --------------------------------------------------------------------------------------------------------
# Part 1 and 2: the burst, and the real-time floor
# --------------------------------------------------------------------------------------------------------


def upload_inputs(b: Bench, n: int) -> list[str]:
    """One object per request (test rows in turn); their s3:// URIs."""
    from concurrent.futures import ThreadPoolExecutor

    keys = [f"in/row-{i:05d}.csv" for i in range(n)]

    def put(i: int) -> None:
        b.c.s3.put_object(
            Bucket=BUCKET, Key=keys[i], Body=b.data.rows[i % len(b.data.rows)] + b"\n", ContentType="text/csv"
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(n)))
    return [f"s3://{BUCKET}/{k}" for k in keys]


def run_threads(threads: int, n: int, one: Callable[[int], None]) -> None:
    """`one(i)` for i in 0..n-1 from `threads` threads, each as fast as it can (closed loop)."""

    def worker(start: int) -> None:
        for i in range(start, n, threads):
            one(i)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def list_outputs(b: Bench) -> dict[str, float]:
    """Every object under the output prefix: key -> LastModified (epoch seconds, stamped by the server)."""
    found: dict[str, float] = {}
    for page in b.c.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=OUT_PREFIX):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = obj["LastModified"].timestamp()
    return found


def clear_outputs(b: Bench) -> None:
    keys = list(list_outputs(b))
    for start in range(0, len(keys), 1000):
        b.c.s3.delete_objects(
            Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]], "Quiet": True}
        )


def async_burst(b: Bench, inputs: list[str], tag: str, verify: bool = True) -> dict[str, Any]:
    """Every input through invoke_endpoint_async at once; wait for every result object."""
    n, threads = len(inputs), b.args.threads
    sent = [math.nan] * n  # time.time() just before the call
    accept = [math.nan] * n  # the call's latency, s
    outputs: list[str | None] = [None] * n
    failures: list[str | None] = [None] * n
    refused: list[str] = []

    def one(i: int) -> None:
        wall = time.time()
        t0 = time.perf_counter()
        try:
            reply = b.c.rt.invoke_endpoint_async(
                EndpointName=ASYNC_ENDPOINT, InputLocation=inputs[i], ContentType="text/csv", InferenceId=f"{tag}-{i}"
            )
        except Exception as exc:
            refused.append(error_text(exc))
            return
        accept[i] = time.perf_counter() - t0
        sent[i] = wall
        outputs[i] = split_uri(reply["OutputLocation"])[1]
        failures[i] = split_uri(reply.get("FailureLocation") or reply["OutputLocation"] + "-error")[1]

    cpu = Cpu(b).start()
    run_threads(threads, n, one)
    sends_done = time.time()
    accepted = [i for i in range(n) if outputs[i] is not None]
    ids = {f"{tag}-{i}" for i in accepted}
    # Results are timed by their LastModified, so the client does not poll while it sends (a listing costs both
    # processes CPU); afterwards it looks every --poll-ms until every accepted request has an object.
    deadline = time.monotonic() + b.args.burst_timeout
    found: dict[str, float] = {}
    while time.monotonic() < deadline:
        if b.hook is not None:
            if b.hook.count(ids) >= len(accepted):
                found = list_outputs(b)
                break
        else:
            found = list_outputs(b)
            if sum(1 for i in accepted if outputs[i] in found or failures[i] in found) >= len(accepted):
                break
        time.sleep(b.args.poll_ms / 1000)
    else:
        found = list_outputs(b)
    seen_all = time.time()
    cpu.stop()
    done = [i for i in accepted if outputs[i] in found]
    failed = [i for i in accepted if failures[i] in found and outputs[i] not in found]
    missing = [i for i in accepted if i not in set(done) | set(failed)]
    result_s = [found[str(outputs[i])] - sent[i] for i in done]
    row: dict[str, Any] = {
        "requests": n,
        "threads": threads,
        "accepted": len(accepted),
        "refused": len(refused),
        "refusals": sorted(set(refused))[:5],
        "completed": len(done),
        "failed": len(failed),
        "missing": len(missing),
        "accept_p50_ms": 1e3 * pct([accept[i] for i in accepted], 0.5),
        "accept_p99_ms": 1e3 * pct([accept[i] for i in accepted], 0.99),
        "result_p50_s": pct(result_s, 0.5),
        "result_p99_s": pct(result_s, 0.99),
        "result_max_s": max(result_s, default=math.nan),
        "send_s": sends_done - min((sent[i] for i in accepted), default=sends_done),
        "all_seen_after_s": seen_all - min((sent[i] for i in accepted), default=seen_all),
        "server_cpu_ms_per_request": 1e3 * cpu.server_s / n,
        "instances_cpu_ms_per_request": 1e3 * cpu.instances_s / n,
    }
    if done:
        first = min(sent[i] for i in accepted)
        last = max(found[str(outputs[i])] for i in done)
        row["span_s"] = last - first
        row["rps"] = len(done) / (last - first)
        row["accept_rps"] = len(accepted) / row["send_s"] if row["send_s"] > 0 else math.nan
    else:
        row["span_s"], row["rps"] = math.nan, 0.0
    if b.hook is not None:
        notified = [b.hook.arrived[f"{tag}-{i}"] - sent[i] for i in accepted if f"{tag}-{i}" in b.hook.arrived]
        row["notified"] = len(notified)
        row["notified_p50_s"], row["notified_p99_s"] = pct(notified, 0.5), pct(notified, 0.99)
    if failed:
        doc = b.c.s3.get_object(Bucket=BUCKET, Key=failures[failed[0]])["Body"].read()
        row["first_failure"] = doc[:1000].decode("utf-8", "replace")
    if verify and done:
        row["wrong"] = verify_outputs(b, {i: str(outputs[i]) for i in done})
    clear_outputs(b)
    return row


def verify_outputs(b: Bench, outputs: dict[int, str]) -> int:
    """Read every result object back; the number whose prediction is not the in-process booster's."""
    from concurrent.futures import ThreadPoolExecutor

    def check(item: tuple[int, str]) -> bool:
        i, key = item
        text = b.c.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode().strip()
        try:
            return close(float(text), float(b.data.expected[i % len(b.data.rows)]))
        except ValueError:
            return False

    with ThreadPoolExecutor(8) as pool:
        return sum(1 for ok in pool.map(check, outputs.items()) if not ok)


def realtime_burst(b: Bench, n: int) -> dict[str, Any]:
    """The same rows through invoke_endpoint on the real-time endpoint, from the same number of threads."""
    latency = [math.nan] * n
    ends = [math.nan] * n
    wrong: list[int] = []
    errors: list[str] = []
    rows, expected = b.data.rows, b.data.expected

    def one(i: int) -> None:
        t0 = time.perf_counter()
        try:
            reply = b.c.rt.invoke_endpoint(
                EndpointName=REALTIME_ENDPOINT, Body=rows[i % len(rows)] + b"\n", ContentType="text/csv"
            )
            text = reply["Body"].read().decode().strip()
        except Exception as exc:
            errors.append(error_text(exc))
            return
        t1 = time.perf_counter()
        latency[i], ends[i] = t1 - t0, t1
        with contextlib.suppress(ValueError):
            if close(float(text), float(expected[i % len(rows)])):
                return
        wrong.append(i)

    start = time.perf_counter()
    with Cpu(b) as cpu:
        run_threads(b.args.threads, n, one)
    ok = [x for x in latency if not math.isnan(x)]
    last = max((e for e in ends if not math.isnan(e)), default=start)
    return {
        "requests": n,
        "threads": b.args.threads,
        "completed": len(ok),
        "errors": len(errors),
        "error_messages": sorted(set(errors))[:5],
        "wrong": len(wrong),
        "p50_ms": 1e3 * pct(ok, 0.5),
        "p99_ms": 1e3 * pct(ok, 0.99),
        "span_s": last - start,
        "rps": len(ok) / (last - start) if last > start else 0.0,
        "server_cpu_ms_per_request": 1e3 * cpu.server_s / n,
        "instances_cpu_ms_per_request": 1e3 * cpu.instances_s / n,
    }


def bursts(b: Bench) -> dict[str, Any]:
    n = b.args.requests
    t0 = time.perf_counter()
    inputs = upload_inputs(b, n)
    say(f"uploaded {n} one-row inputs in {time.perf_counter() - t0:.1f} s")
    warm = min(50, n)  # untimed: connections, the instances' first calls
    realtime_burst(b, warm)
    async_burst(b, inputs[:warm], "warm", verify=False)
    runs: list[dict[str, Any]] = []
    for rep in range(b.args.repeats):  # interleaved: drift on a shared machine hits both paths alike
        realtime = realtime_burst(b, n)
        asynchronous = async_burst(b, inputs, f"r{rep}")
        ratio = asynchronous["rps"] / realtime["rps"] if realtime["rps"] else math.nan
        runs.append({"realtime": realtime, "async": asynchronous, "ratio": ratio})
        say(
            f"  run {rep + 1}: real-time {realtime['rps']:,.0f} req/s (p50 {realtime['p50_ms']:.1f} ms); async"
            f" {asynchronous['rps']:,.0f} req/s, accept p50 {asynchronous['accept_p50_ms']:.1f} ms, result p50"
            f" {asynchronous['result_p50_s']:.2f} s, {asynchronous['completed']}/{n} done"
            f" ({asynchronous['failed']} failed, {asynchronous['refused']} refused); ratio {ratio:.2f}"
        )
    keys = [u.removeprefix(f"s3://{BUCKET}/") for u in inputs]
    for start in range(0, len(keys), 1000):
        b.c.s3.delete_objects(
            Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]], "Quiet": True}
        )
    median = sorted(runs, key=lambda r: r["ratio"] if not math.isnan(r["ratio"]) else -1.0)[(len(runs) - 1) // 2]
    return {"runs": runs, "median": median, "ratios": [r["ratio"] for r in runs]}


# --------------------------------------------------------------------------------------------------------
# Part 3: a large input
# --------------------------------------------------------------------------------------------------------


def make_large(b: Bench, size_mb: int) -> tuple[Path, int, int]:
    """The test rows repeated to about `size_mb` MiB: the file, its rows, how many times the test set repeats."""
    block = b"".join(row + b"\n" for row in b.data.rows)
    repeats = max(1, size_mb * MiB // len(block))  # at most size_mb MiB: 1024 stays within a 1 GiB limit
    chunk = block * max(1, (16 * MiB) // len(block))
    per_chunk = len(chunk) // len(block)
    path = b.work / "large.csv"
    with open(path, "wb") as f:
        left = repeats
        while left >= per_chunk:
            f.write(chunk)
            left -= per_chunk
        f.write(block * left)
    return path, repeats * len(b.data.rows), repeats


def last_modified(b: Bench, key: str, fallback: float) -> float:
    """The object's LastModified to the millisecond: a listing has it so (HEAD's Last-Modified header is an HTTP
    date, whole seconds)."""
    listed = b.c.s3.list_objects_v2(Bucket=BUCKET, Prefix=key, MaxKeys=1).get("Contents", [])
    return float(listed[0]["LastModified"].timestamp()) if listed and listed[0]["Key"] == key else fallback


def wait_object(b: Bench, keys: list[str], timeout_s: float, every_s: float) -> tuple[str | None, float, float]:
    """Poll head_object on `keys` until one exists: (that key, its LastModified, when it was seen)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for key in keys:
            try:
                head = b.c.s3.head_object(Bucket=BUCKET, Key=key)
            except Exception as exc:
                if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                    continue
                raise
            seen = time.time()
            return key, last_modified(b, key, head["LastModified"].timestamp()), seen
        time.sleep(every_s)
    return None, math.nan, time.time()


def large_input(b: Bench) -> dict[str, Any]:
    size_mb = b.args.large_mb
    t0 = time.perf_counter()
    path, rows, repeats = make_large(b, size_mb)
    size = path.stat().st_size
    made_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    b.c.s3.upload_file(str(path), BUCKET, "large/input.csv")
    upload_s = time.perf_counter() - t0
    path.unlink()
    say(
        f"large input: {size / MiB:,.0f} MiB, {rows:,} rows, made in {made_s:.1f} s, uploaded (upload_file) in"
        f" {upload_s:.1f} s"
    )
    row: dict[str, Any] = {
        "bytes": size,
        "rows": rows,
        "upload_s": upload_s,
        "container_max_mb": b.args.container_max_mb,
    }
    time.sleep(1.0)
    idle_kb = rss_kb(b.pid)
    row["server_idle_rss_mb"] = idle_kb / 1024
    with Rss(b.pid, b.server.instance_pids) as rss:
        sent = time.time()
        try:
            reply = b.c.rt.invoke_endpoint_async(
                EndpointName=ASYNC_ENDPOINT,
                InputLocation=f"s3://{BUCKET}/large/input.csv",
                ContentType="text/csv",
                InferenceId="large",
                InvocationTimeoutSeconds=3600,
            )
        except Exception as exc:
            row.update(status="refused", reason=error_text(exc))
            reply = None
        if reply is not None:
            out_key = split_uri(reply["OutputLocation"])[1]
            fail_key = split_uri(reply.get("FailureLocation") or reply["OutputLocation"] + "-error")[1]
            key, modified, seen = wait_object(b, [out_key, fail_key], b.args.large_timeout, 0.1)
            row["result_s"] = modified - sent
            row["seen_s"] = seen - sent
            if key is None:
                row.update(status="timeout", reason=f"no result object in {b.args.large_timeout:g} s")
            elif key == fail_key:
                doc = b.c.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode("utf-8", "replace")
                try:
                    reason = json.loads(doc).get("FailureReason", doc)
                except ValueError:
                    reason = doc
                row.update(status="failed", reason=str(reason)[:1000])
            else:
                row["status"] = "completed"
    row["server_peak_rss_mb"] = rss.peak_kb / 1024
    row["server_above_idle_mb"] = (rss.peak_kb - idle_kb) / 1024
    row["peak_over_input"] = rss.peak_kb * 1024 / size
    row["above_idle_over_input"] = (rss.peak_kb - idle_kb) * 1024 / size
    row["instances_peak_rss_mb"] = rss.instances_peak_kb / 1024
    row["rss_samples"] = rss.samples
    if row.get("status") == "completed":
        row["mb_s"] = size / MiB / row["result_s"]
        row["ok"] = verify_large(b, out_key, repeats)
    with contextlib.suppress(Exception):
        b.c.s3.delete_object(Bucket=BUCKET, Key="large/input.csv")
    clear_outputs(b)
    say(
        f"  large input: {row.get('status')} in {row.get('result_s', math.nan):.1f} s; server peak RSS"
        f" {row['server_peak_rss_mb']:,.0f} MiB (idle {row['server_idle_rss_mb']:,.0f})"
        + (f"; {row['reason'][:300]}" if "reason" in row else "")
    )
    return row


def verify_large(b: Bench, key: str, repeats: int) -> bool:
    import pyarrow as pa
    from pyarrow import csv as pacsv

    body = b.c.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    table = pacsv.read_csv(pa.py_buffer(body), read_options=pacsv.ReadOptions(column_names=["p"]))
    got = table.column(0).to_numpy()
    want = np.tile(b.data.expected, repeats)
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=1e-5, atol=1e-6))


# --------------------------------------------------------------------------------------------------------
# Part 4: cold start from zero instances
# --------------------------------------------------------------------------------------------------------


def scale_to_zero(b: Bench) -> str | None:
    """Ask for zero instances and wait for InService with none; None, or why it did not happen."""
    sm = b.c.sm
    wait_in_service(b, 120)
    try:
        sm.update_endpoint_weights_and_capacities(
            EndpointName=ASYNC_ENDPOINT,
            DesiredWeightsAndCapacities=[{"VariantName": VARIANT, "DesiredInstanceCount": 0}],
        )
    except Exception as exc:
        if error_code(exc) == "ValidationException" or "ParamValidation" in type(exc).__name__:
            return f"not supported by this build: {error_text(exc)}"
        return f"UpdateEndpointWeightsAndCapacities failed: {error_text(exc)}"
    deadline = time.monotonic() + 120
    described: dict[str, Any] = {}
    while time.monotonic() < deadline:
        described = sm.describe_endpoint(EndpointName=ASYNC_ENDPOINT)
        status = described["EndpointStatus"]
        count = described["ProductionVariants"][0].get("CurrentInstanceCount")
        if status == "InService" and count == 0:
            return None
        if status == "Failed":
            return f"the endpoint failed scaling to zero: {described.get('FailureReason')}"
        time.sleep(0.05)
    return (
        f"did not reach InService with 0 instances in 120 s (status {described.get('EndpointStatus')},"
        f" CurrentInstanceCount {described.get('ProductionVariants', [{}])[0].get('CurrentInstanceCount')})"
    )


def wait_in_service(b: Bench, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if b.c.sm.describe_endpoint(EndpointName=ASYNC_ENDPOINT)["EndpointStatus"] == "InService":
            return
        time.sleep(0.05)


def cold_start(b: Bench) -> dict[str, Any]:
    if b.args.cold_repeats <= 0:
        return {"skipped": True, "runs": []}
    b.c.s3.put_object(Bucket=BUCKET, Key="cold/row.csv", Body=b.data.rows[0] + b"\n", ContentType="text/csv")
    runs: list[dict[str, Any]] = []
    for rep in range(b.args.cold_repeats):
        why = scale_to_zero(b)
        if why is not None:
            say(f"  cold start: {why}")
            return {"supported": not why.startswith("not supported"), "reason": why, "runs": runs}
        before = set(b.server.instance_pids())
        sent = time.time()
        try:
            reply = b.c.rt.invoke_endpoint_async(
                EndpointName=ASYNC_ENDPOINT,
                InputLocation=f"s3://{BUCKET}/cold/row.csv",
                ContentType="text/csv",
                InferenceId=f"cold-{rep}",
            )
        except Exception as exc:
            why = f"InvokeEndpointAsync at zero instances refused: {error_text(exc)}"
            say(f"  cold start: {why}")
            return {"supported": False, "reason": why, "runs": runs}
        accept_s = time.time() - sent
        out_key = split_uri(reply["OutputLocation"])[1]
        fail_key = split_uri(reply.get("FailureLocation") or reply["OutputLocation"] + "-error")[1]
        key, modified, seen = wait_object(b, [out_key, fail_key], b.args.cold_timeout, 0.02)
        run: dict[str, Any] = {
            "accept_s": accept_s,
            "result_s": modified - sent,
            "seen_s": seen - sent,
            "instance_processes_before": len(before),
            "new_instance_processes": len(set(b.server.instance_pids()) - before),
        }
        if key is None:
            run["status"] = f"no result in {b.args.cold_timeout:g} s"
        elif key == fail_key:
            run["status"] = "failed: " + b.c.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()[:500].decode(
                "utf-8", "replace"
            )
        else:
            text = b.c.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode().strip()
            run["status"] = "completed" if close(float(text), float(b.data.expected[0])) else f"WRONG: {text}"
        runs.append(run)
        say(
            f"  cold start {rep + 1}: {run['status']}, result after {run['result_s']:.2f} s"
            f" (seen {run['seen_s']:.2f} s)"
        )
        clear_outputs(b)
        if key is None:
            return {
                "supported": True,
                "runs": runs,
                "median_s": math.nan,
                "reason": f"scaled to 0 instances, but the request had no result in {b.args.cold_timeout:g} s",
            }
    good = [r["result_s"] for r in runs if r["status"] == "completed"]
    return {"supported": True, "runs": runs, "median_s": statistics.median(good) if good else math.nan}


# --------------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------------


def log_summary(path: Path) -> dict[str, Any]:
    """WARNING / ERROR lines of the server's log (and of its instances, which write to the same stderr)."""
    lines: list[str] = []
    with contextlib.suppress(OSError), open(path, errors="replace") as f:
        lines = [ln.rstrip() for ln in f if " WARNING " in ln or " ERROR " in ln or "Traceback" in ln]
    return {"warnings_and_errors": len(lines), "first": lines[:10]}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from homeport.server.process import ServerProcess

    if can_pin():
        os.sched_setaffinity(0, {LOADGEN_CORE})
    os.environ["OMP_NUM_THREADS"] = "1"
    base = Path(args.tmp) if args.tmp else None
    work = Path(tempfile.mkdtemp(prefix="homeport-asyncbench-", dir=base))
    server = None
    hook: Webhook | None = None
    log_path = work / "homeport.log"
    try:
        t0 = time.perf_counter()
        data = build(work / "model")
        with pinned(args.homeport_cores), stderr_to(log_path):  # homeport and its instances: the server core
            server = ServerProcess(work / "data", env={**SERVER_ENV}).start()
        hook = Webhook() if args.notify else None
        b = Bench(args, work, data, server, clients(server, args.threads), hook)
        notify = deploy(b)
        hook = b.hook
        setup_s = time.perf_counter() - t0
        say(f"model trained, server at {server.url}, both endpoints InService in {setup_s:.1f} s (work dir {work})")
        pins = {
            "bench": affinity(os.getpid()),
            "homeport": affinity(b.pid),
            "instances": [affinity(p) for p in server.instance_pids()],
        }
        burst = bursts(b)
        large = {"skipped": True} if args.skip_large else large_input(b)
        cold = cold_start(b)
        hwm = vm_hwm_kb(b.pid)
        notes = b.notes
    finally:
        if server is not None:
            server.stop()
        if hook is not None:
            hook.stop()
    logged = log_summary(log_path)
    if args.keep:
        say(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "quick": args.quick,
        "setup_s": setup_s,
        "config": {
            "requests": args.requests,
            "threads": args.threads,
            "instances": args.instances,
            "max_concurrent_invocations_per_instance": args.per_instance,
            "repeats": args.repeats,
            "large_mb": None if args.skip_large else args.large_mb,
            "poll_ms": args.poll_ms,
            "container_max_mb": args.container_max_mb,
        },
        "pinning": pins if can_pin() else "none (fewer than 2 usable cores)",
        "notify": notify,
        "burst": burst,
        "large": large,
        "cold_start": cold,
        "server_vmhwm_mb": hwm / 1024,
        "server_log": logged,
        "notes": notes,
        "targets": {
            "async_over_realtime_min": TARGET_THROUGHPUT,
            "cold_start_max_s": TARGET_COLD_S,
            "info_rss_above_idle_max_mb": TARGET_RSS_ABOVE_IDLE_MB,
        },
    }


def table(r: dict[str, Any]) -> str:
    cfg = r["config"]
    med = r["burst"]["median"]
    a, rt = med["async"], med["realtime"]
    runs = len(r["burst"]["runs"])
    lines = [
        f"burst: {cfg['requests']:,} one-row requests from {cfg['threads']} threads,"
        f" {cfg['instances']} instance(s) per endpoint, MaxConcurrentInvocationsPerInstance"
        f" {cfg['max_concurrent_invocations_per_instance']};"
        f" the median of {runs} run{'s' if runs > 1 else ''} by ratio",
        f"{'figure':<50} {'value':>13} {'ratio / target':>24}",
    ]

    def add(label: str, value: str, judged: str = "") -> None:
        lines.append(f"{label:<50} {value:>13} {judged:>24}")

    add("async: accept p50 / p99 (ms)", f"{a['accept_p50_ms']:.1f} / {a['accept_p99_ms']:.1f}")
    add("async: send → result p50 / p99 (s)", f"{a['result_p50_s']:.2f} / {a['result_p99_s']:.2f}")
    if "notified_p50_s" in a:
        add("async: send → notification p50 / p99 (s)", f"{a['notified_p50_s']:.2f} / {a['notified_p99_s']:.2f}")
    add("async: throughput (req/s)", f"{a['rps']:,.0f}")
    add("real-time: latency p50 / p99 (ms)", f"{rt['p50_ms']:.1f} / {rt['p99_ms']:.1f}")
    add("real-time: throughput (req/s), the floor", f"{rt['rps']:,.0f}")
    add(
        "server CPU per request, async / real-time (ms)",
        f"{a['server_cpu_ms_per_request']:.2f} / {rt['server_cpu_ms_per_request']:.2f}",
        "(information)",
    )
    add(
        "instances' CPU per request, async / real-time (ms)",
        f"{a['instances_cpu_ms_per_request']:.2f} / {rt['instances_cpu_ms_per_request']:.2f}",
        "(information)",
    )
    ratio = med["ratio"]
    add(
        "async ÷ real-time throughput",
        f"{ratio:.2f}",
        f"≥ {TARGET_THROUGHPUT:g}  {verdict(ratio >= TARGET_THROUGHPUT)}",
    )
    if runs > 1:
        add("  every run's ratio", " ".join(f"{x:.2f}" for x in r["burst"]["ratios"]))
    bad = [
        f"{x['async']['failed']} failed, {x['async']['missing']} missing, {x['async']['refused']} refused,"
        f" {x['async'].get('wrong', 0)} wrong (async); {x['realtime']['errors']} errors, {x['realtime']['wrong']}"
        f" wrong (real-time)"
        for x in r["burst"]["runs"]
        if x["async"]["failed"]
        or x["async"]["missing"]
        or x["async"]["refused"]
        or x["async"].get("wrong")
        or x["realtime"]["errors"]
        or x["realtime"]["wrong"]
    ]
    lines += [f"  PROBLEMS: {p}" for p in bad]
    lines.append("")
    large = r["large"]
    if large.get("skipped"):
        lines.append("large input: skipped (--skip-large)")
    else:
        lines.append(
            f"large input: {large['bytes'] / MiB:,.0f} MiB of CSV, {large['rows']:,} rows"
            + (
                f" (the model's MAX_CONTENT_LENGTH: {large['container_max_mb']:,} MiB)"
                if large["container_max_mb"]
                else " (the container's default body limit)"
            )
        )
        if large.get("status") == "completed":
            add("  send → result (s)", f"{large['result_s']:.1f}", f"{large['mb_s']:.0f} MiB/s")
            add("  output checked", "ok" if large.get("ok") else "WRONG")
        else:
            add("  result", str(large.get("status")))
            lines.append(f"  reason: {large.get('reason', '')[:600]}")
        add(
            "  server peak VmRSS (MiB)",
            f"{large['server_peak_rss_mb']:,.0f}",
            f"÷ input {large['peak_over_input']:.2f}",
        )
        add(
            "  same above idle (MiB)",
            f"{large['server_above_idle_mb']:,.0f}",
            f"÷ input {large['above_idle_over_input']:.2f}  {verdict(large['server_above_idle_mb'] < 200)}*",
        )
        add("  its instances' peak VmRSS, summed (MiB)", f"{large['instances_peak_rss_mb']:,.0f}", "(information)")
    lines.append("")
    cold = r["cold_start"]
    if cold.get("skipped"):
        lines.append("cold start from 0 instances: skipped (--cold-repeats 0)")
    elif "reason" in cold and not cold["runs"]:
        lines.append(f"cold start from 0 instances: {cold['reason'][:600]}")
    else:
        lines.append("cold start from 0 instances: send → result object")
        for k, run in enumerate(cold["runs"], 1):
            add(f"  run {k}", f"{run['result_s']:.2f} s", run["status"][:26])
        if "reason" in cold:
            lines.append(f"  then: {cold['reason'][:600]}")
        median = cold.get("median_s", math.nan)
        add("  median (s)", f"{median:.2f}", f"< {TARGET_COLD_S:g} s  {verdict(median < TARGET_COLD_S)}")
    lines += [
        "",
        "accept: the invoke_endpoint_async call's latency; result: the result object's LastModified (stamped by the"
        " server as it writes it) minus the send; throughput: completed ÷ (first send → last result).",
        "real-time: invoke_endpoint, same rows, same threads, same model and instance count, interleaved run by run.",
        "* for information: the S3 face's target for a body streamed through the server is"
        f" < {TARGET_RSS_ABOVE_IDLE_MB:g} MiB above idle. Server: the `homeport serve` process alone, VmRSS every"
        " 50 ms.",
        f"server log: {r['server_log']['warnings_and_errors']} WARNING/ERROR lines; server VmHWM at the end"
        f" {r['server_vmhwm_mb']:,.0f} MiB.",
    ]
    lines += [f"note: {n}" for n in r["notes"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 requests, one run, a 64 MiB large input")
    parser.add_argument("--requests", type=int, help="requests per burst (default 1000; 200 with --quick)")
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--repeats", type=int, help="burst runs, each path, interleaved (default 3; 1 with --quick)")
    parser.add_argument("--instances", type=int, default=1, help="instances per endpoint (default 1)")
    parser.add_argument(
        "--per-instance",
        type=int,
        default=4,
        help="MaxConcurrentInvocationsPerInstance of the async endpoint (default 4)",
    )
    parser.add_argument("--large-mb", type=int, help="size of the large input, MiB (default 1024; 64 with --quick)")
    parser.add_argument("--skip-large", action="store_true", help="no large input")
    parser.add_argument(
        "--container-max-mb",
        type=int,
        help="the model's MAX_CONTENT_LENGTH, MiB (default: twice the large input; 0 sets none:"
        " the container's default)",
    )
    parser.add_argument(
        "--notify",
        action="store_true",
        help="find results through AsyncInferenceConfig NotificationConfig (a webhook here)",
    )
    parser.add_argument("--poll-ms", type=float, default=200.0, help="S3 listing interval once every request is sent")
    parser.add_argument("--cold-repeats", type=int, default=3)
    parser.add_argument("--burst-timeout", type=float, default=300.0)
    parser.add_argument("--large-timeout", type=float, default=LARGE_TIMEOUT_S)
    parser.add_argument("--cold-timeout", type=float, default=COLD_TIMEOUT_S)
    add_cores_option(parser)
    parser.add_argument("--tmp", help="where the work directory goes (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (server data dir and log)")
    args = parser.parse_args(argv)
    args.requests = args.requests or (200 if args.quick else 1000)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.large_mb = args.large_mb or (64 if args.quick else 1024)
    if args.container_max_mb is None:
        args.container_max_mb = 2 * args.large_mb
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops the server
    results = measure(args)
    print(table(results))
    write_results("async_inference", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
