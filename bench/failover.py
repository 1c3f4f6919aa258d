#!/usr/bin/env python3
"""Failover: SIGKILL of one of two instances of a real-time endpoint under steady load, in one run.

    .venv/bin/python bench/failover.py              # 5 kills, about 1 minute
    .venv/bin/python bench/failover.py --runs 9 --rate 400

What it measures, against one real `homeport serve` (`ServerProcess`, on core 1 with its instances; this process
and its load on core 0) serving the worked example's Abalone XGBoost model on a 2-instance endpoint:

- Load: an open-loop paced generator, `--rate` (200) single-row CSV requests a second from `--threads` (8) threads,
  each with its own keep-alive HTTP connection (raw `http.client`, SigV4 headers signed once: homeport checks them on
  every request; boto3 would cost the client ~10x the CPU per call). A request's latency runs from the moment it was
  due, not from when a thread got round to it, so a stall is not hidden (no coordinated omission). A client-visible
  error is any reply that is not 200 with the right prediction, or a connection that fails; nothing is retried.
- Per run: the older of the two instances (so each in turn) is killed with SIGKILL. A watcher polls DescribeEndpoint
  and the server's instance processes every ~10 ms: `count 1` is the first time CurrentInstanceCount reads 1
  (homeport has noticed), `new pid` the first time a replacement process exists, `serving` the first time
  CurrentInstanceCount reads 2 again with the replacement present (it passed /ping and takes requests). Replies do not
  name the instance that answered, so "serving" is homeport's own word for it. `setup` is the replacement's
  ModelSetupTime (CloudWatch, AWS/SageMaker, start to first passed /ping; the server runs with a 1 s metric period).
  The engine tells homeport at once when an instance ends (and its health tick, 1 s, would find it otherwise); the
  kills are still spread over a tick run by run (kill k of N lands (k + 0.5) / N of a tick after the last controller
  wake-up), so that no run depends on the tick's phase.
- Latency windows (by due time): `before` the 3 s before the kill, `during` kill → serving, `after` the 3 s from
  serving. Ratios are during ÷ before for p50 and p99.
- The floor, in the same run, before each kill with the load paused: CreateEndpoint → InService of a fresh 1-instance
  endpoint of the same model (the same DescribeEndpoint poll), and its ModelSetupTime. `serv/fl` is the replacement
  time over the time the same server needs to start an instance when asked to and nothing else happens; `start`
  (count 1 → serving) over the floor leaves the detection out.

Reading it: errors should be 0 (the router retries a request on the other instance once when its instance drops it);
kill → serving should be under 2 s. kill → serving is detection (tens of milliseconds) plus about the floor.
Compare ratios, not bare times: the machine is shared and noisy; the table gives every
run and the median of the runs.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import math
import os
import platform
import select
import signal
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from async_inference import pct
from invoke import (
    IMAGE,
    LOADGEN_CORE,
    ROLE,
    SERVER_ENV,
    add_cores_option,
    affinity,
    build_model,
    can_pin,
    pinned,
)
from invoke import signed_headers as sign

from batch import say, stderr_to, verdict, write_results  # bench/ is on sys.path: this file runs beside them

ENDPOINT, VARIANT, MODEL = "bench-failover", "AllTraffic", "bench-failover-model"
FLOOR_CONFIG = "bench-failover-floor-config"
WINDOW_S = 3.0  # the before and after latency windows
POLL_S = 0.01  # the watcher's pause between polls
EVENT_TIMEOUT_S = 30.0
TARGET_ERRORS = 0
TARGET_SERVING_S = 2.0
METRIC_PERIOD_S = 1


# --------------------------------------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------------------------------------


@dataclass
class Reply:
    due: float  # epoch seconds the request was due to be sent
    latency: float  # seconds from `due` to the reply read
    ok: bool
    error: str = ""


class Load:
    """Open-loop paced requests: a slot every 1/rate seconds, sent by whichever of `threads` threads (each with its
    keep-alive connection) is free when it falls due; with none free, it is sent as soon as one is, and its latency
    still counts from when it was due. `rate` may change while it runs, and takes effect at once (0 pauses)."""

    def __init__(self, url: str, body: bytes, headers: dict[str, str], expected: float, threads: int) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
        self.body, self.headers, self.expected = body, {**headers, "Content-Type": "text/csv"}, expected
        self._rate = 0.0
        self.replies: list[Reply] = []
        self._next: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._worker, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5)

    @property
    def rate(self) -> float:
        return self._rate

    @rate.setter
    def rate(self, value: float) -> None:
        with self._lock:
            self._rate = value
            if value <= 0:
                self._next = None
            elif self._next is not None:  # the next slot at most one new interval away
                self._next = min(self._next, time.time() + 1.0 / value)

    def _claim(self) -> tuple[float | None, float]:
        """The slot that is due, if one is: (its time, 0); else (None, how long until one may be)."""
        with self._lock:
            if self._rate <= 0:
                return None, 0.005
            now = time.time()
            if self._next is None:
                self._next = now
            if self._next > now:
                return None, self._next - now
            slot = self._next
            self._next += 1.0 / self._rate
            return slot, 0.0

    def _worker(self) -> None:
        conn: http.client.HTTPConnection | None = None
        while not self._stop.is_set():
            slot, wait = self._claim()
            if slot is None:
                self._stop.wait(wait)
                continue
            if conn is not None and dropped(conn):  # closed by the server while idle (keep-alive timeout)
                conn.close()
                conn = None
            if conn is None:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            ok, error = self._one(conn)
            self.replies.append(Reply(slot, time.time() - slot, ok, error))
            if error.startswith("connection"):
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def _one(self, conn: http.client.HTTPConnection) -> tuple[bool, str]:
        try:
            conn.request("POST", self.path, self.body, self.headers)
            reply = conn.getresponse()
            data = reply.read()
        except (OSError, http.client.HTTPException) as exc:
            return False, f"connection: {type(exc).__name__}: {exc}"
        if reply.status != 200:
            return False, f"HTTP {reply.status}: {data[:200]!r}"
        try:
            got = float(data.strip())
        except ValueError:
            return False, f"unparsable reply {data[:200]!r}"
        if abs(got - self.expected) > 1e-4 * max(1.0, abs(self.expected)):
            return False, f"wrong prediction {got}"
        return True, ""

    def window(self, start: float, end: float) -> list[Reply]:
        return [r for r in list(self.replies) if start <= r.due < end]


def dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether the server has closed this idle connection (it reads as ready: EOF), as urllib3 checks before reusing
    a pooled one; a client that did not would count the server's keep-alive timeout as an error."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def latency_stats(replies: list[Reply]) -> dict[str, float]:
    ok = [r.latency for r in replies if r.ok]
    return {
        "requests": len(replies),
        "errors": sum(1 for r in replies if not r.ok),
        "p50_ms": 1e3 * pct(ok, 0.5),
        "p99_ms": 1e3 * pct(ok, 0.99),
        "max_ms": 1e3 * max(ok, default=math.nan),
    }


# --------------------------------------------------------------------------------------------------------
# homeport
# --------------------------------------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    server: Any
    sm: Any
    cw: Any
    load: Load
    notes: list[str] = field(default_factory=list)


def clients(server: Any) -> tuple[Any, Any]:
    import boto3
    from botocore.config import Config

    common: dict[str, Any] = {
        "endpoint_url": server.url,
        "region_name": "us-east-1",
        "aws_access_key_id": server.access_key_id,
        "aws_secret_access_key": server.secret_access_key,
        "config": Config(retries={"max_attempts": 3, "mode": "standard"}, read_timeout=60),
    }
    return boto3.client("sagemaker", **common), boto3.client("cloudwatch", **common)


def deploy(sm: Any, tarball: Path) -> None:
    """The model, a 2-instance endpoint of it (InService), and the 1-instance config the floor endpoints use."""
    sm.create_model(
        ModelName=MODEL, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE, "ModelDataUrl": tarball.as_uri()}
    )
    for name, count in ((f"{ENDPOINT}-config", 2), (FLOOR_CONFIG, 1)):
        sm.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": VARIANT,
                    "ModelName": MODEL,
                    "InitialInstanceCount": count,
                    "InstanceType": "ml.m5.large",
                    "InitialVariantWeight": 1.0,
                }
            ],
        )
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"{ENDPOINT}-config")
    sm.get_waiter("endpoint_in_service").wait(EndpointName=ENDPOINT, WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})


def described(sm: Any, endpoint: str) -> tuple[str, int, float]:
    """(EndpointStatus, CurrentInstanceCount, the moment it stands for: the middle of the call)."""
    t0 = time.time()
    reply = sm.describe_endpoint(EndpointName=endpoint)
    when = (t0 + time.time()) / 2
    variants = reply.get("ProductionVariants") or [{}]
    return reply["EndpointStatus"], int(variants[0].get("CurrentInstanceCount") or 0), when


def setup_time_s(cw: Any, endpoint: str, start: float, end: float) -> float:
    """The largest ModelSetupTime (s) reported for the endpoint's variant between `start` and `end`; NaN if none."""
    from datetime import UTC, datetime

    reply = cw.get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName="ModelSetupTime",
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": VARIANT}],
        StartTime=datetime.fromtimestamp(math.floor(start), UTC),
        EndTime=datetime.fromtimestamp(math.ceil(end), UTC),
        Period=METRIC_PERIOD_S,
        Statistics=["Maximum", "SampleCount"],
    )
    points = [p for p in reply.get("Datapoints", []) if p.get("SampleCount")]
    return max((p["Maximum"] / 1e6 for p in points), default=math.nan)


