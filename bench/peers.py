#!/usr/bin/env python3
"""Peers side by side: homeport, the in-process server (FastAPI + xgboost) and whichever of MLflow, BentoML and
Ray Serve are installed, serving the same model under the same load, in one run (issue 17).

    .venv/bin/python bench/peers.py                                          # homeport and the in-process server
    .venv/bin/python bench/peers.py --peer-python /tmp/peers-venv/bin/python # plus the peers installed there
    .venv/bin/python bench/peers.py --quick --only homeport,fastapi          # one round of 1 s per level

Each row, in turn and round by round: started pinned to the server core (exec to its first correct reply timed),
its prediction checked against the in-process booster's, loaded by bench/invoke.py's load generator (pinned to the
load core) at c=1, 16 and 64, the PSS of its whole process tree sampled after each level, checked again, stopped.
One server runs at a time, so that one peer's background work (Ray's) never lands on another's row. The table
shows medians over the rounds; the ratios are homeport's to the in-process server's (with issue 17's targets) and
each other peer's to homeport's (for information). See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from invoke import (
    LEVELS,
    LOADGEN_CORE,
    SERVER_CORE,
    SERVER_ENV,
    Child,
    Homeport,
    LoadGen,
    affinity,
    build_model,
    can_pin,
    fastapi_app,
    fmt,
    free_port,
    median_run,
    peer_label,
    pinned,
)

from batch import TreeRss, descendants, say, write_results  # bench/ is on sys.path: this file runs beside them

HERE = Path(__file__).resolve().parent
TOLERANCE = 1e-4  # relative, on the one prediction
# homeport ÷ the in-process server, per column: (bound, whether it is a ceiling). Issue 17's targets.
TARGETS: dict[str, tuple[float, bool]] = {
    "p50": (1.2, True),
    "p99": (1.5, True),
    "rps16": (2.0, False),
    "rps64": (2.0, False),
    "pss": (1.5, True),
}
# (key, header, digits, figure of a row or of one round's record): the table's columns, in order.
COLUMNS: tuple[tuple[str, str, int, Callable[[dict[str, Any]], float]], ...] = (
    ("p50", "p50 c=1 µs", 0, lambda r: r["c1"]["p50_us"]),
    ("p99", "p99 c=1 µs", 0, lambda r: r["c1"]["p99_us"]),
    ("rps16", "rps c=16", 0, lambda r: r["c16"]["rps"]),
    ("rps64", "rps c=64", 0, lambda r: r["c64"]["rps"]),
    ("pss", "PSS MB", 0, lambda r: r["pss_mb"]),
    ("start", "start s", 2, lambda r: r["start_s"]),
)


# --------------------------------------------------------------------------------------------------------
# The rows: what each needs, how it starts
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    name: str
    modules: tuple[str, ...]  # what the peers' interpreter must import; the first one's version labels the row
    install: str


PEERS = {
    "mlflow": Peer("MLflow", ("mlflow", "xgboost", "pandas"), "pip install mlflow xgboost"),
    "bentoml": Peer("BentoML", ("bentoml", "xgboost", "numpy"), "pip install bentoml xgboost"),
    "ray": Peer("Ray Serve", ("ray", "xgboost", "fastapi", "uvicorn"), "pip install 'ray[serve]' xgboost fastapi"),
}
ROWS = ("homeport", "inline", "fastapi", *PEERS)  # inline: homeport with HOMEPORT_INSTANCE_MODE=inline

# Run by an interpreter that may not be this one: which modules it finds, and their distributions' versions.
PROBE = """
import importlib.metadata as md, importlib.util as u, json, sys
dists = md.packages_distributions()
def version(m):
    for d in dists.get(m, [m]):
        try:
            return md.version(d)
        except md.PackageNotFoundError:
            pass
    return "?"
