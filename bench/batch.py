#!/usr/bin/env python3
"""Batch transform through homeport, beside the in-process CSV → predict → CSV floors, in one run.

    .venv/bin/python bench/batch.py            # 1 M and 10 M rows; ~6 minutes on 2 cores
    .venv/bin/python bench/batch.py --quick    # 1 M rows, one run of each homeport case; ~1.5 minutes

Input: Abalone-shaped CSV (rows drawn from the worked example's test features: 10 numeric columns, no
header, no label), floats written with six decimals so that a row is 69 bytes (1 M rows = 69 MB). Rows
(see bench/README.md): three floors measured in this run — naive pandas, Arrow, and the SageMaker XGBoost
container's own decode path on one core — then homeport end to end, CreateTransformJob → Completed, for
{one file, 8 files} x {InstanceCount 1, 2}, driven with boto3 against a real `homeport serve`. Every run's
output is read back and compared with the in-process predictions; the peak memory (PSS) of homeport's processes
(the server and its instances, summed) is sampled every 20 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from invoke import load_example  # bench/ is on sys.path: this file runs as a script beside invoke.py

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::000000000000:role/homeport-bench"
BUCKET = "bench-batch"
MODEL_NAME = "bench-batch-model"
MiB = 1024 * 1024
SIZES = (1_000_000, 10_000_000)
SMALL = 2_000_000  # sizes up to this get 3 runs of everything (the median counts); larger ones 1
FILE_COUNTS = (1, 8)
INSTANCE_COUNTS = (1, 2)
PAYLOAD = 6 * MiB  # the SageMaker floor decodes the file in payloads of this size (MaxPayloadInMB default)
POLL_S = 0.05
SAMPLE_S = 0.02
FLOAT_DIGITS = 6  # "%.6f": 7 floats x 8 chars + 3 one-hot digits + 9 commas + "\n" = 69 bytes a row
FLOOR_THREADS = 2  # nthread / OMP_NUM_THREADS for the naive and Arrow floors (both cores)
TARGET_ARROW = 0.7  # homeport rows/s / Arrow floor rows/s >= 0.7
TARGET_SAGEMAKER = 5.0  # homeport rows/s / SageMaker decode path per core >= 5
TARGET_RSS_MB = 1024.0  # peak RSS of homeport's processes, summed, < 1 GiB (stated for the 10 M-row input)
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CORE = 1  # the SageMaker floor's one core


# --------------------------------------------------------------------------------------------------------
# The model and the data
# --------------------------------------------------------------------------------------------------------


def build_model(workdir: Path) -> tuple[Any, Path, Path, np.ndarray]:
    """The worked example's Abalone model: booster, model.tar.gz, the bare `xgboost-model`, the test features."""
    example = load_example()
    splits = example.prepare()
    booster, _ = example.train(splits)
    tarball = example.package_model(booster, workdir)
    booster.save_model(str(workdir / "model.ubj"))
    model_file = (workdir / "model.ubj").rename(workdir / "xgboost-model")
    features, _ = example.features_and_label(splits.test)
    return booster, tarball, model_file, features


def row_table(features: np.ndarray) -> np.ndarray:
    """Each distinct test row as CSV text, all of one width: a (rows, width) uint8 matrix.

    Measurements as floats with six decimals (the data has at most four: the values are unchanged), the
    one-hot Sex columns as 0/1.
    """
    lines = []
    for row in features:
        fields = [f"{v:.{FLOAT_DIGITS}f}" if i < 7 else str(int(v)) for i, v in enumerate(row)]
        lines.append((",".join(fields) + "\n").encode())
    width = len(lines[0])
    if any(len(line) != width for line in lines):
        raise RuntimeError("the test rows do not format to one width; the generator assumes they do")
    return np.frombuffer(b"".join(lines), dtype=np.uint8).reshape(len(lines), width)


def generate(table: np.ndarray, rows: int, path: Path, seed: int = 0) -> np.ndarray:
    """`rows` rows drawn at random from `table` into `path`; the drawn row numbers."""
    which = np.random.default_rng(seed).integers(0, len(table), rows)
    with open(path, "wb") as f:
        for start in range(0, rows, 1_000_000):
            f.write(table[which[start : start + 1_000_000]].tobytes())
    return which


