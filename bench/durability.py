#!/usr/bin/env python3
"""What durable commits cost: two `homeport serve`s side by side, HOMEPORT_DURABLE_COMMITS true and false.

    .venv/bin/python bench/durability.py            # 3 interleaved rounds: 1-2 minutes on 2 cores
    .venv/bin/python bench/durability.py --quick    # small counts, one round: 10-20 s
    .venv/bin/python bench/durability.py --tmp /var/tmp --rounds 5

Both servers run at once, each on its own data directory in one temporary directory (`--tmp`, default $TMPDIR),
so both write to the same filesystem. With `true` (the default) SQLite commits with `synchronous=FULL` (its WAL
fsynced at each commit) and the object store also syncs renames and new directories; with `false` SQLite runs
`NORMAL` and no directory is synced (a process crash loses nothing, a power loss may). Files over the inline
size are fsynced in both modes.

Measured in one run, each part on the durable and on the relaxed server back to back (which goes first alternates
round by round), `--rounds` times (3); the table shows medians:

1. Small PutObject: `--small` (2,000) 1 KiB objects, distinct keys, from `--threads` (8) boto3 client threads
   (one client each): objects/s, latency p50 / p99.
2. CreateModel + DeleteModel pairs through the SageMaker API, from the same threads: `--models` (500) pairs, pairs/s.
   CreateModel checks that ModelDataUrl exists, so a tiny XGBoost model.tar.gz is uploaded first.
3. Larger PutObject: `--large` (50) objects of 1 MiB from the same threads: MB/s.
4. The floor, on the same filesystem: a 4 KiB `pwrite` + `os.fdatasync` loop on one file (`--syncs`, 500, each
   round), syncs/s and ms per sync: what one synced commit costs on this disk at the least. The same loop appending
   (the file grows at every sync, so its size is synced too) is kept for information.

For each part: durable value, relaxed value, durable ÷ relaxed (the median of the rounds' ratios), the disk's
write requests per operation (from /proc/diskstats, the whole device, so other activity counts too: compare with
the floor's per sync; the flush counter is kept in the JSON: it stayed at 0 on the VM this was written on) and the
CPU used by the server and by this process. For small puts also "syncs per object", (1/durable rate - 1/relaxed rate)
÷ the floor's seconds per sync: roughly how many floor-priced syncs each durable object waits for.

Pinning (2 cores): this process and its client threads on core 0, both servers on core 1. Results go to
bench/results/durability-<time>.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import platform
import secrets
import shutil
import signal
import statistics
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from async_inference import log_summary
from invoke import LOADGEN_CORE, SERVER_CORE, affinity, can_pin, pinned
from s3_transfer import _version, cpu_s

from batch import say, stderr_to, write_results  # bench/ is on sys.path: this file runs beside them

KiB, MiB = 1024, 1024 * 1024
BUCKET = "bench-durability"
MODEL_KEY = "model/model.tar.gz"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::000000000000:role/bench"
MODES = ("durable", "relaxed")
PARTS = ("small", "models", "large")
WORKING_TARGET = 0.5  # small puts: durable objects/s / relaxed objects/s >= 0.5 (the project's working target)


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by the nearest rank; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def median(values: list[float]) -> float:
    good = [v for v in values if not math.isnan(v)]
    return statistics.median(good) if good else math.nan


# --------------------------------------------------------------------------------------------------------
# The machine: pinning, CPU, the disk's counters
# --------------------------------------------------------------------------------------------------------


def machine_ticks() -> tuple[int, int]:
    """(steal, all) clock ticks of the whole machine so far, from /proc/stat: how much a hypervisor took."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    steal = fields[7] if len(fields) > 7 else 0
    return steal, sum(fields[:8])


def own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