print(json.dumps({m: (version(m) if u.find_spec(m) else None) for m in sys.argv[1:]}))
"""

MLFLOW_SAVE = """
import sys, mlflow.xgboost, xgboost
booster = xgboost.Booster()
booster.load_model(sys.argv[1])
mlflow.xgboost.save_model(booster, sys.argv[2])
"""

# BentoML's own way (1.2+): a typed API; its serde takes JSON (a `text/csv` body is parsed as JSON too), so this
# row's request is `{"rows": [[...]]}`. `async def`, as every other row's handler, so no row pays a thread hop.
BENTO_SERVICE = """
import os

import bentoml
import numpy as np
import xgboost


@bentoml.service(workers=1)
class Abalone:
    def __init__(self) -> None:
        self.booster = xgboost.Booster()
        self.booster.load_model(os.environ["PEER_MODEL"])
        self.booster.set_param({"nthread": 1})

    @bentoml.api(route="/invocations")
    async def predict(self, rows: np.ndarray) -> np.ndarray:
        return self.booster.inplace_predict(np.asarray(rows, dtype=np.float64), validate_features=False)
"""


def probe(python: str, modules: list[str]) -> dict[str, str | None]:
    try:
        out = subprocess.run(
            [python, "-c", PROBE, *modules], capture_output=True, text=True, timeout=300, check=True
        ).stdout
        found: dict[str, str | None] = json.loads(out.splitlines()[-1])
        return found
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as e:
        say(f"cannot ask {python} what it has: {e}")
        return dict.fromkeys(modules)


@dataclass
class Context:
    work: Path
    row: np.ndarray
    body: bytes  # the CSV row
    model: Path  # the booster, UBJ
    tarball: Path
    expected: float
    python: str  # the optional peers' interpreter
    versions: dict[str, str | None]
    round: int = 0


@dataclass
class Running:
    """A row's server while it runs: the root of its process tree, where its request goes, how to stop it."""

    pid: int
    url: str
    body: bytes
    stop: Callable[[], None]
    headers: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None  # a peer started here: checked for an early exit
    log: Path | None = None


def peer_env(ctx: Context, extra: dict[str, str]) -> dict[str, str]:
    # MLflow runs `uvicorn` from PATH: put the peers' interpreter's own scripts first.
    path = f"{Path(ctx.python).parent}:{os.environ.get('PATH', '')}"
    return {**os.environ, **SERVER_ENV, "PATH": path, **extra}


def spawn(ctx: Context, name: str, cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> Running:
    """Start a peer pinned to the server core, in its own session, output to a log in the work directory.
    The command's last argument is the port it listens on."""
    log = ctx.work / f"{name}-{ctx.round}.log"
    port = int(cmd[-1])
    with pinned({SERVER_CORE}), open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
    return Running(proc.pid, f"http://127.0.0.1:{port}", ctx.body, lambda: stop_tree(proc), proc=proc, log=log)


def stop_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the peer's session, then SIGKILL whatever is left of the tree it grew (Ray's raylet, workers)."""
    tree = [proc.pid, *descendants(proc.pid)]  # before any of them dies: orphans leave the tree
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)
    for pid in tree:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)


def start_homeport(ctx: Context, env: dict[str, str] | None = None) -> Running:
    where = ctx.work / f"homeport-{'-'.join(env or {}) or 'process'}-{ctx.round}"  # each row its own data directory
    homeport = Homeport(ctx.tarball, where, body=ctx.body, env=env or {})
    try:
        homeport.start()  # exec, then CreateModel / CreateEndpointConfig / CreateEndpoint, InService
    except BaseException:
        homeport.stop()
        raise
    return Running(homeport.server.proc.pid, homeport.url, ctx.body, homeport.stop, homeport.headers)


def start_fastapi(ctx: Context) -> Running:
    child = Child("fastapi", ctx.model).start()
    assert child.proc is not None
    return Running(child.proc.pid, child.url, ctx.body, child.stop)


def prepare_mlflow(ctx: Context) -> None:
    """`mlflow models serve` takes a saved MLflow model: saved once, by the peers' interpreter, before the clock."""
    cmd = [ctx.python, "-c", MLFLOW_SAVE, str(ctx.model), str(ctx.work / "mlflow-model")]
    done = subprocess.run(cmd, capture_output=True, text=True, env=peer_env(ctx, {}), timeout=600)
    if done.returncode:
        raise RuntimeError(f"saving the MLflow model failed: {done.stderr.strip().splitlines()[-1:]}")