def split_file(path: Path, rows: int, width: int, parts: int, out_dir: Path) -> list[Path]:
    """`path` cut into `parts` files of consecutive rows (part-0.csv ... in row order)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with open(path, "rb") as src:
        for k in range(parts):
            first, last = k * rows // parts, (k + 1) * rows // parts
            part = out_dir / f"part-{k}.csv"
            src.seek(first * width)
            with open(part, "wb") as dst:
                left = (last - first) * width
                while left:
                    block = src.read(min(left, 16 * MiB))
                    dst.write(block)
                    left -= len(block)
            paths.append(part)
    return paths


def check(got: np.ndarray, expected: np.ndarray) -> bool:
    return got.shape == expected.shape and bool(np.allclose(got, expected, rtol=1e-5, atol=1e-6))


# --------------------------------------------------------------------------------------------------------
# The floors
# --------------------------------------------------------------------------------------------------------


def naive_floor(booster: Any, src: Path, out: Path) -> np.ndarray:
    """pandas.read_csv → booster.predict(DMatrix) → to_csv."""
    import pandas as pd
    import xgboost as xgb

    frame = pd.read_csv(src, header=None)
    preds = booster.predict(xgb.DMatrix(frame.to_numpy()))
    pd.Series(preds).to_csv(out, header=False, index=False)
    return preds


def arrow_floor(booster: Any, src: Path, out: Path) -> np.ndarray:
    """pyarrow.csv.read_csv → inplace_predict → pyarrow.csv.write_csv."""
    import pyarrow as pa
    from pyarrow import csv as pacsv

    table = pacsv.read_csv(src, read_options=pacsv.ReadOptions(autogenerate_column_names=True))
    rows = np.column_stack([column.to_numpy() for column in table.columns]).astype(np.float64, copy=False)
    preds = booster.inplace_predict(rows, validate_features=False)
    pacsv.write_csv(pa.table({"p": preds}), out, pacsv.WriteOptions(include_header=False))
    return preds


def payloads(src: Path, size: int = PAYLOAD) -> Iterator[bytes]:
    """The file as batch transform cuts it for the container: whole lines, at most `size` bytes a request."""
    rest = b""
    with open(src, "rb") as f:
        while block := f.read(size - len(rest)):
            block = rest + block
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                raise RuntimeError("a line longer than a payload")
            yield block[:cut]
            rest = block[cut:]
    if rest:
        yield rest


def sagemaker_invocation(booster: Any, payload: bytes) -> tuple[bytes, np.ndarray]:
    """What SageMaker's XGBoost container does with one text/csv request (encoder.csv_to_dmatrix, then the
    prediction written one per line): csv.Sniffer on the first line, str.split of lines and fields, a string
    array cast to float, DMatrix, predict, "\\n".join(map(str, ...))."""
    import xgboost as xgb

    csv_string = payload.decode().strip()
    sniffed = csv.Sniffer().sniff(csv_string.split("\n")[0][:512]).delimiter
    delimiter = "," if sniffed.isalnum() else sniffed
    rows = np.array(
        [["nan" if x == "" else x for x in line.split(delimiter)] for line in csv_string.split("\n")]
    ).astype(float)
    preds = booster.predict(xgb.DMatrix(rows))
    return "\n".join(map(str, preds)).encode() + b"\n", preds


def sagemaker_floor_child(model_file: Path, src: Path, out: Path, preds_out: Path, reps: int) -> None:
    """`--sagemaker-floor`: run in a child on one core with OMP_NUM_THREADS=1; prints the timings as JSON."""
    import xgboost as xgb

    if hasattr(os, "sched_setaffinity") and SERVER_CORE in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {SERVER_CORE})
    booster = xgb.Booster()
    booster.load_model(bytearray(model_file.read_bytes()))
    booster.set_param({"nthread": 1})
    sagemaker_invocation(booster, b"0.5,0.4,0.1,0.5,0.2,0.1,0.15,0,1,0\n")  # warm up
    seconds, cpu = [], []
    preds: list[np.ndarray] = []
    for _ in range(reps):
        preds = []
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        with open(out, "wb") as f:
            for payload in payloads(src):
                body, got = sagemaker_invocation(booster, payload)
                f.write(body)
                preds.append(got)
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - cpu0)
    np.save(preds_out, np.concatenate(preds))
    report = {"seconds": seconds, "cpu_s": cpu, "cpus": sorted(os.sched_getaffinity(0))}
    print("BENCHJSON " + json.dumps(report), flush=True)


def sagemaker_floor(model_file: Path, src: Path, workdir: Path, reps: int) -> tuple[dict[str, Any], np.ndarray]:
    out, preds_out = workdir / "floor-sagemaker.out", workdir / "floor-sagemaker.npy"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--sagemaker-floor",
        str(model_file),
        str(src),
        str(out),
        str(preds_out),
        str(reps),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"the SageMaker floor failed ({done.returncode}):\n{done.stderr[-3000:]}")
    report = json.loads(line[len("BENCHJSON ") :])
    preds = np.load(preds_out)
    out.unlink(missing_ok=True)
    preds_out.unlink(missing_ok=True)
    return report, preds


# --------------------------------------------------------------------------------------------------------
# homeport's processes: memory and CPU from /proc
# --------------------------------------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{parent}/task"):
                with open(f"/proc/{parent}/task/{task}/children") as f:
                    kids = [int(p) for p in f.read().split()]
                found.extend(kids)
                todo.extend(kids)
    return found


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_cpu_s(pid: int) -> tuple[float, float]:
    """(utime + stime, cutime + cstime): a process's own CPU seconds, and its reaped children's."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = [int(v) for v in f.read().rpartition(")")[2].split()[11:15]]
        return (fields[0] + fields[1]) / CLK_TCK, (fields[2] + fields[3]) / CLK_TCK
    except OSError:
        return 0.0, 0.0