@dataclass
class Disk:
    """The block device under a directory, as /proc/diskstats names it, and the filesystem it holds."""

    name: str | None
    fstype: str
    mount: str

    @staticmethod
    def of(path: Path) -> Disk:
        st = os.stat(path)
        major, minor = os.major(st.st_dev), os.minor(st.st_dev)
        name = None
        with contextlib.suppress(OSError), open("/proc/diskstats") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 3 and int(parts[0]) == major and int(parts[1]) == minor:
                    name = parts[2]
        fstype, mount = "?", "/"
        resolved = str(path.resolve())
        with contextlib.suppress(OSError), open("/proc/self/mounts") as f:
            for line in f:
                fields = line.split()
                point = fields[1].replace("\\040", " ")
                inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(mount):
                    fstype, mount = fields[2], point
        return Disk(name, fstype, mount)

    def counters(self) -> dict[str, int]:
        """Writes and flush requests completed so far (kernels before 4.18 have no flush fields: absent)."""
        if self.name is None:
            return {}
        with contextlib.suppress(OSError), open("/proc/diskstats") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 3 and parts[2] == self.name:
                    out = {"writes": int(parts[7])}
                    if len(parts) >= 19:
                        out["flushes"] = int(parts[17])
                    return out
        return {}


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in after if k in before}


# --------------------------------------------------------------------------------------------------------
# The floor: 4 KiB written and fdatasync'd, again and again, on one file
# --------------------------------------------------------------------------------------------------------


def sync_floor(directory: Path, syncs: int, disk: Disk) -> dict[str, Any]:
    """Overwriting one 4 KiB block (the least a synced commit costs) and, for information, appending 4 KiB."""
    block = os.urandom(4 * KiB)
    path = directory / "floor.bin"
    out: dict[str, Any] = {"syncs": syncs}
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for mode in ("overwrite", "append"):
            os.ftruncate(fd, 0)
            os.pwrite(fd, block, 0)
            os.fsync(fd)  # the file exists, with its first block, on disk: the loop measures only data syncs
            before = disk.counters()
            t0 = time.perf_counter()
            for i in range(syncs):
                os.pwrite(fd, block, 0 if mode == "overwrite" else (i + 1) * len(block))
                os.fdatasync(fd)
            seconds = time.perf_counter() - t0
            io_ = delta(disk.counters(), before)
            out[mode] = {
                "seconds": seconds,
                "syncs_s": syncs / seconds,
                "ms_per_sync": seconds / syncs * 1e3,
                "writes_per_sync": io_["writes"] / syncs if "writes" in io_ else None,
                "flushes_per_sync": io_["flushes"] / syncs if "flushes" in io_ else None,
            }
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    return out


# --------------------------------------------------------------------------------------------------------
# The servers
# --------------------------------------------------------------------------------------------------------


@dataclass
class Server:
    mode: str  # "durable" or "relaxed"
    proc: Any  # homeport.server.process.ServerProcess
    log: Path
    s3: list[Any] = field(default_factory=list)  # one boto3 client per thread
    sm: list[Any] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return int(self.proc.proc.pid)


def start_server(mode: str, work: Path, keys: tuple[str, str]) -> Server:
    from homeport.server.process import ServerProcess

    env = {
        "PYTHONUNBUFFERED": "1",
        "HOMEPORT_LOG_LEVEL": "warning",
        "HOMEPORT_DURABLE_COMMITS": "true" if mode == "durable" else "false",
        "HOMEPORT_PREFORK": "false",  # no endpoints here: no zygote importing xgboost on the server core
        "HOMEPORT_ACCESS_KEY_ID": keys[0],
        "HOMEPORT_SECRET_ACCESS_KEY": keys[1],
    }
    log = work / f"homeport-{mode}.log"
    with pinned({SERVER_CORE}), stderr_to(log):
        proc = ServerProcess(work / f"data-{mode}", env=env).start()
    return Server(mode, proc, log)


def make_clients(server: Server, session: Any, threads: int) -> None:
    """One S3 and one SageMaker client per thread (made here, one after the other: client creation is not
    thread-safe), no retries: a failed call is counted, not hidden."""
    from botocore.config import Config

    common: dict[str, Any] = {
        "endpoint_url": server.proc.url,
        "region_name": "us-east-1",
        "aws_access_key_id": server.proc.access_key_id,
        "aws_secret_access_key": server.proc.secret_access_key,
        "config": Config(retries={"total_max_attempts": 1}, read_timeout=120, max_pool_connections=2),
    }
    server.s3 = [session.client("s3", **common) for _ in range(threads)]
    server.sm = [session.client("sagemaker", **common) for _ in range(threads)]


