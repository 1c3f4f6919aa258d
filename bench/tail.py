#!/usr/bin/env python3
"""The tail at one connection: sequential InvokeEndpoint calls on one keep-alive connection, each timed, and where
in time the slow ones fall.

    .venv/bin/python bench/tail.py                                  # 15,000 calls: about half a minute
    .venv/bin/python bench/tail.py --env HOMEPORT_HEALTH_INTERVAL_S=3600 --calls 30000

homeport serves the worked example's Abalone model (one CSV row per call) from a fresh data directory, the server
and its instance pinned to the server core and this client to the load core, as bench/invoke.py does. Printed:
p50 / p90 / p99 / p99.9 / max, how many calls took over 3x the p50, how those fall across the phases of a second
(a periodic cause, such as the 1 s health check, piles them into one phase), and the median gap between them.
`--env NAME=VALUE` (repeatable) sets the server's environment, to test one cause at a time (issue 17).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import invoke
from invoke import LOADGEN_CORE, Homeport, build_model, pinned

from batch import say, write_results  # bench/ is on sys.path: this file runs beside them

WARMUP = 500
SLOW = 3.0  # a call over this many times the p50 is slow


def timed_calls(homeport: Homeport, calls: int) -> tuple[list[float], list[float]]:
    """(latency ms, start s since the first call) of `calls` sequential calls on one keep-alive connection."""
    connection = http.client.HTTPConnection(homeport.server.url.removeprefix("http://"))
    headers = {**homeport.headers, "Content-Type": "text/csv"}
    path = "/endpoints/bench/invocations"
    for _ in range(WARMUP):
        connection.request("POST", path, homeport.body, headers)
        connection.getresponse().read()
    latencies, starts = [], []
    first = time.perf_counter()
    for _ in range(calls):
        begin = time.perf_counter()
        connection.request("POST", path, homeport.body, headers)
        reply = connection.getresponse()
        reply.read()
        end = time.perf_counter()
        if reply.status != 200:
            raise RuntimeError(f"InvokeEndpoint answered {reply.status}")
        latencies.append((end - begin) * 1000)
        starts.append(begin - first)
    connection.close()
    return latencies, starts


def summary(latencies: list[float], starts: list[float]) -> dict[str, Any]:
    q = statistics.quantiles(latencies, n=1000)
    p50 = q[499]
    slow = [(t, ms) for t, ms in zip(starts, latencies, strict=True) if ms > SLOW * p50]
    phases = [0] * 10
    for t, _ in slow:
        phases[int((t % 1.0) * 10)] += 1
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(slow)]
    return {
        "calls": len(latencies),
        "p50_ms": p50,
        "p90_ms": q[899],
        "p99_ms": q[989],
        "p999_ms": q[998],
        "max_ms": max(latencies),
        "slow": len(slow),
        "slow_phase_deciles": phases,
        "slow_median_gap_s": statistics.median(gaps) if gaps else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=15000)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server (repeatable)")
    args = parser.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.env)
    invoke.SERVER_ENV.update(extra)
    work = Path(tempfile.mkdtemp(prefix="homeport-tail-"))
    _, tarball, _, body = build_model(work / "model")
    homeport = Homeport(tarball, work / "data")
    homeport.body = body
    homeport.start()
    try:
        with pinned({LOADGEN_CORE}):
            result = summary(*timed_calls(homeport, args.calls))
    finally:
        homeport.stop()
    result["server_env"] = extra
    say(
        f"{result['calls']:,} calls at c=1: p50 {result['p50_ms']:.3f}, p90 {result['p90_ms']:.3f}, "
        f"p99 {result['p99_ms']:.3f}, p99.9 {result['p999_ms']:.3f}, max {result['max_ms']:.1f} ms"
    )
    gap = result["slow_median_gap_s"]
    say(
        f"over {SLOW:g}x p50: {result['slow']}; across the phases of a second (tenths): "
        f"{result['slow_phase_deciles']}; median gap {'-' if gap is None else f'{gap:.3f} s'}"
    )
    write_results("tail", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