# --------------------------------------------------------------------------------------------------------
# One run: the floor, then a kill
# --------------------------------------------------------------------------------------------------------


def floor(b: Bench, run: int) -> dict[str, Any]:
    """CreateEndpoint → InService of a fresh 1-instance endpoint, the load paused; then it is deleted."""
    name = f"{ENDPOINT}-floor-{run}"
    rate, b.load.rate = b.load.rate, 0.0
    time.sleep(0.3)  # the requests in flight finish
    t0 = time.time()
    b.sm.create_endpoint(EndpointName=name, EndpointConfigName=FLOOR_CONFIG)
    status, when = "Creating", t0
    while time.time() < t0 + EVENT_TIMEOUT_S and status not in ("InService", "Failed"):
        status, _, when = described(b.sm, name)
        time.sleep(POLL_S)
    in_service_s = when - t0 if status == "InService" else math.nan
    time.sleep(METRIC_PERIOD_S + 0.2)  # its ModelSetupTime is reported at the next period boundary
    b.sm.delete_endpoint(EndpointName=name)
    wait_gone(b.sm, name)
    b.load.rate = rate
    return {"endpoint": name, "start": t0, "in_service_s": in_service_s, "status": status}


def wait_gone(sm: Any, name: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            sm.describe_endpoint(EndpointName=name)
        except Exception:
            return
        time.sleep(0.05)


def two_instances(b: Bench, timeout_s: float = 10.0) -> list[int]:
    """The endpoint's two instance processes (the floor endpoint's may take a moment to go)."""
    deadline = time.monotonic() + timeout_s
    while len(pids := b.server.instance_pids()) != 2:
        if time.monotonic() > deadline:
            raise RuntimeError(f"expected 2 instance processes before the kill, found {pids}")
        time.sleep(0.05)
    return pids


def started(pid: int) -> int:
    """When the process started (clock ticks since boot, /proc/<pid>/stat field 22)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[19])
    except (OSError, ValueError, IndexError):
        return 0


def watch_kill(b: Bench, victim: int, before: set[int]) -> dict[str, Any]:
    """SIGKILL `victim`; poll until the endpoint serves on 2 instances again with a replacement among them."""
    killed = time.time()
    os.kill(victim, signal.SIGKILL)
    seen: dict[str, float] = {}
    new: set[int] = set()
    while time.time() < killed + EVENT_TIMEOUT_S:
        new = set(b.server.instance_pids()) - before
        if new and "new_pid" not in seen:
            seen["new_pid"] = time.time()
        _, count, when = described(b.sm, ENDPOINT)
        if count < 2 and "count_1" not in seen:
            seen["count_1"] = when
        if count >= 2 and new:
            seen["serving"] = when
            break
        time.sleep(POLL_S)
    return {
        "killed": killed,
        "victim": victim,
        "replacement": sorted(new),
        **{f"{k}_s": v - killed for k, v in seen.items()},
    }


def health_tick_s() -> float:
    """homeport's health interval: the endpoint controller looks at its instances this often when idle."""
    from homeport.settings import Settings

    return float(Settings.load({**os.environ, **SERVER_ENV}).health_interval_s)


def one_run(b: Bench, run: int) -> dict[str, Any]:
    floor_row = floor(b, run)
    # The floor's endpoint deletion woke the controller, which then ticks every health interval from there: a kill
    # at a fixed delay would always land at the same point of its tick. Runs spread the kill across the interval.
    phase = health_tick_s() * (run + 0.5) / b.args.runs
    time.sleep(1.0 + WINDOW_S + phase)  # the load back to steady, the before window, the phase
    pids = two_instances(b)
    event = watch_kill(b, min(pids, key=started), set(pids))  # the older one: each instance is killed in turn
    killed = event["killed"]
    serving = killed + event.get("serving_s", EVENT_TIMEOUT_S)
    time.sleep(max(0.0, serving + WINDOW_S + 0.3 - time.time()))
    windows = {
        "before": latency_stats(b.load.window(killed - WINDOW_S, killed)),
        "during": latency_stats(b.load.window(killed, serving)),
        "after": latency_stats(b.load.window(serving, serving + WINDOW_S)),
    }
    event["start_s"] = event.get("serving_s", math.nan) - event.get("count_1_s", math.nan)
    row = {"floor": floor_row, "event": event, "windows": windows, "phase_s": phase}
    say(
        f"  run {run + 1}: killed {event['victim']}; count 1 at {event.get('count_1_s', math.nan):.3f} s, new pid at"
        f" {event.get('new_pid_s', math.nan):.3f} s, serving at {event.get('serving_s', math.nan):.3f} s"
        f" (floor {floor_row['in_service_s']:.3f} s); errors {sum(w['errors'] for w in windows.values())};"
        f" p99 before/during/after {windows['before']['p99_ms']:.1f}/{windows['during']['p99_ms']:.1f}/"
        f"{windows['after']['p99_ms']:.1f} ms"
    )
    return row


def add_setup_times(b: Bench, rows: list[dict[str, Any]]) -> None:
    """ModelSetupTime of each floor endpoint and of each replacement, read once the runs are over."""
    time.sleep(METRIC_PERIOD_S + 0.2)
    for row in rows:
        fl, ev = row["floor"], row["event"]
        try:
            fl["setup_s"] = setup_time_s(b.cw, fl["endpoint"], fl["start"], fl["start"] + EVENT_TIMEOUT_S)
            ev["setup_s"] = setup_time_s(b.cw, ENDPOINT, ev["killed"], ev["killed"] + ev.get("serving_s", 0) + 2)
        except Exception as exc:
            fl["setup_s"] = ev["setup_s"] = math.nan
            note = f"ModelSetupTime could not be read: {type(exc).__name__}: {exc}"
            if note not in b.notes:
                b.notes.append(note)
    if all(math.isnan(r["event"]["setup_s"]) and math.isnan(r["floor"]["setup_s"]) for r in rows):
        b.notes.append("no ModelSetupTime datapoints were found: the setup column is empty")


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def med(values: list[float]) -> float:
        good = [v for v in values if not math.isnan(v)]
        return statistics.median(good) if good else math.nan

    def ratio(row: dict[str, Any], q: str) -> float:
        before, during = row["windows"]["before"][q], row["windows"]["during"][q]
        return during / before if before and not math.isnan(during) else math.nan

    serving = [r["event"].get("serving_s", math.nan) for r in rows]
    floors = [r["floor"]["in_service_s"] for r in rows]
    return {
        "errors": sum(w["errors"] for r in rows for w in r["windows"].values()),
        "count_1_s": med([r["event"].get("count_1_s", math.nan) for r in rows]),
        "new_pid_s": med([r["event"].get("new_pid_s", math.nan) for r in rows]),
        "serving_s": med(serving),
        "setup_s": med([r["event"].get("setup_s", math.nan) for r in rows]),
        "floor_in_service_s": med(floors),
        "floor_setup_s": med([r["floor"].get("setup_s", math.nan) for r in rows]),
        "serving_over_floor": med([s / f if f else math.nan for s, f in zip(serving, floors, strict=True)]),
        "start_s": med([r["event"]["start_s"] for r in rows]),
        "start_over_floor": med([r["event"]["start_s"] / f for r, f in zip(rows, floors, strict=True) if f]),
        "p50_during_over_before": med([ratio(r, "p50_ms") for r in rows]),
        "p99_during_over_before": med([ratio(r, "p99_ms") for r in rows]),
        "p50_after_over_before": med(
            [r["windows"]["after"]["p50_ms"] / r["windows"]["before"]["p50_ms"] for r in rows]
        ),
        **{
            f"{w}_{q}": med([r["windows"][w][q] for r in rows])
            for w in ("before", "during", "after")
            for q in ("p50_ms", "p99_ms")
        },
    }


# --------------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def homeport(work: Path, cores: set[int]) -> Any:
    """A `homeport serve` with a 1 s metric period, on `cores` (its instances inherit them); stopped on exit."""
    from homeport.server.process import ServerProcess

    env = {**SERVER_ENV, "HOMEPORT_METRIC_PERIOD_SECONDS": str(METRIC_PERIOD_S)}
    with pinned(cores), stderr_to(work / "homeport.log"):
        server = ServerProcess(work / "data", env=env).start()
    try:
        yield server
    finally:
        server.stop()


def measure(args: argparse.Namespace) -> dict[str, Any]:
    if can_pin():
        os.sched_setaffinity(0, {LOADGEN_CORE})
    with tempfile.TemporaryDirectory(prefix="homeport-failover-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        booster, tarball, row, body = build_model(work / "model")
        expected = float(booster.inplace_predict(row, validate_features=False)[0])
        with homeport(work, args.homeport_cores) as server:
            sm, cw = clients(server)
            deploy(sm, tarball)
            url = f"{server.url}/endpoints/{ENDPOINT}/invocations"
            with Load(url, body, sign(url, body, server), expected, args.threads) as load:
                b = Bench(args, server, sm, cw, load)
                say(f"model trained, server at {server.url}, 2 instances InService in {time.perf_counter() - t0:.1f} s")
                pins = {"bench": affinity(os.getpid()), "homeport": affinity(server.proc.pid)}
                load.rate = args.rate
                time.sleep(args.warmup)
                rows = [one_run(b, run) for run in range(args.runs)]
                load.rate = 0.0
                total = latency_stats(load.replies)
                errors = sorted({r.error for r in load.replies if not r.ok})[:10]
            add_setup_times(b, rows)
        log = (work / "homeport.log").read_text(errors="replace").splitlines()
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "config": {"runs": args.runs, "rate": args.rate, "threads": args.threads, "window_s": WINDOW_S},
        "pinning": pins if can_pin() else "none (fewer than 2 usable cores)",
        "runs": rows,
        "summary": summarize(rows),
        "all_requests": total,
        "error_messages": errors,
        "server_log_warnings": [ln for ln in log if " WARNING " in ln or " ERROR " in ln][:20],
        "notes": b.notes,
    }


def table(r: dict[str, Any]) -> str:
    cfg, s = r["config"], r["summary"]
    head = (
        f"{'run':>4} {'errors':>6} {'count 1':>8} {'new pid':>8} {'serving':>8} {'start':>6} {'setup':>6} {'floor':>6}"
        f" {'fl.setup':>8} {'serv/fl':>7} {'p50 b/d/a (ms)':>18} {'p99 b/d/a (ms)':>20}"
    )
    lines = [
        f"failover: SIGKILL of 1 of 2 instances under {cfg['rate']:g} req/s ({cfg['threads']} threads, open loop);"
        f" {cfg['runs']} runs; times in s from the kill",
        head,
    ]
    for k, row in enumerate(r["runs"], 1):
        ev, fl, w = row["event"], row["floor"], row["windows"]
        serving = ev.get("serving_s", math.nan)
        lines.append(
            f"{k:>4} {sum(x['errors'] for x in w.values()):>6} {ev.get('count_1_s', math.nan):>8.3f}"
            f" {ev.get('new_pid_s', math.nan):>8.3f} {serving:>8.3f} {ev['start_s']:>6.3f}"
            f" {ev.get('setup_s', math.nan):>6.3f} {fl['in_service_s']:>6.3f} {fl.get('setup_s', math.nan):>8.3f}"
            f" {serving / fl['in_service_s']:>7.1f}"
            f" {w['before']['p50_ms']:>6.1f}/{w['during']['p50_ms']:>5.1f}/{w['after']['p50_ms']:>5.1f}"
            f" {w['before']['p99_ms']:>6.1f}/{w['during']['p99_ms']:>6.1f}/{w['after']['p99_ms']:>6.1f}"
        )
    lines.append(
        f"{'med':>4} {s['errors']:>6} {s['count_1_s']:>8.3f} {s['new_pid_s']:>8.3f} {s['serving_s']:>8.3f}"
        f" {s['start_s']:>6.3f} {s['setup_s']:>6.3f} {s['floor_in_service_s']:>6.3f} {s['floor_setup_s']:>8.3f}"
        f" {s['serving_over_floor']:>7.1f}"
        f" {s['before_p50_ms']:>6.1f}/{s['during_p50_ms']:>5.1f}/{s['after_p50_ms']:>5.1f}"
        f" {s['before_p99_ms']:>6.1f}/{s['during_p99_ms']:>6.1f}/{s['after_p99_ms']:>6.1f}"
    )
    lines += [
        "",
        f"{'figure':<52} {'value':>10} {'target':>16}",
        f"{'client-visible errors, all runs (errors column total)':<52} {s['errors']:>10}"
        f" {'= ' + str(TARGET_ERRORS) + '  ' + verdict(s['errors'] <= TARGET_ERRORS):>16}",
        f"{'kill → replacement serving, median (s)':<52} {s['serving_s']:>10.3f}"
        f" {'< ' + format(TARGET_SERVING_S, 'g') + ' s  ' + verdict(s['serving_s'] < TARGET_SERVING_S):>16}",
        f"{'  ÷ floor (CreateEndpoint → InService, idle)':<52} {s['serving_over_floor']:>10.1f} {'(information)':>16}",
        f"{'start (count 1 → serving) ÷ floor':<52} {s['start_over_floor']:>10.2f} {'(information)':>16}",
        f"{'latency during ÷ before, p50':<52} {s['p50_during_over_before']:>10.2f} {'(information)':>16}",
        f"{'latency during ÷ before, p99':<52} {s['p99_during_over_before']:>10.2f} {'(information)':>16}",
        f"{'latency after ÷ before, p50':<52} {s['p50_after_over_before']:>10.2f} {'(information)':>16}",
        "",
        "count 1: CurrentInstanceCount first read 1: homeport noticed the exit (the engine reports it; the health"
        f" tick, {health_tick_s():g} s, is the fallback); new pid: the replacement process first seen;"
        " serving: count 2 again with the"
        " replacement; start: count 1 → serving; setup: the replacement's ModelSetupTime.",
        "floor / fl.setup: a fresh 1-instance endpoint, load paused: CreateEndpoint → InService, its ModelSetupTime.",
        f"latency from the due time (open loop): before = the {WINDOW_S:g} s before the kill, during = kill → serving,"
        f" after = the {WINDOW_S:g} s from serving.",
        f"all requests: {r['all_requests']['requests']:,}, {r['all_requests']['errors']} errors, p50"
        f" {r['all_requests']['p50_ms']:.2f} ms, p99 {r['all_requests']['p99_ms']:.2f} ms",
    ]
    lines += [f"error: {e}" for e in r["error_messages"]]
    lines += [f"server log: {ln}" for ln in r["server_log_warnings"][:5]]
    lines += [f"note: {n}" for n in r["notes"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="kills, one per run (default 5)")
    parser.add_argument("--rate", type=float, default=200.0, help="requests a second, open loop (default 200)")
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before the first run")
    add_cores_option(parser)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the server is stopped on the way out
    results = measure(args)
    print(table(results))
    write_results("failover", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