def model_archive() -> tuple[bytes, str]:
    """A tiny model.tar.gz: an XGBoost booster (4 features, 3 trees) saved as the container's `xgboost-model`."""
    try:
        import numpy as np
        import xgboost
    except ImportError:  # CreateModel only checks that the object exists
        payload, what = b"not a model: CreateModel only checks that ModelDataUrl exists\n", "placeholder file"
    else:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 4)).astype(np.float32)
        y = x @ np.arange(1, 5, dtype=np.float32)
        booster = xgboost.train({"max_depth": 2, "nthread": 1}, xgboost.DMatrix(x, label=y), num_boost_round=3)
        payload, what = bytes(booster.save_raw("ubj")), f"XGBoost {xgboost.__version__} booster"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(payload)
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue(), what


def prepare(server: Server, archive: bytes) -> None:
    """The bucket and the model archive; every client's connection opened; a few untimed operations of each kind."""
    s3, sm = server.s3[0], server.sm[0]
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=MODEL_KEY, Body=archive)

    def warm(t: int) -> None:
        server.s3[t].head_bucket(Bucket=BUCKET)
        for i in range(4):
            server.s3[t].put_object(Bucket=BUCKET, Key=f"warmup/{t}/{i}", Body=b"w" * KiB)
        name = f"bench-warmup-{t}"
        create_model(server.sm[t], name)
        server.sm[t].delete_model(ModelName=name)

    run_threads(len(server.s3), 1, lambda t, _i: warm(t))
    sm.list_models(MaxResults=1)


def create_model(sm: Any, name: str) -> None:
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/{MODEL_KEY}"},
    )


