#!/usr/bin/env python3
"""Model Monitor's cost on the request path: real-time throughput with 100 % data capture beside capture off.

    .venv/bin/python bench/monitor.py               # 3 interleaved rounds of 5 s at 16 connections: about a minute
    .venv/bin/python bench/monitor.py --rounds 5 --seconds 10 --connections 64

One `homeport serve` (default settings: captures written every 10 s) with the worked example's Abalone XGBoost
model behind two endpoints on one instance each. One has no DataCaptureConfig. The other captures 100 % of requests
and replies (CSV, so the records hold the text) into the embedded S3 store. Closed-loop load (bench/invoke.py's
generator, one CSV row per request, SigV4-signed) runs on each in turn, round by round. The server is pinned to
the server core as in bench/invoke.py.

Issue 22's target: throughput with capture ≥ 0.9 of capture off. Afterwards the captured objects are counted, to
check that every request answered was captured.

Then the analyzer, in this process: a baseline (statistics and suggested constraints) of `--rows` rows of 10 columns
(9 numeric, one string) read from CSV, a monitoring check of as many drifted rows against it, and a scheduled
execution's work over those rows as data capture's JSON Lines records (read, window-filtered, checked). Each is
timed beside pandas reading the same rows as CSV and running `describe()` on them (all columns), the floor a user
would reach for; the execution also beside pandas doing its work on the same captured records (`read_json(lines=True)`,
the window, each request's CSV split into columns, `describe()`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from invoke import SERVER_CORE, LoadGen, build_model, pinned, signed_headers

from batch import say  # bench/ is on sys.path: this file runs beside them

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ROLE = "arn:aws:iam::000000000000:role/bench"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
TARGET_RATIO = 0.9
BUCKET = "bench-capture"


def deploy(sm: Any, name: str, tarball: Path, capture: dict[str, Any] | None) -> None:
    sm.create_model(
        ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE, "ModelDataUrl": tarball.as_uri()}
    )
    variant = {"VariantName": "v", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    extra = {"DataCaptureConfig": capture} if capture else {}
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant], **extra)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})


def captured_records(s3: Any) -> int:
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="capture/"):
        for item in page.get("Contents", []):
            count += s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read().count(b"\n")
    return count


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import boto3

    from homeport.server.process import ServerProcess

    work = Path(tempfile.mkdtemp(prefix="homeport-monitor-"))
    _, tarball, _, body = build_model(work / "model")
    with pinned({SERVER_CORE}):  # the server and its instances inherit the core
        server = ServerProcess(work / "data", env={"HOMEPORT_LOG_LEVEL": "warning"}).start()
    try:
        common = {
            "endpoint_url": server.url,
            "region_name": "us-east-1",
            "aws_access_key_id": server.access_key_id,
            "aws_secret_access_key": server.secret_access_key,
        }
        sm, s3 = boto3.client("sagemaker", **common), boto3.client("s3", **common)
        s3.create_bucket(Bucket=BUCKET)
        capture = {
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{BUCKET}/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
        }
        deploy(sm, "off", tarball, None)
        deploy(sm, "on", tarball, capture)
        load = LoadGen(body, False, work)
        urls = {name: f"{server.url}/endpoints/{name}" for name in ("off", "on")}
        for url in urls.values():
            load.headers[url] = signed_headers(f"{url}/invocations", body, server)
        runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
        load.run(urls["off"], args.connections, 1)  # warm-up, not counted
        for i in range(args.rounds):
            for name in ("off", "on") if i % 2 == 0 else ("on", "off"):
                runs[name].append(load.run(urls[name], args.connections, args.seconds))
            say(f"  round {i + 1}: " + ", ".join(f"{k} {v[-1]['rps']:,.0f} req/s" for k, v in runs.items()))
        served = sum(int(r["requests"] - r["errors"]) for r in runs["on"])
    finally:
        server.stop()  # writes what it has gathered
    with pinned({SERVER_CORE}):
        server = ServerProcess(work / "data", env={"HOMEPORT_LOG_LEVEL": "warning"}).start()
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id=server.access_key_id,
            aws_secret_access_key=server.secret_access_key,
        )
        records = captured_records(s3)
    finally:
        server.stop()
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "connections": args.connections,
        "seconds": args.seconds,
        "runs": runs,
        "served_with_capture": served,
        "captured_records": records,
    }


def analyzer_speed(rows: int, work: Path) -> dict[str, float]:
    """Seconds for a baseline and a monitoring check of `rows` rows, and for pandas' read_csv + describe()."""
    import numpy as np
    import pandas as pd

    from homeport.monitoring.__main__ import named_like
    from homeport.monitoring.dataset import read
    from homeport.monitoring.statistics import constraints, statistics
    from homeport.monitoring.violations import check

    rng = np.random.default_rng(0)
    paths = {}
    for name, shift in (("baseline", 0.0), ("current", 0.5)):
        frame = pd.DataFrame(rng.normal(shift, 1.0, size=(rows, 9)), columns=[f"f{i}" for i in range(9)])
        frame["sex"] = rng.choice(["M", "F", "I"], size=rows)
        folder = work / name
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_csv(folder / "data.csv", index=False, float_format="%.6f")
        paths[name] = folder
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    base_table = read(paths["baseline"], {"csv": {"header": True}})
    base_stats = statistics(base_table)
    suggested = constraints(base_stats)
    times["baseline_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    current = read(paths["current"], {"csv": {"header": True}})
    outcome = check(suggested, base_stats, current, statistics(current))
    times["check_s"] = time.perf_counter() - t0
    times["violations"] = float(len(outcome.violations))
    # A scheduled execution's input: the same drifted rows as data capture's JSON Lines, one request a record.
    capture = work / "capture"
    capture.mkdir()
    frame = pd.read_csv(paths["current"] / "data.csv")
    texts = frame.to_csv(index=False, header=False, float_format="%.6f").splitlines()
    with open(capture / "00-00-000-bench.jsonl", "w") as f:
        for i, text in enumerate(texts):
            moment = f"2026-12-05T07:{i // 60 % 60:02d}:{i % 60:02d}Z"
            request = {"observedContentType": "text/csv", "mode": "INPUT", "data": text, "encoding": "CSV"}
            reply = {"observedContentType": "text/csv", "mode": "OUTPUT", "data": "0.5", "encoding": "CSV"}
            metadata = {"eventId": str(i), "inferenceTime": moment}
            record = {"captureData": {"endpointInput": request, "endpointOutput": reply}, "eventMetadata": metadata}
            f.write(json.dumps({**record, "eventVersion": "0"}) + "\n")
    t0 = time.perf_counter()
    window = ("2026-12-05T07:00:00Z", "2026-12-05T08:00:00Z")
    captured = named_like(read(capture, {"sagemakerCaptureJson": {}}, window), suggested)
    check(suggested, base_stats, captured, statistics(captured))
    times["execution_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pd.read_csv(paths["baseline"] / "data.csv").describe(include="all")
    times["pandas_s"] = time.perf_counter() - t0
    # pandas on the captured records themselves: JSON Lines read, window kept, each request's CSV split into columns.
    t0 = time.perf_counter()
    records = pd.read_json(capture / "00-00-000-bench.jsonl", lines=True, dtype=False)
    moments = pd.to_datetime(records["eventMetadata"].str["inferenceTime"])
    inside = records[(moments >= pd.Timestamp(window[0])) & (moments <= pd.Timestamp(window[1]))]
    requests = inside["captureData"].str["endpointInput"].str["data"].str.split(",", expand=True)
    requests.iloc[:, :9].astype(float).join(requests.iloc[:, 9:]).describe(include="all")
    times["pandas_capture_s"] = time.perf_counter() - t0
    times["rows"] = float(rows)
    return times


def capture_lines(r: dict[str, Any]) -> list[str]:
    median = {k: statistics.median(run["rps"] for run in v) for k, v in r["runs"].items()}
    p99 = {k: statistics.median(run["p99_us"] for run in v) for k, v in r["runs"].items()}
    ratio = median["on"] / median["off"]
    rounds = ", ".join(
        f"{on['rps'] / off['rps']:.2f}" for on, off in zip(r["runs"]["on"], r["runs"]["off"], strict=True)
    )
    return [
        f"{'capture':<10} {'req/s':>10} {'p99 ms':>8}",
        f"{'off':<10} {median['off']:>10,.0f} {p99['off'] / 1000:>8.2f}",
        f"{'100 %':<10} {median['on']:>10,.0f} {p99['on'] / 1000:>8.2f}",
        "",
        f"throughput with capture / without: {ratio:.2f} (target >= {TARGET_RATIO}: "
        f"{'ok' if ratio >= TARGET_RATIO else 'MISSED'}); round by round {rounds}",
        f"requests answered with capture on: {r['served_with_capture']:,}; records captured: {r['captured_records']:,}",
    ]


def table(r: dict[str, Any]) -> str:
    lines: list[str] = []
    if r["runs"]:
        lines += capture_lines(r)
    a = r.get("analyzer")
    if a:
        rows = a["rows"]
        lines += [
            "",
            f"analyzer, {rows:,.0f} rows x 10 columns: baseline {a['baseline_s']:.2f} s "
            f"({rows / a['baseline_s']:,.0f} rows/s), "
            f"check {a['check_s']:.2f} s ({rows / a['check_s']:,.0f} rows/s, {a['violations']:.0f} violations); "
            f"pandas read_csv + describe() {a['pandas_s']:.2f} s",
            f"baseline / pandas: {a['pandas_s'] / a['baseline_s']:.2f}x its speed; check / pandas: "
            f"{a['pandas_s'] / a['check_s']:.2f}x",
        ]
        if "execution_s" in a:
            lines.append(
                f"scheduled execution over {rows:,.0f} captured records (JSON Lines, window-filtered): "
                f"{a['execution_s']:.2f} s ({rows / a['execution_s']:,.0f} rows/s), "
                f"{a['pandas_s'] / a['execution_s']:.2f}x pandas' speed on the same rows as CSV"
            )
        if "pandas_capture_s" in a:
            lines.append(
                f"pandas on the same captured records (read_json lines, window, split, describe()): "
                f"{a['pandas_capture_s']:.2f} s; the execution is {a['pandas_capture_s'] / a['execution_s']:.2f}x "
                "its speed"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for the analyzer's timing (0: none)")
    args = parser.parse_args(argv)
    results = measure(args) if args.rounds else {"runs": {}}
    if args.rows:
        with tempfile.TemporaryDirectory(prefix="homeport-analyzer-") as tmp:
            results["analyzer"] = analyzer_speed(args.rows, Path(tmp))
    print(table(results))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"monitor-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