def zygotes(pid: int) -> list[int]:
    """The server's zygote (instances are forked from it, and it reaps them)."""
    found = []
    for child in descendants(pid):
        with contextlib.suppress(OSError), open(f"/proc/{child}/cmdline", "rb") as f:
            if b"homeport.engines.zygote" in f.read():
                found.append(child)
    return found


def cpu_s(pid: int) -> tuple[float, float]:
    """(server, instances) CPU seconds: the server's own, and that of instances once they have exited and been
    reaped, by the server (fresh subprocesses) or by its zygote (forked ones), plus the zygote's own."""
    server, reaped = process_cpu_s(pid)
    for zygote in zygotes(pid):
        own, children = process_cpu_s(zygote)
        reaped += own + children
    return server, reaped


def pss_kb(pid: int) -> int:
    """Proportional set size: shared pages (the zygote's, its children's) are counted once across processes."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return rss_kb(pid)


def machine_cpu() -> dict[str, float]:
    """CPU seconds the whole machine has spent busy (user, nice, system, irq, softirq) and stolen, since boot."""
    with contextlib.suppress(OSError, ValueError), open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:9]]
        return {"busy": sum(fields[i] for i in (0, 1, 2, 5, 6)) / CLK_TCK, "steal": fields[7] / CLK_TCK}
    return {"busy": 0.0, "steal": 0.0}


def own_cpu() -> float:
    """CPU seconds of this process and its reaped children (the SageMaker floor, the server once stopped)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Others:
    """CPU used over a block by processes other than this one, its reaped children and homeport (the server and
    its instances): a share of the machine. Kernel threads count as others (writeback of fsync'd files too)."""

    def __init__(self, server_pid: int | None = None) -> None:
        self.pid = server_pid
        self.cpu_s = 0.0
        self.share = 0.0

    def _ours(self) -> float:
        return own_cpu() + (sum(cpu_s(self.pid)) if self.pid else 0.0)

    def __enter__(self) -> Others:
        self._machine, self._ours0, self._t0 = machine_cpu()["busy"], self._ours(), time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        wall = time.perf_counter() - self._t0
        self.cpu_s = max(0.0, machine_cpu()["busy"] - self._machine - (self._ours() - self._ours0))
        self.share = self.cpu_s / (wall * (os.cpu_count() or 1)) if wall > 0 else 0.0