def error_text(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response["Error"]
        return f"{err.get('Code', '?')}: {err.get('Message', '')}"
    return f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------------------------------------
# The parts
# --------------------------------------------------------------------------------------------------------


def run_threads(threads: int, n: int, one: Callable[[int, int], None]) -> float:
    """`one(thread, i)` for i in 0..n-1 spread over `threads` threads (i % threads), all released at once, each
    as fast as it can (closed loop); the wall seconds from the release to the last one done."""
    gate = threading.Barrier(threads + 1)

    def worker(t: int) -> None:
        gate.wait()
        for i in range(t, n, threads):
            one(t, i)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    gate.wait()
    t0 = time.perf_counter()
    for t in pool:
        t.join()
    return time.perf_counter() - t0


def measure_part(server: Server, part: str, n: int, round_: int, disk: Disk, body: bytes) -> dict[str, Any]:
    """One part on one server: N operations from the threads; rate, latency, errors, CPU, the disk's counters."""
    threads = len(server.s3)
    latency: list[float] = [math.nan] * n
    errors: list[str] = []
    lock = threading.Lock()

    def one(t: int, i: int) -> None:
        t0 = time.perf_counter()
        try:
            if part == "models":
                name = f"bench-r{round_}-{i:06d}"
                create_model(server.sm[t], name)
                server.sm[t].delete_model(ModelName=name)
            else:
                server.s3[t].put_object(Bucket=BUCKET, Key=f"{part}/r{round_}/{i:06d}", Body=body)
        except Exception as exc:
            with lock:
                errors.append(error_text(exc))
            return
        latency[i] = time.perf_counter() - t0

    disk0, server0, own0, ticks0 = disk.counters(), cpu_s(server.pid), own_cpu_s(), machine_ticks()
    seconds = run_threads(threads, n, one)
    own1, server1, io_, ticks1 = own_cpu_s(), cpu_s(server.pid), delta(disk.counters(), disk0), machine_ticks()
    done = [x for x in latency if not math.isnan(x)]
    row: dict[str, Any] = {
        "mode": server.mode,
        "round": round_,
        "ops": n,
        "ok": len(done),
        "errors": len(errors),
        "first_errors": errors[:5],
        "seconds": seconds,
        "rate": len(done) / seconds,
        "p50_ms": pct(done, 0.5) * 1e3,
        "p99_ms": pct(done, 0.99) * 1e3,
        "server_cpu_s": server1 - server0,
        "client_cpu_s": own1 - own0,
        "server_busy": (server1 - server0) / seconds,
        "client_busy": (own1 - own0) / seconds,
        "steal": (ticks1[0] - ticks0[0]) / max(1, ticks1[1] - ticks0[1]),
    }
    if part == "large":
        row["mb_s"] = len(done) * len(body) / MiB / seconds
    if "flushes" in io_:
        row["disk_flushes"] = io_["flushes"]
        row["flushes_per_op"] = io_["flushes"] / n
    if "writes" in io_:
        row["disk_writes"] = io_["writes"]
        row["writes_per_op"] = io_["writes"] / n
    return row


# --------------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------------


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import boto3

    if can_pin():
        os.sched_setaffinity(0, {LOADGEN_CORE})
    base = Path(args.tmp) if args.tmp else None
    work = Path(tempfile.mkdtemp(prefix="homeport-durabench-", dir=base))
    disk = Disk.of(work)
    counts = {"small": args.small, "models": args.models, "large": args.large}
    bodies = {"small": os.urandom(KiB), "models": b"", "large": os.urandom(MiB)}
    servers: dict[str, Server] = {}
    runs: dict[str, list[dict[str, Any]]] = {p: [] for p in PARTS}
    floors: list[dict[str, Any]] = []
    try:
        t0 = time.perf_counter()
        archive, archive_what = model_archive()
        keys = ("HP" + secrets.token_hex(9).upper(), secrets.token_urlsafe(30))
        session = boto3.session.Session()
        for mode in MODES:
            servers[mode] = start_server(mode, work, keys)
            make_clients(servers[mode], session, args.threads)
            prepare(servers[mode], archive)
        pins = {
            "bench": affinity(os.getpid()),
            **{f"homeport_{mode}": affinity(s.pid) for mode, s in servers.items()},
        }
        say(
            f"two servers up in {time.perf_counter() - t0:.1f} s (work dir {work}, {disk.fstype} on"
            f" {disk.name or '?'}); {args.rounds} round(s)"
        )
        for r in range(args.rounds):
            order = MODES if r % 2 == 0 else MODES[::-1]
            floors.append(sync_floor(work, args.syncs, disk))
            say(f"round {r + 1}: floor {floors[-1]['overwrite']['ms_per_sync']:.3f} ms per fdatasync")
            for part in PARTS:
                for mode in order:
                    row = measure_part(servers[mode], part, counts[part], r, disk, bodies[part])
                    runs[part].append(row)
                    shown = f"{row['mb_s']:,.1f} MB/s" if part == "large" else f"{row['rate']:,.0f}/s"
                    say(
                        f"  {part:<6} {mode:<7} {shown:>12}, p50 {row['p50_ms']:.1f} ms, server busy"
                        f" {row['server_busy']:.0%}, client busy {row['client_busy']:.0%}, steal {row['steal']:.0%}"
                        + (f", {row['errors']} errors" if row["errors"] else "")
                    )
    finally:
        for s in servers.values():
            s.proc.stop()
    logs = {mode: log_summary(s.log) for mode, s in servers.items()}
    if args.keep:
        say(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "boto3": _version("boto3"),
        "quick": args.quick,
        "config": {
            "rounds": args.rounds,
            "threads": args.threads,
            "small": args.small,
            "small_bytes": KiB,
            "models": args.models,
            "large": args.large,
            "large_bytes": MiB,
            "syncs": args.syncs,
            "model_archive": f"{len(archive)} bytes ({archive_what})",
        },
        "filesystem": {"tmp": str(work.parent), "fstype": disk.fstype, "mount": disk.mount, "device": disk.name},
        "pinning": pins if can_pin() else "none (fewer than 2 usable cores)",
        "floor": {"rounds": floors, **summarize_floor(floors)},
        "runs": runs,
        "summary": summarize(runs, floors),
        "server_logs": logs,
        "targets": {"small_durable_over_relaxed_min": WORKING_TARGET, "kind": "working target"},
    }


def summarize_floor(floors: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "ms_per_sync": median([f["overwrite"]["ms_per_sync"] for f in floors]),
        "syncs_s": median([f["overwrite"]["syncs_s"] for f in floors]),
        "append_ms_per_sync": median([f["append"]["ms_per_sync"] for f in floors]),
        "writes_per_sync": median([_num(f["overwrite"]["writes_per_sync"]) for f in floors]),
        "append_writes_per_sync": median([_num(f["append"]["writes_per_sync"]) for f in floors]),
        "flushes_per_sync": median([_num(f["overwrite"]["flushes_per_sync"]) for f in floors]),
    }


def _num(value: float | None) -> float:
    return math.nan if value is None else value


def summarize(runs: dict[str, list[dict[str, Any]]], floors: list[dict[str, Any]]) -> dict[str, Any]:
    """Per part and mode, the median over the rounds of each figure; the median of the rounds' ratios."""
    out: dict[str, Any] = {}
    fields = (
        "rate",
        "mb_s",
        "p50_ms",
        "p99_ms",
        "flushes_per_op",
        "writes_per_op",
        "server_busy",
        "client_busy",
        "server_cpu_s",
        "client_cpu_s",
        "steal",
    )
    for part, rows in runs.items():
        by_mode = {m: [r for r in rows if r["mode"] == m] for m in MODES}
        entry: dict[str, Any] = {
            m: {f: median([r[f] for r in by_mode[m] if f in r]) for f in fields if any(f in r for r in by_mode[m])}
            for m in MODES
        }
        for m in MODES:
            entry[m]["errors"] = sum(r["errors"] for r in by_mode[m])
            entry[m]["server_cpu_ms_per_op"] = median([r["server_cpu_s"] / r["ops"] * 1e3 for r in by_mode[m]])
        ratios = [d["rate"] / x["rate"] for d, x in zip(by_mode["durable"], by_mode["relaxed"], strict=True)]
        entry["ratios"] = ratios
        entry["ratio"] = median(ratios)
        out[part] = entry
    floor = summarize_floor(floors)
    small = out["small"]
    extra_s = 1 / small["durable"]["rate"] - 1 / small["relaxed"]["rate"]
    small["extra_ms_per_object"] = extra_s * 1e3
    small["syncs_per_object"] = extra_s / (floor["ms_per_sync"] / 1e3)
    small["syncs_per_object_vs_append"] = extra_s / (floor["append_ms_per_sync"] / 1e3)
    return out


def table(r: dict[str, Any]) -> str:
    cfg, s, floor = r["config"], r["summary"], r["floor"]
    fs = r["filesystem"]
    rounds = cfg["rounds"]
    lines = [
        f"HOMEPORT_DURABLE_COMMITS true (durable) vs false (relaxed): two servers on core {SERVER_CORE}, the client"
        f" on core {LOADGEN_CORE}, {cfg['threads']} threads; median of {rounds} interleaved round"
        f"{'s' if rounds > 1 else ''}",
        f"filesystem: {fs['fstype']} on {fs['device'] or '?'} ({fs['mount']}), under {fs['tmp']}",
        "",
        f"{'figure':<44} {'durable':>14} {'relaxed':>14} {'dur ÷ rel':>10}  target",
    ]

    def add(label: str, durable: str, relaxed: str, ratio: str = "", note: str = "") -> None:
        lines.append(f"{label:<44} {durable:>14} {relaxed:>14} {ratio:>10}  {note}".rstrip())

    def both(part: str, key: str, fmt: str) -> tuple[str, str]:
        d, x = s[part]["durable"].get(key, math.nan), s[part]["relaxed"].get(key, math.nan)
        return format(d, fmt), format(x, fmt)

    def cpu_rows(part: str, unit: str) -> None:
        d, x = both(part, "writes_per_op", ".2f")
        add(f"  disk write requests per {unit}", d, x, "", "(information)")
        d, x = both(part, "server_cpu_ms_per_op", ".2f")
        add(f"  server CPU per {unit} (ms)", d, x, "", "(information)")
        sd, sx = both(part, "server_busy", ".0%")
        cd, cx = both(part, "client_busy", ".0%")
        add("  busy: server core / client core", f"{sd} / {cd}", f"{sx} / {cx}", "", "(information)")

    small = s["small"]
    ok = small["ratio"] >= WORKING_TARGET
    add(
        f"1. PutObject {cfg['small']:,} x 1 KiB (objects/s)",
        *both("small", "rate", ",.0f"),
        f"{small['ratio']:.2f}",
        f"≥ {WORKING_TARGET:g} {'ok' if ok else 'MISSED'} (working target)",
    )
    d, x = both("small", "p50_ms", ".1f")
    dd, xx = both("small", "p99_ms", ".1f")
    add("  latency p50 / p99 (ms)", f"{d} / {dd}", f"{x} / {xx}", "", "(information)")
    cpu_rows("small", "object")
    add(
        "  syncs per object (estimate)",
        f"{small['syncs_per_object']:.2f}",
        "",
        "",
        f"(information) {small['extra_ms_per_object']:.3f} ms ÷ floor;"
        f" {small['syncs_per_object_vs_append']:.2f} ÷ the appending loop",
    )
    models = s["models"]
    add(
        f"2. CreateModel + DeleteModel x {cfg['models']:,} (pairs/s)",
        *both("models", "rate", ",.0f"),
        f"{models['ratio']:.2f}",
        "(information)",
    )
    d, x = both("models", "p50_ms", ".1f")
    dd, xx = both("models", "p99_ms", ".1f")
    add("  pair latency p50 / p99 (ms)", f"{d} / {dd}", f"{x} / {xx}", "", "(information)")
    cpu_rows("models", "pair")
    large = s["large"]
    add(
        f"3. PutObject {cfg['large']:,} x 1 MiB (MB/s)",
        *both("large", "mb_s", ",.1f"),
        f"{large['ratio']:.2f}",
        "(information)",
    )
    d, x = both("large", "p50_ms", ".1f")
    dd, xx = both("large", "p99_ms", ".1f")
    add("  latency p50 / p99 (ms)", f"{d} / {dd}", f"{x} / {xx}", "", "(information)")
    cpu_rows("large", "object")
    writes = floor["writes_per_sync"]
    lines += [
        "",
        f"4. floor: 4 KiB pwrite + fdatasync on one file, same filesystem, {cfg['syncs']} per round:"
        f" {floor['syncs_s']:,.0f} syncs/s, {floor['ms_per_sync']:.3f} ms per sync"
        + ("" if math.isnan(writes) else f", {writes:.2f} disk write requests per sync;")
        + f"\n   appending (the size synced too) {floor['append_ms_per_sync']:.3f} ms (information)",
        "",
        "dur ÷ rel: the median of the rounds' ratios (each round runs both servers back to back). syncs per object:"
        " (1/durable - 1/relaxed objects/s) ÷ the floor's seconds per sync, all threads' objects sharing the wall"
        " clock: waiting of any kind that durable mode adds (a writer waiting on another's synced commit included)"
        " counts, so it exceeds the syncs actually made when writers contend. Disk write requests: /proc/diskstats,"
        " the whole device (other processes and the filesystem's journal count too; compare with the floor's per"
        " sync). Busy: CPU seconds ÷ wall seconds (the client is this process, all its threads).",
    ]
    steal = [row["steal"] for rows in r["runs"].values() for row in rows]
    lines.append(
        f"steal (time the hypervisor took from this VM, share of all its CPU time) during the parts: median"
        f" {median(steal):.0%}, most {max(steal):.0%}; every part of every round: {' '.join(f'{x:.0%}' for x in steal)}"
    )
    for part in PARTS:
        for mode in MODES:
            if s[part][mode]["errors"]:
                lines.append(f"ERRORS: {part} {mode}: {s[part][mode]['errors']} failed calls")
    for mode, log in r["server_logs"].items():
        if log["warnings_and_errors"]:
            first = log["first"][0]
            lines.append(f"server log ({mode}): {log['warnings_and_errors']} WARNING/ERROR lines, first: {first}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, one round (10-20 s)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds, medians reported (default 3; 1 with --quick)")
    parser.add_argument("--threads", type=int, default=8, help="client threads, one boto3 client each (default 8)")
    parser.add_argument("--small", type=int, help="1 KiB PutObjects per round and server (default 2000; --quick 500)")
    parser.add_argument("--models", type=int, help="CreateModel + DeleteModel pairs (default 500; --quick 100)")
    parser.add_argument("--large", type=int, help="1 MiB PutObjects per round and server (default 50; --quick 16)")
    parser.add_argument("--syncs", type=int, help="fdatasyncs in the floor loop, per round (default 500; --quick 200)")
    parser.add_argument("--tmp", help="where the two servers' data directories go (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (data dirs, server logs)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds or (1 if quick else 3)
    args.small = args.small or (500 if quick else 2000)
    args.models = args.models or (100 if quick else 500)
    args.large = args.large or (16 if quick else 50)
    args.syncs = args.syncs or (200 if quick else 500)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops the servers
    results = measure(args)
    print(table(results))
    write_results("durability", results)
    errors = sum(s[m]["errors"] for s in results["summary"].values() for m in MODES)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
