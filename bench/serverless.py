#!/usr/bin/env python3
"""Serverless endpoints: cold starts, a burst to MaxConcurrency, and the idle footprint, in one run.

    .venv/bin/python bench/serverless.py               # 15 cold starts, 3 bursts: about a minute
    .venv/bin/python bench/serverless.py --cold 31 --bursts 5

One `homeport serve` (HOMEPORT_SERVERLESS_IDLE_S=1: a serverless variant stops its instance after 1 s without a
request) with the worked example's Abalone XGBoost model behind two endpoints: a serverless one and, for
comparison, one on an instance. All requests are one CSV row through boto3 (SigV4, no retries).

- Cold: the serverless endpoint is left until it has no instance (DescribeEndpoint's CurrentInstanceCount 0), then
  one InvokeEndpoint is timed from the call to the reply: it starts an instance (forked from the zygote) and waits
  for it. Each is followed by `--warm` timed requests to the now warm variant, and as many to the instance-backed
  endpoint, interleaved. Issue 21's target: p50 cold <= 0.3 s (AWS documents seconds).
- Burst: a serverless endpoint with MaxConcurrency M, idle, gets 2M requests at once (threads released together).
  The first M wait for one cold start; the other M should be refused at once with ThrottlingException. The row
  gives how many were throttled against those M, and the latencies.
- Idle footprint: PSS of the server and all its processes before the serverless endpoint exists and once it is idle
  again (target: nothing but its records).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
from invoke import build_model, signed_headers

from batch import pss_kb, say  # bench/ is on sys.path: this file runs beside them

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ROLE = "arn:aws:iam::000000000000:role/bench"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
TARGET_COLD_S = 0.3
ZYGOTE_WAIT_S = 5.0  # after ready, for the zygote's imports
IDLE_S = 1.0
THROTTLED = "400 ThrottlingException"


def clients(server: Any, pool: int = 10) -> tuple[Any, Any]:
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 1}, max_pool_connections=pool)
    common = {
        "endpoint_url": server.url,
        "region_name": "us-east-1",
        "aws_access_key_id": server.access_key_id,
        "aws_secret_access_key": server.secret_access_key,
        "config": config,
    }
    return boto3.client("sagemaker", **common), boto3.client("sagemaker-runtime", **common)


def create(sm: Any, name: str, tarball: Path, variant: dict[str, Any]) -> None:
    sm.create_model(
        ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE, "ModelDataUrl": tarball.as_uri()}
    )
    sm.create_endpoint_config(
        EndpointConfigName=name, ProductionVariants=[{"VariantName": "v", "ModelName": name, **variant}]
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 600})


def serverless(max_concurrency: int) -> dict[str, Any]:
    return {"ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": max_concurrency}}


def warm_instances(sm: Any, endpoint: str) -> int:
    (variant,) = sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"]
    return int(variant.get("CurrentInstanceCount", 0))


def wait_idle(sm: Any, endpoint: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while warm_instances(sm, endpoint):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{endpoint} kept its instance for {timeout_s} s")
        time.sleep(0.1)


def timed_invoke(runtime: Any, endpoint: str, body: bytes) -> float:
    begin = time.perf_counter()
    reply = runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="text/csv")
    reply["Body"].read()
    return time.perf_counter() - begin


def tree_pss_mb(pid: int) -> float:
    """PSS of a process and all its descendants: pages they share count once."""
    procs = [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    return sum(pss_kb(p) for p in procs) / 1024


def processes(pid: int) -> int:
    return 1 + len(psutil.Process(pid).children(recursive=True))


def burst(sm: Any, server: Any, endpoint: str, body: bytes, requests: int) -> dict[str, Any]:
    """`requests` InvokeEndpoints sent at once: signed and connected beforehand, so that they arrive within a
    millisecond or so of each other (boto3 from threads spreads them over most of a second)."""
    wait_idle(sm, endpoint)
    url = f"{server.url}/endpoints/{endpoint}/invocations"
    parts = urlsplit(url)
    headers = {**signed_headers(url, body, server), "Content-Type": "text/csv"}
    conns = [http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=120) for _ in range(requests)]
    for conn in conns:
        conn.connect()
    gate = threading.Barrier(requests)
    outcomes: list[tuple[str, float]] = []
    lock = threading.Lock()

    def one(conn: http.client.HTTPConnection) -> None:
        gate.wait()
        begin = time.perf_counter()
        conn.request("POST", parts.path, body, headers)
        reply = conn.getresponse()
        reply.read()
        outcome = "ok" if reply.status == 200 else f"{reply.status} {reply.getheader('x-amzn-errortype')}"
        with lock:
            outcomes.append((outcome, time.perf_counter() - begin))

    threads = [threading.Thread(target=one, args=(conn,)) for conn in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for conn in conns:
        conn.close()
    ok = sorted(s for o, s in outcomes if o == "ok")
    throttled = sorted(s for o, s in outcomes if o == THROTTLED)
    return {
        "ok": len(ok),
        "throttled": len(throttled),
        "other": sorted({o for o, _ in outcomes} - {"ok", THROTTLED}),
        "ok_p50_s": statistics.median(ok) if ok else None,
        "ok_max_s": ok[-1] if ok else None,
        "throttled_max_s": throttled[-1] if throttled else None,
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from homeport.server.process import ServerProcess

    work = Path(tempfile.mkdtemp(prefix="homeport-serverless-"))
    _, tarball, _, body = build_model(work / "model")
    env = {"HOMEPORT_LOG_LEVEL": "warning", "HOMEPORT_SERVERLESS_IDLE_S": str(IDLE_S)}
    server = ServerProcess(work / "data", env=env).start()
    try:
        assert server.proc is not None
        pid = server.proc.pid
        sm, runtime = clients(server, pool=2 * args.max_concurrency + 2)
        time.sleep(ZYGOTE_WAIT_S)
        create(sm, "inst", tarball, {"InstanceType": "ml.m5.large", "InitialInstanceCount": 1})
        for _ in range(20):
            timed_invoke(runtime, "inst", body)
        time.sleep(IDLE_S + 1)
        before = {"pss_mb": tree_pss_mb(pid), "processes": processes(pid)}
        create(sm, "sls", tarball, serverless(args.max_concurrency))
        cold: list[float] = []
        warm: list[float] = []
        instance: list[float] = []
        for i in range(args.cold):
            wait_idle(sm, "sls")
            if i == 0:
                time.sleep(IDLE_S)
                idle = {"pss_mb": tree_pss_mb(pid), "processes": processes(pid)}
            cold.append(timed_invoke(runtime, "sls", body))
            for _ in range(args.warm):
                warm.append(timed_invoke(runtime, "sls", body))
                instance.append(timed_invoke(runtime, "inst", body))
            say(f"  cold start {i + 1}: {cold[-1] * 1000:.0f} ms")
        create(sm, "burst", tarball, serverless(args.max_concurrency))
        bursts = []
        for i in range(args.bursts):
            bursts.append(burst(sm, server, "burst", body, 2 * args.max_concurrency))
            say(f"  burst {i + 1}: {bursts[-1]}")
    finally:
        server.stop()
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpus": psutil.cpu_count(),
        "idle_s": IDLE_S,
        "max_concurrency": args.max_concurrency,
        "cold_s": cold,
        "warm_s": warm,
        "instance_s": instance,
        "bursts": bursts,
        "footprint": {"before": before, "idle": idle},
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def table(r: dict[str, Any]) -> str:
    cold, warm, inst = r["cold_s"], r["warm_s"], r["instance_s"]
    p50 = statistics.median
    verdict = "ok" if p50(cold) <= TARGET_COLD_S else "MISSED"
    lines = [
        f"{'requests':<34} {'n':>4} {'p50 ms':>8} {'p90 ms':>8} {'max ms':>8}",
        *(
            f"{label:<34} {len(v):>4} {p50(v) * 1000:>8.1f} {pct(v, 0.9) * 1000:>8.1f} {max(v) * 1000:>8.1f}"
            for label, v in (
                ("serverless, cold (from no instance)", cold),
                ("serverless, warm", warm),
                ("instance-backed endpoint", inst),
            )
        ),
        "",
        f"cold p50 {p50(cold):.3f} s (target <= {TARGET_COLD_S} s: {verdict}); "
        f"{p50(cold) / p50(warm):.1f}x a warm serverless request, {p50(cold) / p50(inst):.1f}x one to an instance",
    ]
    m = r["max_concurrency"]
    for i, b in enumerate(r["bursts"], 1):
        lines.append(
            f"burst {i}: {2 * m} requests at once, MaxConcurrency {m}: {b['ok']} served (p50 "
            f"{(b['ok_p50_s'] or 0) * 1000:.0f} ms, max {(b['ok_max_s'] or 0) * 1000:.0f} ms), {b['throttled']} "
            f"throttled (should be {m}; slowest refusal {(b['throttled_max_s'] or 0) * 1000:.0f} ms)"
            + (f", other errors {b['other']}" if b["other"] else "")
        )
    before, idle = r["footprint"]["before"], r["footprint"]["idle"]
    lines.append(
        f"idle footprint: server and instances {before['pss_mb']:.0f} MB PSS in {before['processes']} processes "
        f"before the serverless endpoint, {idle['pss_mb']:.0f} MB in {idle['processes']} once it is idle "
        f"({idle['pss_mb'] - before['pss_mb']:+.1f} MB)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=15, help="cold starts timed")
    parser.add_argument("--warm", type=int, default=10, help="warm requests timed after each cold start")
    parser.add_argument("--bursts", type=int, default=3)
    parser.add_argument("--max-concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    results = measure(args)
    print(table(results))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"serverless-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