class TreeRss:
    """The memory of a process and all its descendants (PSS, so pages the zygote shares with the instances it
    forked count once), summed every 20 ms from a thread: the peak. The server's own peak is its VmRSS."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self.server_peak_kb = 0
        self.most_processes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        server = rss_kb(self.pid)
        kids = descendants(self.pid)
        total = pss_kb(self.pid) + sum(pss_kb(p) for p in kids)
        self.peak_kb = max(self.peak_kb, total)
        self.server_peak_kb = max(self.server_peak_kb, server)
        self.most_processes = max(self.most_processes, 1 + len(kids))
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(SAMPLE_S)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


# --------------------------------------------------------------------------------------------------------
# homeport
# --------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """Processes started in the block write their stderr to `path` (the server's log, for the timings)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def without_env(name: str) -> Iterator[None]:
    saved = os.environ.pop(name, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[name] = saved


def clients(server: Any) -> tuple[Any, Any]:
    import boto3
    from botocore.config import Config

    common: dict[str, Any] = {
        "endpoint_url": server.url,
        "region_name": "us-east-1",
        "aws_access_key_id": server.access_key_id,
        "aws_secret_access_key": server.secret_access_key,
        "config": Config(retries={"max_attempts": 2}, read_timeout=300, max_pool_connections=16),
    }
    return boto3.client("sagemaker", **common), boto3.client("s3", **common)


def log_times(log_path: Path, job: str) -> dict[str, float]:
    """Epoch seconds of the server's log lines about `job`: when its work started (instances up, plan made)."""
    found: dict[str, float] = {}
    with contextlib.suppress(OSError), open(log_path, errors="replace") as f:
        for line in f:
            if f"transform job {job}:" not in line:
                continue
            try:
                when = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            except ValueError:
                continue
            if "ranges to do" in line:
                found["work_started"] = when
                found["plan"] = line.split(f"transform job {job}: ", 1)[1].strip()  # type: ignore[assignment]
            elif line.rstrip().endswith(("Completed", "Failed")) or ": Failed (" in line:
                found["ended"] = when
    return found


def read_outputs(s3: Any, prefix: str) -> tuple[np.ndarray, list[str]]:
    """Every `.out` object under `prefix`, in key order, parsed as one prediction per line."""
    import pyarrow as pa
    from pyarrow import csv as pacsv

    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    keys.sort(key=lambda k: (len(k), k))
    values = []
    for key in keys:
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        table = pacsv.read_csv(pa.py_buffer(body), read_options=pacsv.ReadOptions(column_names=["p"]))
        values.append(table.column(0).to_numpy())
        del body
    for start in range(0, len(keys), 1000):
        s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]]})
    return (np.concatenate(values) if values else np.empty(0)), keys


