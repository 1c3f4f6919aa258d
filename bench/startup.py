#!/usr/bin/env python3
"""Server start-up: `homeport serve` from exec to ready, beside the FastAPI + xgboost peer, in one run.

    .venv/bin/python bench/startup.py               # 5 interleaved rounds: about half a minute
    .venv/bin/python bench/startup.py --rounds 11

Rows, each started pinned to the server core with a fresh data directory, interleaved round by round:
homeport (instances forked from the zygote, the default), homeport with HOMEPORT_PREFORK=false (no zygote
competing for the core while the server starts), and the peer of bench/invoke.py (FastAPI or Starlette +
xgboost on uvicorn, the Abalone model loaded): exec to the line each prints once it listens. Then, on one
homeport whose zygote is up, `--endpoints` times from CreateEndpoint to the endpoint's first reply (an
InvokeEndpoint retried every 5 ms). Issue 17's targets: homeport ready in <= 1.0 s and <= 1.2x the peer's start
in the same run; an endpoint's first reply <= 0.3 s after CreateEndpoint.

Python caches compiled bytecode (`__pycache__`) unless PYTHONDONTWRITEBYTECODE is set; without the cache every
start compiles homeport's modules again (about a third of a second here). The table says which it was.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from invoke import SERVER_CORE, build_model, pinned

from batch import say  # bench/ is on sys.path: this file runs beside them

HERE = Path(__file__).resolve().parent
TARGET_S, TARGET_RATIO, TARGET_FIRST_REPLY_S = 1.0, 1.2, 0.3
ROLE = "arn:aws:iam::000000000000:role/bench"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ZYGOTE_WAIT_S = 5.0  # after ready, for the zygote's imports
READY = {"homeport": "homeport listening on ", "peer": "listening "}


def started(cmd: list[str], env: dict[str, str], ready: str) -> float:
    """Seconds from exec to the child's `ready` line on stdout; the child (and its own children) then stopped."""
    begin = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, start_new_session=True)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith(ready):
                return time.perf_counter() - begin
        raise RuntimeError(f"{cmd[2:4]} exited with {proc.wait()} before it was ready")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def first_replies(work: Path, tarball: Path, body: bytes, endpoints: int) -> list[float]:
    """Seconds from CreateEndpoint to the first InvokeEndpoint answered, for `endpoints` new endpoints."""
    import boto3
    from botocore.exceptions import ClientError

    from homeport.server.process import ServerProcess

    server = ServerProcess(work / "endpoints", env={"HOMEPORT_LOG_LEVEL": "warning"}).start()
    try:
        common = {"endpoint_url": server.url, "region_name": "us-east-1"}
        keys = {"aws_access_key_id": server.access_key_id, "aws_secret_access_key": server.secret_access_key}
        sm, runtime = boto3.client("sagemaker", **common, **keys), boto3.client("sagemaker-runtime", **common, **keys)
        time.sleep(ZYGOTE_WAIT_S)
        times = []
        for i in range(endpoints):
            container = {"Image": IMAGE, "ModelDataUrl": tarball.as_uri()}
            sm.create_model(ModelName=f"m{i}", ExecutionRoleArn=ROLE, PrimaryContainer=container)
            variant = {
                "VariantName": "v",
                "ModelName": f"m{i}",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
            sm.create_endpoint_config(EndpointConfigName=f"c{i}", ProductionVariants=[variant])
            begin = time.perf_counter()
            sm.create_endpoint(EndpointName=f"e{i}", EndpointConfigName=f"c{i}")
            while True:
                try:
                    runtime.invoke_endpoint(EndpointName=f"e{i}", Body=body, ContentType="text/csv")
                    break
                except ClientError:
                    time.sleep(0.005)
            times.append(time.perf_counter() - begin)
            say(f"  endpoint {i + 1}: first reply {times[-1]:.3f} s after CreateEndpoint")
        return times
    finally:
        server.stop()


def measure(args: argparse.Namespace) -> dict[str, list[float]]:
    work = Path(tempfile.mkdtemp(prefix="homeport-startup-"))
    booster, tarball, _, body = build_model(work / "model")
    model = work / "xgboost-model"
    booster.save_model(str(work / "model.ubj"))
    (work / "model.ubj").rename(model)
    base = {**os.environ, "HOMEPORT_ACCESS_KEY_ID": "bench", "HOMEPORT_SECRET_ACCESS_KEY": "bench-secret"}
    base["HOMEPORT_LOG_LEVEL"] = "warning"
    runs: dict[str, list[float]] = {"homeport": [], "homeport, no zygote": [], "peer": []}
    serve = [sys.executable, "-m", "homeport", "serve", "--port", "0", "--data-dir"]
    peer = [sys.executable, str(HERE / "invoke.py"), "--serve", "fastapi", "--model", str(model)]
    with pinned({SERVER_CORE}):
        for round_ in range(args.rounds):
            runs["homeport"].append(started([*serve, str(work / f"a{round_}")], base, READY["homeport"]))
            quiet = {**base, "HOMEPORT_PREFORK": "false"}
            runs["homeport, no zygote"].append(started([*serve, str(work / f"b{round_}")], quiet, READY["homeport"]))
            runs["peer"].append(started(peer, base, READY["peer"]))
            say(f"  round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in runs.items()))
        if args.endpoints:
            runs["first reply"] = first_replies(work, tarball, body, args.endpoints)
    return runs


def table(runs: dict[str, list[float]]) -> str:
    peer = statistics.median(runs["peer"])
    cached = "off (PYTHONDONTWRITEBYTECODE)" if sys.flags.dont_write_bytecode else "on"
    lines = [f"{'start to ready':<22} {'median s':>9} {'÷ peer':>7}  {'every round (s)'}"]
    for name, values in runs.items():
        median = statistics.median(values)
        if name == "first reply":
            rounds = " ".join(f"{v:.3f}" for v in values)
            ok = "ok" if median <= TARGET_FIRST_REPLY_S else "MISSED"
            lines.append(f"{'CreateEndpoint to reply':<22} {median:>9.3f} {'':>7}  {rounds}  target <= 0.3 s: {ok}")
            continue
        ratio = median / peer
        verdict = ""
        if name == "homeport":
            ok = median <= TARGET_S and ratio <= TARGET_RATIO
            verdict = f"  target <= {TARGET_S:g} s and <= {TARGET_RATIO:g}x: {'ok' if ok else 'MISSED'}"
        rounds = " ".join(f"{v:.2f}" for v in values)
        lines.append(f"{name:<22} {median:>9.2f} {ratio:>7.2f}  {rounds}{verdict}")
    lines.append(f"(pinned to core {SERVER_CORE}; bytecode cache {cached}; peer: bench/invoke.py's FastAPI + xgboost)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--endpoints", type=int, default=5, help="endpoints timed to their first reply (0: none)")
    args = parser.parse_args(argv)
    runs: Any = measure(args)
    print(table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