def start_mlflow(ctx: Context) -> Running:
    version = tuple(int(v) for v in (ctx.versions["mlflow"] or "0").split(".")[:2] if v.isdigit())
    env_flag = ["--env-manager", "local"] if version >= (1, 20) else ["--no-conda"]
    model = str(ctx.work / "mlflow-model")
    cmd = [ctx.python, "-m", "mlflow", "models", "serve", "-m", model, *env_flag, "--host", "127.0.0.1"]
    env = peer_env(ctx, {"MLFLOW_TRACKING_URI": (ctx.work / "mlruns").as_uri()})
    running = spawn(ctx, "mlflow", [*cmd, "--port", str(free_port())], env)
    # MLflow reads a CSV body with pandas, whose first line is the header: the same row, under column names.
    names = ",".join(f"f{i}" for i in range(ctx.row.shape[1]))
    running.body = names.encode() + b"\n" + ctx.body
    return running


def prepare_bentoml(ctx: Context) -> None:
    (ctx.work / "bento").mkdir(exist_ok=True)
    (ctx.work / "bento" / "service.py").write_text(BENTO_SERVICE)


def start_bentoml(ctx: Context) -> Running:
    app = ctx.work / "bento"
    cmd = [ctx.python, "-m", "bentoml", "serve", "service:Abalone", "--working-dir", str(app), "--host", "127.0.0.1"]
    extra = {"PEER_MODEL": str(ctx.model), "BENTOML_HOME": str(ctx.work / "bentoml"), "BENTOML_DO_NOT_TRACK": "True"}
    running = spawn(ctx, "bentoml", [*cmd, "--port", str(free_port())], peer_env(ctx, extra), cwd=app)
    running.body = json.dumps({"rows": ctx.row.tolist()}).encode()
    running.headers = {"Content-Type": "application/json"}
    return running


