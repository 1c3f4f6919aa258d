#!/usr/bin/env python3
"""Server start-up: `homeport serve` from exec to ready, beside the FastAPI + xgboost peer, in one run.

    .venv/bin/python bench/startup.py               # 5 interleaved rounds: about half a minute
    .venv/bin/python bench/startup.py --rounds 11

Rows, each started pinned to the server core with a fresh data directory, interleaved round by round:
homeport (instances forked from the zygote, the default), homeport with HOMEPORT_PREFORK=false (no zygote
competing for the core while the server starts), and the peer of bench/invoke.py (FastAPI or Starlette +
xgboost on uvicorn, the Abalone model loaded): exec to the line each prints once it listens. Issue 17's
targets: homeport ready in <= 1.0 s, and <= 1.2x the peer's start in the same run.

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
TARGET_S, TARGET_RATIO = 1.0, 1.2
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


def measure(args: argparse.Namespace) -> dict[str, list[float]]:
    work = Path(tempfile.mkdtemp(prefix="homeport-startup-"))
    booster, _, _, _ = build_model(work / "model")
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
    return runs


def table(runs: dict[str, list[float]]) -> str:
    peer = statistics.median(runs["peer"])
    cached = "off (PYTHONDONTWRITEBYTECODE)" if sys.flags.dont_write_bytecode else "on"
    lines = [f"{'start to ready':<22} {'median s':>9} {'÷ peer':>7}  {'every round (s)'}"]
    for name, values in runs.items():
        median = statistics.median(values)
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
    args = parser.parse_args(argv)
    runs: Any = measure(args)
    print(table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