def run_job(
    sm: Any, s3: Any, server: Any, log_path: Path, name: str, input_prefix: str, instances: int, expected: np.ndarray
) -> dict[str, Any]:
    """One transform job, CreateTransformJob → Completed, polled every 50 ms; its output checked."""
    pid = server.proc.pid
    idle_kb = rss_kb(pid)
    cpu0 = cpu_s(pid)
    with Others(pid) as others, TreeRss(pid) as rss:
        t0 = time.perf_counter()
        wall0 = time.time()
        sm.create_transform_job(
            TransformJobName=name,
            ModelName=MODEL_NAME,
            TransformInput={
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{input_prefix}/"}},
                "ContentType": "text/csv",
                "SplitType": "Line",
            },
            TransformOutput={"S3OutputPath": f"s3://{BUCKET}/out/{name}/", "AssembleWith": "Line"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": instances},
        )
        while True:
            described = sm.describe_transform_job(TransformJobName=name)
            if described["TransformJobStatus"] in ("Completed", "Failed", "Stopped"):
                break
            time.sleep(POLL_S)
        e2e = time.perf_counter() - t0
        # The instances stop after the status is written: wait for them, so that their CPU time is counted
        # (a reaped child's CPU time goes to its parent) and the next run starts with none.
        deadline = time.monotonic() + 60
        while server.instance_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
    cpu1 = cpu_s(pid)
    status = described["TransformJobStatus"]
    row: dict[str, Any] = {
        "job": name,
        "status": status,
        "e2e_s": e2e,
        "homeport_cpu_s": sum(cpu1) - sum(cpu0),
        "server_cpu_s": cpu1[0] - cpu0[0],
        "instances_cpu_s": cpu1[1] - cpu0[1],
        "others_share": others.share,
        "peak_rss_mb": rss.peak_kb / 1024,
        "server_peak_rss_mb": rss.server_peak_kb / 1024,
        "server_rss_before_mb": idle_kb / 1024,
        "processes": rss.most_processes,
        "rss_samples": rss.samples,
    }
    for key in ("BatchStrategy", "MaxPayloadInMB", "MaxConcurrentTransforms", "FailureReason", "HomeportProgress"):
        if key in described:
            row[key] = described[key]
    start, end = described.get("TransformStartTime"), described.get("TransformEndTime")
    created = described.get("CreationTime")
    if start and end:
        row["job_s"] = (end - start).total_seconds()
    if created and start:
        row["create_to_start_s"] = (start - created).total_seconds()
    if end:
        row["end_to_seen_s"] = (wall0 + e2e) - end.timestamp()
    logged = log_times(log_path, name)
    if start and "work_started" in logged:
        row["startup_s"] = logged["work_started"] - start.timestamp()  # instances up, /execution-parameters, plan
        if end:
            row["work_s"] = end.timestamp() - logged["work_started"]
        row["plan"] = logged.get("plan")
    if status != "Completed":
        row["ok"] = False
        return row
    got, keys = read_outputs(s3, f"out/{name}/")
    row["outputs"] = len(keys)
    row["ok"] = check(got, expected)
    if not row["ok"]:
        row["mismatch"] = (
            f"{len(got)} predictions for {len(expected)} rows"
            if len(got) != len(expected)
            else (f"largest difference {float(np.abs(got - expected).max()):.3g}")
        )
    return row


# --------------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------------


def median_row(runs: list[dict[str, Any]], key: str = "e2e_s") -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: r.get(key, float("inf")))
    return ordered[(len(ordered) - 1) // 2]


def measure_size(args: argparse.Namespace, rows: int, ctx: dict[str, Any]) -> dict[str, Any]:
    work: Path = ctx["work"]
    booster, table, model_file = ctx["booster"], ctx["table"], ctx["model_file"]
    sm, s3, server, log_path = ctx["sm"], ctx["s3"], ctx["server"], ctx["log_path"]
    small = rows <= SMALL
    floor_reps = 3 if small else 1
    homeport_reps = 1 if args.quick or not small else 3
    label = f"{rows // 1_000_000}m" if rows % 1_000_000 == 0 else str(rows)
    width = table.shape[1]

    data = work / f"data-{label}"
    data.mkdir(exist_ok=True)
    src = data / "data.csv"
    t0 = time.perf_counter()
    which = generate(table, rows, src)
    expected = ctx["row_preds"][which]
    del which
    parts = split_file(src, rows, width, 8, data / "parts")
    size = src.stat().st_size
    say(f"{rows:,} rows: {size / 1e6:.1f} MB of CSV ({width} bytes a row), made in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    s3.upload_file(str(src), BUCKET, f"in-{label}-1/data.csv")
    for part in parts:
        s3.upload_file(str(part), BUCKET, f"in-{label}-8/{part.name}")
    say(f"  uploaded both layouts in {time.perf_counter() - t0:.1f} s")
    shutil.rmtree(data / "parts")

    floors: dict[str, list[float]] = {"naive": [], "arrow": [], "sagemaker": []}
    floor_cpu: dict[str, list[float]] = {"naive": [], "arrow": [], "sagemaker": []}
    floor_others: dict[str, list[float]] = {"naive": [], "arrow": [], "sagemaker": []}
    server_pid = server.proc.pid
    floor_ok: dict[str, bool] = {}
    cases = [(files, inst) for files in FILE_COUNTS for inst in INSTANCE_COUNTS]
    homeport: dict[str, list[dict[str, Any]]] = {f"{files}f-{inst}i": [] for files, inst in cases}
    sm_cpus: Any = None
    out = work / "floor.out"
    if ctx.pop("warm_up", False):  # untimed, once: a fresh VM's first touch of memory is slow (see s3_transfer.py)
        booster.set_param({"nthread": FLOOR_THREADS})
        naive_floor(booster, src, out)
        arrow_floor(booster, src, out)
        out.unlink()
    # Interleaved, repetition by repetition, so that drift on a shared machine hits every row alike.
    for rep in range(max(floor_reps, homeport_reps)):
        if rep < floor_reps:
            booster.set_param({"nthread": FLOOR_THREADS})
            for name, fn in (("naive", naive_floor), ("arrow", arrow_floor)):
                with Others(server_pid) as others:
                    cpu0 = time.process_time()  # this process's threads: the floor's CPU
                    t0 = time.perf_counter()
                    preds = fn(booster, src, out)
                    floors[name].append(time.perf_counter() - t0)
                    floor_cpu[name].append(time.process_time() - cpu0)
                floor_others[name].append(others.share)
                floor_ok[name] = floor_ok.get(name, True) and check(np.asarray(preds, np.float64), expected)
                out.unlink()
                del preds
            with Others(server_pid) as others:
                report, preds = sagemaker_floor(model_file, src, work, 1)
            floor_others["sagemaker"].append(others.share)
            floors["sagemaker"] += report["seconds"]
            floor_cpu["sagemaker"] += report["cpu_s"]
            sm_cpus = report["cpus"]
            floor_ok["sagemaker"] = floor_ok.get("sagemaker", True) and check(np.asarray(preds, np.float64), expected)
            say(
                f"  floors, run {rep + 1}: naive {floors['naive'][-1]:.2f} s, arrow {floors['arrow'][-1]:.2f} s,"
                f" sagemaker/core {floors['sagemaker'][-1]:.2f} s"
            )
        if rep < homeport_reps:
            for files, inst in cases:
                key = f"{files}f-{inst}i"
                name = f"bench-{label}-{key}-{rep + 1}-{ctx['stamp']}"
                result = run_job(sm, s3, server, log_path, name, f"in-{label}-{files}", inst, expected)
                homeport[key].append(result)
                say(
                    f"  homeport {files} file(s) x{inst}: {result['status']} in {result['e2e_s']:.2f} s"
                    f" (job {result.get('job_s', float('nan')):.2f} s), peak RSS {result['peak_rss_mb']:,.0f} MB,"
                    f" output {'ok' if result['ok'] else 'WRONG: ' + str(result.get('mismatch', ''))}"
                )
                if result["status"] != "Completed":
                    say(f"    FailureReason: {result.get('FailureReason')}")
    for prefix in (f"in-{label}-1/", f"in-{label}-8/"):
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        if listed:
            s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": o["Key"]} for o in listed]})
    if not args.keep:
        shutil.rmtree(data)

    floor_rows = {}
    for name, runs in floors.items():
        med = statistics.median(runs)
        floor_rows[name] = {
            "seconds": med,
            "rows_s": rows / med,
            "runs_s": runs,
            "ok": floor_ok[name],
            "cpu_s": statistics.median(floor_cpu[name]),
            "runs_cpu_s": floor_cpu[name],
            "others_share_max": max(floor_others[name]),
        }
    floor_rows["sagemaker"]["cpus"] = sm_cpus
    arrow, per_core = floor_rows["arrow"]["rows_s"], floor_rows["sagemaker"]["rows_s"]
    homeport_rows = {}
    for key, runs in homeport.items():
        med = median_row(runs)
        rows_s = rows / med["e2e_s"]
        homeport_rows[key] = {
            **med,
            "rows_s": rows_s,
            "runs_e2e_s": [r["e2e_s"] for r in runs],
            "runs": runs,
            "ok": all(r["ok"] for r in runs),
            "over_arrow": rows_s / arrow,
            "over_sagemaker_core": rows_s / per_core,
            "peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs),
            "others_share_max": max(r["others_share"] for r in runs),
        }
    return {
        "rows": rows,
        "bytes": size,
        "row_bytes": width,
        "floor_runs": floor_reps,
        "homeport_runs": homeport_reps,
        "floors": floor_rows,
        "homeport": homeport_rows,
    }


def write_results(name: str, results: dict[str, Any], stamp: str | None = None) -> Path:
    """Save a benchmark's results as bench/results/<name>-<time>.json and say where."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}-{stamp or time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    print(f"\nwrote {out.relative_to(ROOT)}")
    return out


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from homeport.server.process import ServerProcess

    base = Path(args.tmp) if args.tmp else None
    work = Path(tempfile.mkdtemp(prefix="homeport-batchbench-", dir=base))
    server = None
    machine0, own0, wall0 = machine_cpu(), own_cpu(), time.perf_counter()
    try:
        t0 = time.perf_counter()
        booster, tarball, model_file, features = build_model(work / "model")
        table = row_table(features)
        booster.set_param({"nthread": FLOOR_THREADS})
        import pyarrow as pa
        from pyarrow import csv as pacsv

        # The distinct rows, predicted once from their text (so the text is checked to mean the test features).
        parsed = pacsv.read_csv(
            pa.py_buffer(table.tobytes()), read_options=pacsv.ReadOptions(autogenerate_column_names=True)
        )
        row_preds = booster.inplace_predict(
            np.column_stack([c.to_numpy() for c in parsed.columns]).astype(np.float64), validate_features=False
        ).astype(np.float64)
        if not np.allclose(row_preds, booster.inplace_predict(features, validate_features=False)):
            raise RuntimeError("the written rows do not predict as the test features do")
        log_path = work / "homeport.log"
        with without_env("OMP_NUM_THREADS"), stderr_to(log_path):  # the server runs with homeport's defaults
            server = ServerProcess(work / "data", env={"PYTHONUNBUFFERED": "1"}).start()
        sm, s3 = clients(server)
        s3.create_bucket(Bucket=BUCKET)
        s3.upload_file(str(tarball), BUCKET, "model/model.tar.gz")
        sm.create_model(
            ModelName=MODEL_NAME,
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/model/model.tar.gz"},
        )
        say(f"model built, server up at {server.url} in {time.perf_counter() - t0:.1f} s (work dir {work})")
        ctx = {
            "work": work,
            "booster": booster,
            "table": table,
            "model_file": model_file,
            "row_preds": row_preds,
            "sm": sm,
            "s3": s3,
            "server": server,
            "log_path": log_path,
            "stamp": time.strftime("%H%M%S"),
            "warm_up": True,
        }
        sizes = {}
        for rows in args.rows:
            sizes[str(rows)] = measure_size(args, rows, ctx)
        assert server.proc is not None
        server_hwm = 0
        with contextlib.suppress(OSError), open(f"/proc/{server.proc.pid}/status") as f:
            server_hwm = next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), 0)
    except BaseException:
        if server is not None and (work / "homeport.log").exists():
            tail = (work / "homeport.log").read_text(errors="replace").splitlines()[-30:]
            say("homeport's log, last lines:\n" + "\n".join(tail))
        raise
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    machine1, wall = machine_cpu(), time.perf_counter() - wall0
    # What other processes used while this ran (the server is reaped by now, so its CPU is in own_cpu()).
    others = {
        "cpu_s": max(0.0, (machine1["busy"] - machine0["busy"]) - (own_cpu() - own0)),
        "steal_s": machine1["steal"] - machine0["steal"],
        "wall_s": wall,
    }
    others["share"] = others["cpu_s"] / (wall * (os.cpu_count() or 1))
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions(),
        "quick": args.quick,
        "floor_threads": FLOOR_THREADS,
        "payload_bytes_sagemaker_floor": PAYLOAD,
        "server_vmhwm_mb": server_hwm / 1024,
        "other_processes": others,
        "sizes": sizes,
        "targets": {
            "over_arrow_min": TARGET_ARROW,
            "over_sagemaker_core_min": TARGET_SAGEMAKER,
            "peak_rss_mb_max": TARGET_RSS_MB,
        },
    }


def versions() -> dict[str, str]:
    from importlib.metadata import version

    found = {}
    for name in ("xgboost", "pyarrow", "pandas", "numpy", "boto3"):
        with contextlib.suppress(Exception):
            found[name] = version(name)
    return found


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def table(results: dict[str, Any]) -> str:
    lines = []
    for size in results["sizes"].values():
        floors, homeport = size["floors"], size["homeport"]
        lines.append(
            f"{size['rows']:,} rows, {size['bytes'] / 1e6:,.0f} MB of CSV ({size['row_bytes']} B/row);"
            f" floors: median of {size['floor_runs']}, homeport: median of {size['homeport_runs']}"
        )
        lines.append(
            f"{'row':<36} {'s':>6} {'M rows/s':>8} {'÷ Arrow':>8} {'≥ 0.7':>6} {'÷ SM/core':>9} {'≥ 5':>6}"
            f" {'peak RSS':>8} {'< 1 GiB':>7}  {'job':>5} {'startup':>7} {'cpu':>5} {'check':>5} {'other':>5}"
        )
        lines.append(
            f"{'':<36} {'':>6} {'':>8} {'':>8} {'':>6} {'':>9} {'':>6} {'MiB':>8} {'':>7}"
            f"  {'s':>5} {'s':>7} {'s':>5} {'':>5} {'%':>5}"
        )
        names = {
            "naive": "naive: pandas → predict → to_csv",
            "arrow": "Arrow: read_csv → predict → write",
            "sagemaker": "SageMaker decode path, 1 core",
        }
        for key, label in names.items():
            row = floors[key]
            lines.append(
                f"{label:<36} {row['seconds']:>6.2f} {row['rows_s'] / 1e6:>8.2f}"
                f" {row['rows_s'] / floors['arrow']['rows_s']:>8.2f} {'':>6}"
                f" {row['rows_s'] / floors['sagemaker']['rows_s']:>9.2f} {'':>6} {'':>8} {'':>7}"
                f"  {'':>5} {'':>7} {row['cpu_s']:>5.1f} {'ok' if row['ok'] else 'WRONG':>5}"
                f" {100 * row['others_share_max']:>5.0f}"
            )
        for key, row in homeport.items():
            files, inst = key.split("-")
            label = f"homeport {files[:-1]} file{'s' if files != '1f' else ''}, {inst[:-1]} instance" + (
                "s" if inst != "1i" else ""
            )
            rss = row["peak_rss_mb_max"]

            def cell(value: float | None, fmt: str) -> str:
                return "-" if value is None else format(value, fmt)

            lines.append(
                f"{label:<36} {row['e2e_s']:>6.2f} {row['rows_s'] / 1e6:>8.2f} {row['over_arrow']:>8.2f}"
                f" {verdict(row['over_arrow'] >= TARGET_ARROW):>6} {row['over_sagemaker_core']:>9.2f}"
                f" {verdict(row['over_sagemaker_core'] >= TARGET_SAGEMAKER):>6} {rss:>8,.0f}"
                f" {verdict(rss < TARGET_RSS_MB):>7}  {cell(row.get('job_s'), '.2f'):>5}"
                f" {cell(row.get('startup_s'), '.2f'):>7} {row['homeport_cpu_s']:>5.1f}"
                f" {'ok' if row['ok'] else 'WRONG':>5} {100 * row['others_share_max']:>5.0f}"
            )
        lines.append("")
    lines += [
        "s: the median run's wall time (homeport: CreateTransformJob → Completed seen, polled every 50 ms);"
        " M rows/s = rows ÷ s.",
        "job: TransformStartTime → TransformEndTime from DescribeTransformJob; startup: TransformStartTime → the"
        " server's 'ranges to do' log line (instances up, /execution-parameters, plan);",
        "cpu: CPU seconds (homeport: the server, its zygote and its instances); peak RSS: PSS of the server, its"
        " zygote and its instances, summed (shared pages once),"
        " sampled every 20 ms (the largest over the runs); other: the most CPU that other processes took during"
        " one of the row's runs, % of the machine (over 5 %: that run was disturbed).",
        f"Floors in this process (naive, Arrow: nthread {FLOOR_THREADS}, OMP_NUM_THREADS={FLOOR_THREADS}); the"
        " SageMaker path in a child on one core, OMP_NUM_THREADS=1, in 6 MiB payloads. The RSS target is"
        " stated for the 10 M-row input.",
    ]
    others = results["other_processes"]
    lines.append(
        f"Other processes used {others['cpu_s']:.1f} CPU-s during the run ({100 * others['share']:.0f}% of the"
        f" machine; {others['steal_s']:.1f} s stolen by the hypervisor)"
        + (": the figures are disturbed, run again on a quiet machine" if others["share"] > 0.05 else ".")
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 M rows only, one run of each homeport case")
    parser.add_argument(
        "--rows",
        type=lambda v: [int(float(x)) for x in v.split(",")],
        metavar="N[,N...]",
        help="row counts to measure (default 1000000,10000000; 1000000 with --quick)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (data, server data dir, log)")
    parser.add_argument("--tmp", help="where the work directory goes (default: $TMPDIR)")
    parser.add_argument(
        "--sagemaker-floor", nargs=5, help=argparse.SUPPRESS, metavar=("MODEL", "CSV", "OUT", "PREDS", "REPS")
    )
    args = parser.parse_args(argv)
    if args.sagemaker_floor:
        model, src, out, preds, reps = args.sagemaker_floor
        sagemaker_floor_child(Path(model), Path(src), Path(out), Path(preds), int(reps))
        return 0
    if args.rows is None:
        args.rows = [SIZES[0]] if args.quick else list(SIZES)
    # Before xgboost is first imported (OpenMP reads it once): both cores for the in-process floors.
    os.environ["OMP_NUM_THREADS"] = str(FLOOR_THREADS)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops the server, cleans up
    results = measure(args)
    print(table(results))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"batch-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    print(f"\nwrote {out.relative_to(ROOT)}")
    wrong = [
        key
        for size in results["sizes"].values()
        for part in ("floors", "homeport")
        for key, row in size[part].items()
        if not row["ok"]
    ]
    if wrong:
        print(f"WRONG OUTPUT: {', '.join(wrong)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