def start_ray(ctx: Context) -> Running:
    cmd = [ctx.python, str(Path(__file__).resolve()), "--serve-ray", str(ctx.model), str(ctx.work / "ray")]
    # PYTHONPATH: Ray's workers unpickle the deployment, which may name bench/invoke.py's module.
    env = peer_env(ctx, {"RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(HERE)})
    return spawn(ctx, "ray", [*cmd, str(free_port())], env)


def serve_ray(model: Path, tmp: Path, port: int) -> None:
    """The Ray Serve peer's driver (run by the peers' interpreter): a local Ray on one CPU, its HTTP proxy on
    `port`, and one replica of the in-process server's own FastAPI app as the deployment's ingress."""
    import ray
    from ray import serve

    app = fastapi_app(model)

    @serve.deployment(num_replicas=1)
    @serve.ingress(app)
    class Abalone:
        pass

    ray.init(num_cpus=1, include_dashboard=False, _temp_dir=str(tmp), log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(Abalone.bind(), route_prefix="/", blocking=True)  # type: ignore[attr-defined]


STARTERS: dict[str, Callable[[Context], Running]] = {
    "homeport": start_homeport,
    "inline": lambda ctx: start_homeport(ctx, {"HOMEPORT_INSTANCE_MODE": "inline"}),
    "fastapi": start_fastapi,
    "mlflow": start_mlflow,
    "bentoml": start_bentoml,
    "ray": start_ray,
}
PREPARE: dict[str, Callable[[Context], None]] = {"mlflow": prepare_mlflow, "bentoml": prepare_bentoml}


# --------------------------------------------------------------------------------------------------------
# Replies and load
# --------------------------------------------------------------------------------------------------------


class Load(LoadGen):
    """invoke.py's load generator, for bodies wrk's Lua script cannot hold as they are (MLflow's two lines,
    BentoML's JSON): the script gets the body escaped, the asyncio generator the bytes."""

    def script(self, url: str) -> Path:
        raw = self.body
        self.body = raw.decode().replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").encode()
        try:
            return super().script(url)
        finally:
            self.body = raw


def reply(running: Running) -> tuple[int, str]:
    host, _, path = running.url.removeprefix("http://").partition("/")
    conn = http.client.HTTPConnection(host, timeout=10)
    try:
        target = "/" + "/".join(p for p in (path, "invocations") if p)
        conn.request("POST", target, running.body, {"Content-Type": "text/csv", **running.headers})
        answer = conn.getresponse()
        return answer.status, answer.read().decode(errors="replace")
    finally:
        conn.close()


def score(text: str) -> float:
    """The one prediction in a reply: CSV (`6.57`), or JSON (`[6.57]`, MLflow's `{"predictions": [6.57]}`)."""
    try:
        return float(text.strip())
    except ValueError:
        value: Any = json.loads(text)
    while not isinstance(value, int | float):
        value = value["predictions"] if isinstance(value, dict) else value[0]
    return float(value)


def check(running: Running, expected: float, answer: tuple[int, str] | None = None) -> None:
    status, text = answer or reply(running)
    if status != 200:
        raise RuntimeError(f"{running.url} answered {status}: {text[:200]}")
    got = score(text)
    if abs(got - expected) > TOLERANCE * max(1.0, abs(expected)):
        raise RuntimeError(f"{running.url} predicted {got}, the in-process booster {expected}")


def first_reply(running: Running, expected: float, begin: float, timeout_s: float) -> float:
    """Seconds from `begin` (before exec) to the first correct reply, polled every 20 ms."""
    while True:
        with contextlib.suppress(OSError, http.client.HTTPException):
            answer = reply(running)
            if answer[0] == 200:
                check(running, expected, answer)
                return time.perf_counter() - begin
        if running.proc is not None and running.proc.poll() is not None:
            raise RuntimeError(f"it exited with {running.proc.returncode}{log_tail(running)}")
        if time.perf_counter() - begin > timeout_s:
            raise RuntimeError(f"no correct reply in {timeout_s:g} s{log_tail(running)}")
        time.sleep(0.02)


def log_tail(running: Running, lines: int = 15) -> str:
    if running.log is None or not running.log.exists():
        return ""
    return "; its log ends:\n" + "\n".join(running.log.read_text(errors="replace").splitlines()[-lines:])


# --------------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------------


def one_round(key: str, ctx: Context, args: argparse.Namespace, use_wrk: bool) -> dict[str, Any]:
    """Start the row's server, time its first reply, load it at each level, sample its tree's PSS, stop it."""
    begin = time.perf_counter()
    running = STARTERS[key](ctx)
    try:
        record: dict[str, Any] = {"start_s": first_reply(running, ctx.expected, begin, args.start_timeout)}
        signed = {k: v for k, v in running.headers.items() if k.lower() != "authorization"}  # no signatures
        record["request"] = {"body": running.body.decode(), "headers": signed}
        load = Load(running.body, use_wrk, ctx.work, {running.url: running.headers})
        tree = TreeRss(running.pid)
        for level in LEVELS:
            load.run(running.url, level, args.warmup)
            record[f"c{level}"] = run = load.run(running.url, level, args.duration)
            tree.sample()  # after the load: buffers and caches grown
            say(
                f"  {ctx.round + 1}/{args.rounds} {key:<8} c={level:<3} {run['rps']:>8,.0f} rps "
                f"p50 {run['p50_us']:>7,.0f} µs p99 {run['p99_us']:>7,.0f} µs"
            )
        check(running, ctx.expected)
        record.update(pss_mb=tree.peak_kb / 1024, processes=tree.most_processes, affinity=affinity(running.pid))
        say(f"  {ctx.round + 1}/{args.rounds} {key:<8} start {record['start_s']:.2f} s, PSS {record['pss_mb']:.0f} MB")
        return record
    finally:
        running.stop()


def label(key: str, versions: dict[str, str | None]) -> str:
    if key == "homeport":
        return "homeport"
    if key == "inline":
        return "homeport, inline instance"
    if key == "fastapi":
        return peer_label()
    return f"{PEERS[key].name} {versions[PEERS[key].modules[0]]}"


def available(args: argparse.Namespace) -> tuple[list[str], dict[str, str | None], list[str]]:
    """The rows to run, the peers' versions, and a line for each peer skipped."""
    wanted = [key for key in ROWS if key in args.only]
    modules = sorted({m for key in wanted if key in PEERS for m in PEERS[key].modules})
    versions = probe(args.peer_python, modules) if modules else {}
    rows, skipped = [], []
    for key in wanted:
        missing = [m for m in PEERS[key].modules if versions.get(m) is None] if key in PEERS else []
        if missing:
            skipped.append(
                f"{PEERS[key].name}: skipped, {args.peer_python} cannot import {', '.join(missing)} "
                f"({PEERS[key].install}; or --peer-python PATH)"
            )
        else:
            rows.append(key)
    return rows, versions, skipped


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {f"c{level}": median_run([r[f"c{level}"] for r in rounds]) for level in LEVELS}
    for name in ("pss_mb", "start_s"):
        row[name] = statistics.median(r[name] for r in rounds)
    row["processes"] = max(r["processes"] for r in rounds)
    row["affinity"], row["request"] = rounds[-1]["affinity"], rounds[-1]["request"]
    row["every_round"] = {key: [get(r) for r in rounds] for key, _, _, get in COLUMNS}
    return row


def ratios(rows: dict[str, Any]) -> dict[str, dict[str, float]]:
    """homeport ÷ the in-process server; each other peer ÷ homeport. Only rows that were measured."""
    pairs = [("homeport", "fastapi"), ("inline", "fastapi"), *((key, "homeport") for key in PEERS)]
    found = {}
    for top, bottom in pairs:
        if "c1" in rows.get(top, {}) and "c1" in rows.get(bottom, {}):
            found[f"{top}/{bottom}"] = {key: get(rows[top]) / get(rows[bottom]) for key, _, _, get in COLUMNS}
    return found


def measure(args: argparse.Namespace) -> dict[str, Any]:
    if can_pin():
        os.sched_setaffinity(0, {LOADGEN_CORE})
    os.environ["OMP_NUM_THREADS"] = "1"
    use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and shutil.which("wrk") is not None)
    keys, versions, skipped = available(args)
    for note in skipped:
        say(note)
    import boto3  # noqa: F401  (imported before the clock: homeport's start should not pay this bench's import)

    rows: dict[str, Any] = {key: {"label": label(key, versions)} for key in keys}
    with tempfile.TemporaryDirectory(prefix="homeport-peers-") as tmp:
        work = Path(tmp)
        booster, tarball, row, body = build_model(work / "model")
        booster.save_model(str(work / "model.ubj"))
        expected = float(booster.inplace_predict(row, validate_features=False).ravel()[0])
        ctx = Context(work, row, body, work / "model.ubj", tarball, expected, args.peer_python, versions)
        records: dict[str, list[dict[str, Any]]] = {key: [] for key in keys}
        for key in keys:
            try:
                PREPARE.get(key, lambda _: None)(ctx)
            except (OSError, subprocess.SubprocessError, RuntimeError) as e:
                rows[key]["error"] = f"could not prepare it: {e}"
                say(f"{rows[key]['label']}: {rows[key]['error']}")
        for round_ in range(args.rounds):
            ctx.round = round_
            shift = round_ % max(1, len(keys))  # each round starts one row further on
            for key in keys[shift:] + keys[:shift]:
                if "error" in rows[key]:
                    continue
                try:
                    records[key].append(one_round(key, ctx, args, use_wrk))
                except Exception as e:
                    rows[key]["error"] = f"round {round_ + 1}: {e}"
                    say(f"{rows[key]['label']}: failed, dropped from the next rounds: {e}")
    for key, measured in records.items():
        if measured:
            rows[key].update(summarize(measured))
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "peer_python": args.peer_python,
        "versions": {**probe(sys.executable, ["xgboost", "fastapi", "uvicorn", "homeport"]), **versions},
        "loadgen": "wrk -t1" if use_wrk else "asyncio (bench/invoke.py)",
        "duration_s": args.duration,
        "rounds": args.rounds,
        "warmup_s": args.warmup,
        "pinning": {"loadgen": LOADGEN_CORE, "servers": SERVER_CORE} if can_pin() else "none (fewer than 2 cores)",
        "request_body": body.decode(),
        "expected": expected,
        "skipped": skipped,
        "rows": rows,
        "ratios": ratios(rows),
        "targets": {key: {"max" if ceiling else "min": bound} for key, (bound, ceiling) in TARGETS.items()},
    }


# --------------------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------------------


def line(name: str, cells: list[str], width: int = 30) -> str:
    return f"{name:<{width}}" + "".join(f" {c:>10}" for c in cells)


def table(results: dict[str, Any]) -> str:
    rows = results["rows"]
    lines = [line("row", [h for _, h, _, _ in COLUMNS] + ["processes"])]
    for row in rows.values():
        if "c1" not in row:
            lines.append(f"{row['label']:<30} not measured: {row.get('error', '?')}")
            continue
        cells = [fmt(get(row), digits) for _, _, digits, get in COLUMNS]
        lines.append(line(row["label"], [*cells, str(row["processes"])]))
    lines += [f"  ({skipped})" for skipped in results["skipped"]]
    if results["ratios"]:
        lines += ["", line("ratio", [h.split(" µs")[0].removesuffix(" MB").removesuffix(" s") for _, h, *_ in COLUMNS])]
    for pair, values in results["ratios"].items():
        top, bottom = pair.split("/")
        lines.append(line(f"{rows[top]['label']} ÷ {rows[bottom]['label']}", [f"{values[k]:.3g}" for k, *_ in COLUMNS]))
        if pair in ("homeport/fastapi", "inline/fastapi"):
            bounds = [TARGETS.get(k) for k, *_ in COLUMNS]
            lines.append(line("  target", [f"{'<=' if b[1] else '>='} {b[0]:g}" if b else "" for b in bounds]))
            verdicts = [
                "" if b is None else ("ok" if (values[k] <= b[0] if b[1] else values[k] >= b[0]) else "MISSED")
                for (k, *_), b in zip(COLUMNS, bounds, strict=True)
            ]
            lines.append(line("", verdicts))
    lines += ["", "every round, in order (the table shows the medians):"]
    for row in (row for row in rows.values() if "every_round" in row):
        for key, header, digits, _ in COLUMNS:
            lines.append(
                f"  {row['label']:<28} {header:<11} " + "  ".join(fmt(v, digits) for v in row["every_round"][key])
            )
    errors = sum(row[f"c{level}"]["errors"] for row in rows.values() if "c1" in row for level in LEVELS)
    lines += [
        "",
        "start s: exec to the first correct reply (homeport's includes CreateModel, CreateEndpointConfig,"
        " CreateEndpoint and DescribeEndpoint polled every 0.2 s);",
        "PSS: the server and all its descendants, summed; the most of the samples taken after each level.",
        f"load: {results['loadgen']}, {results['rounds']} round(s) of {results['duration_s']:g} s per level after"
        f" {results['warmup_s']:g} s warmup; failed requests: {errors}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--peer-python", default=sys.executable, metavar="PATH", help="interpreter for MLflow, BentoML, Ray"
    )
    parser.add_argument(
        "--only", type=lambda v: set(v.split(",")), default=set(ROWS), metavar="NAMES", help=",".join(ROWS)
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the table shows medians")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds measured per row, level and round")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before each measurement")
    parser.add_argument("--quick", action="store_true", help="one round of 1 s per level")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--start-timeout", type=float, default=180.0, help="seconds a server may take to answer")
    parser.add_argument("--serve-ray", nargs=3, metavar=("MODEL", "TMP", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_ray:
        serve_ray(Path(args.serve_ray[0]), Path(args.serve_ray[1]), int(args.serve_ray[2]))
        return 0
    if unknown := args.only - set(ROWS):
        parser.error(f"--only: unknown {', '.join(sorted(unknown))} (known: {', '.join(ROWS)})")
    if args.quick:
        args.rounds, args.duration = 1, 1.0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops every server
    results = measure(args)
    print(table(results))
    write_results("peers", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
