#!/usr/bin/env python3
"""Large transfers through homeport's S3 face with boto3, beside a plain local file copy, in one run.

    .venv/bin/python bench/s3_transfer.py                  # 1 GiB file; prints a table, writes bench/results/*.json
    .venv/bin/python bench/s3_transfer.py --size-mb 256    # a smaller file

Rows (see bench/README.md): the floor, `shutil.copyfile` of the file on the same filesystem; boto3
`upload_file` (default TransferConfig: multipart, threads) into a `homeport serve`; boto3 `download_file`
back (checked byte for byte via sha256); and one `put_object` of a 64 MiB body (the single-PUT path). The
server's resident memory is sampled every 20 ms from a thread while each transfer runs.

Then the client's ceiling: the same `upload_file` and `download_file` against a server that does no work
(`null_s3`: bodies read and dropped, downloads served from a buffer of zeros, nothing checked). No server can
make boto3 faster than that on this machine, so those two rows bound what the ratio target can reach.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from invoke import serve_app, spawn_listening  # bench/ is on sys.path: this file runs beside invoke.py

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
MiB = 1024 * 1024
BLOCK = 8 * MiB
TARGET_RATIO = 0.5  # upload_file and download_file MB/s / copyfile MB/s >= 0.5
TARGET_CEILING = {"upload": 0.8, "download": 0.9}  # issue 17: of boto3's own speed against a null server
TARGET_RSS_MB = 200.0  # server peak RSS during a transfer - its idle RSS < 200 MB
SAMPLE_S = 0.02
BUCKET = "bench-s3-transfer"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------------------
# Data and measurements
# --------------------------------------------------------------------------------------------------------


def generate(path: Path, size: int, seed: int = 0) -> str:
    """`size` bytes of random data in 8 MiB blocks; their sha256."""
    rng = np.random.default_rng(seed)
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left > 0:
            block = rng.bytes(min(BLOCK, left))
            digest.update(block)
            f.write(block)
            left -= len(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def status_kb(pid: int, field: str) -> int:
    """A `/proc/<pid>/status` field in kB (VmRSS, VmHWM), 0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_s(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except OSError:
        return 0.0


class RssSampler:
    """VmRSS of `pid` every 20 ms from a thread, while the block runs: peak and sample count."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, status_kb(self.pid, "VmRSS"))
            self.samples += 1
            self._stop.wait(SAMPLE_S)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, status_kb(self.pid, "VmRSS"))


def reclaim() -> dict[str, int]:
    """The machine's direct-reclaim counters (/proc/vmstat): pages scanned and stalls, summed over zones."""
    totals = {"pgscan_direct": 0, "allocstall": 0}
    with contextlib.suppress(OSError):
        for line in Path("/proc/vmstat").read_text().splitlines():
            name, _, value = line.partition(" ")
            for key in totals:
                if name.startswith(key):
                    totals[key] += int(value)
    return totals


WARM_MEMORY = True  # --no-warm-memory: leave it off, to see the effect


def warm_memory(size: int) -> None:
    """Touch 1.25x `size` of memory and free it, so that the transfer's page cache is made of recently freed pages.

    On a VM with free page reporting (virtio-balloon), memory that stays free for a few seconds is handed back to
    the host, and the next process to use it pays for faulting it back in: on the 2-core VM, ~2.5 s of system time
    per GiB, writes at 350-600 MB/s instead of 5 GB/s. Whichever transfer came first after a pause paid it, which
    made download_file's ratio swing between 0.55 and 1.35 by its place in the round (issue 17)."""
    if WARM_MEMORY:
        block = np.ones(int(size * 1.25), dtype=np.uint8)
        del block


def timed(fn: Callable[[], Any], size: int, server_pid: int | None = None) -> dict[str, Any]:
    """Run `fn` once: seconds, MB/s (MiB = 2**20 bytes), the CPU seconds of this process and of the server.

    Dirty pages are written out first, so that the writeback of one transfer's file never lands on the next; then
    memory is warmed (`warm_memory`), so that no transfer meets memory the host took back."""
    os.sync()
    warm_memory(size)
    server_cpu0 = cpu_s(server_pid) if server_pid else 0.0
    vm0 = reclaim()
    own0 = os.times()
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    own1 = os.times()
    vm1 = reclaim()
    row: dict[str, Any] = {
        "seconds": seconds,
        "mb_s": size / MiB / seconds,
        "bytes": size,
        "client_cpu_s": (own1.user + own1.system) - (own0.user + own0.system),
        # Where a slow round's extra client CPU goes: Python (user) or the kernel (system), and whether the
        # kernel had to reclaim memory in the allocating process's own time (direct reclaim, allocation stalls).
        "client_user_s": own1.user - own0.user,
        "client_sys_s": own1.system - own0.system,
        **{name: vm1[name] - vm0[name] for name in vm0},
    }
    if server_pid:
        row["server_cpu_s"] = cpu_s(server_pid) - server_cpu0
    return row


# --------------------------------------------------------------------------------------------------------
# boto3
# --------------------------------------------------------------------------------------------------------


def s3_client(server: Any) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
        config=Config(retries={"max_attempts": 1}, read_timeout=300, max_pool_connections=16),
    )


WIRE_HEADERS = (
    "content-encoding",
    "x-amz-content-sha256",
    "x-amz-trailer",
    "content-md5",
    "transfer-encoding",
    "x-amz-sdk-checksum-algorithm",
    "x-amz-checksum-crc32",
    "x-amz-checksum-mode",
    "range",
)


def record_wire(client: Any) -> dict[str, dict[str, str]]:
    """How botocore sends each operation (the first request of each): payload signing, checksums, encoding."""
    seen: dict[str, dict[str, str]] = {}

    def before_send(request: Any, **kwargs: Any) -> None:
        op = kwargs.get("event_name", "").rpartition(".")[2]
        if op in seen:
            return
        headers = {k.lower(): (v.decode() if isinstance(v, bytes) else str(v)) for k, v in request.headers.items()}
        seen[op] = {k: headers[k][:80] for k in WIRE_HEADERS if k in headers}

    client.meta.events.register("before-send.s3", before_send)
    return seen


# --------------------------------------------------------------------------------------------------------
# The client's ceiling: just enough of S3 for upload_file and download_file, doing nothing
# --------------------------------------------------------------------------------------------------------

_NULL_ZEROS = bytes(16 * MiB)  # download ranges are cut from this (boto3 asks for 8 MiB at a time)
_NULL_UPLOAD = (
    b"<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>null</UploadId>"
    b"</InitiateMultipartUploadResult>"
)
_NULL_COMPLETE = (
    b'<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>"null"</ETag></CompleteMultipartUploadResult>'
)


async def null_s3(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    """Bodies are read and dropped; every object is `NULL_SIZE` zero bytes; nothing is signed or checked."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    method, query = scope["method"], scope.get("query_string", b"")
    status, body = 200, b""
    headers = [(b"content-type", b"application/xml"), (b"etag", b'"null"')]
    if method == "POST":
        body = _NULL_UPLOAD if b"uploads" in query else _NULL_COMPLETE
    elif method in ("GET", "HEAD"):
        size = int(os.environ["NULL_SIZE"])
        start, stop = 0, size
        wanted = dict(scope["headers"]).get(b"range")
        if wanted:
            first, _, last = wanted.partition(b"=")[2].partition(b"-")
            start, stop, status = int(first), min(int(last) + 1, size) if last else size, 206  # "bytes=N-": to the end
            headers.append((b"content-range", f"bytes {start}-{stop - 1}/{size}".encode()))
        headers[0] = (b"content-type", b"binary/octet-stream")
        headers.append((b"last-modified", b"Wed, 25 Nov 2026 00:00:00 GMT"))
        if method == "GET":
            body = _NULL_ZEROS[: stop - start] if stop - start <= len(_NULL_ZEROS) else bytes(stop - start)
        headers.append((b"content-length", str(stop - start).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Sink:
    """A file object for download_fileobj that drops what it is given."""

    def write(self, data: bytes) -> int:
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def tell(self) -> int:
        return 0


class NullServer:
    """`python bench/s3_transfer.py --serve-null` in a child process, for the ceiling rows."""

    def __init__(self, size: int) -> None:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-null"]
        self.proc, self.url = spawn_listening(cmd, {**os.environ, "NULL_SIZE": str(size)}, "null S3")
        self.access_key_id = self.secret_access_key = "null"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


# --------------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------------


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from boto3.s3.transfer import TransferConfig

    from homeport.server.process import ServerProcess

    size = args.size_mb * MiB
    base = Path(args.tmp) if args.tmp else None
    with tempfile.TemporaryDirectory(prefix="homeport-s3bench-", dir=base) as tmp:
        work = Path(tmp)  # the file, its copies and the server's data dir: one filesystem
        source, copy, down = work / "source.bin", work / "copy.bin", work / "download.bin"
        t0 = time.perf_counter()
        source_sha = generate(source, size)
        gen_s = time.perf_counter() - t0
        print(f"  generated {args.size_mb} MiB in {gen_s:.1f} s", file=sys.stderr)

        rows: dict[str, Any] = {}
        # The floor: one untimed copy first (a fresh VM's first touch of its memory makes a copy several times
        # slower, a cost the later transfers, reusing those pages, do not pay), then the median of N copies.
        shutil.copyfile(source, copy)
        copy.unlink()
        copies = []
        for _ in range(args.copies):
            copies.append(timed(lambda: shutil.copyfile(source, copy), size))
            copy.unlink()
        rows["copy"] = {
            **sorted(copies, key=lambda r: r["seconds"])[len(copies) // 2],
            "all_mb_s": [round(r["mb_s"]) for r in copies],
        }
        if args.fsync_row:  # for information: the same copy made durable, as the server makes every write

            def copy_fsync() -> None:
                shutil.copyfile(source, copy)
                fd = os.open(copy, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

            rows["copy_fsync"] = timed(copy_fsync, size)
            copy.unlink()
        print(f"  copyfile {rows['copy']['mb_s']:,.0f} MB/s", file=sys.stderr)

        server = ServerProcess(work / "data", env={"PYTHONUNBUFFERED": "1"})
        server.start()
        null = NullServer(size)
        try:
            assert server.proc is not None
            pid = server.proc.pid
            client, null_client = s3_client(server), s3_client(null)
            wire = record_wire(client)
            client.create_bucket(Bucket=BUCKET)
            time.sleep(1.0)
            idle_kb = status_kb(pid, "VmRSS")
            config = TransferConfig()
            rss: dict[str, Any] = {"idle_mb": idle_kb / 1024}

            def sampled(fn: Callable[[], Any], nbytes: int) -> dict[str, Any]:
                with RssSampler(pid) as sampler:
                    row = timed(fn, nbytes, pid)
                row["server_peak_rss_mb"] = sampler.peak_kb / 1024
                row["server_rss_over_idle_mb"] = (sampler.peak_kb - idle_kb) / 1024
                row["rss_samples"] = sampler.samples
                return row

            def unloaded(fn: Callable[[], Any]) -> dict[str, Any]:
                cpu0 = cpu_s(null.proc.pid)
                row = timed(fn, size)
                row["null_server_cpu_s"] = cpu_s(null.proc.pid) - cpu0
                return row

            def verified() -> bool:
                """Whether the downloaded file is the source, byte for byte (outside the timed region)."""
                down_sha, down_size = sha256_of(down), down.stat().st_size
                if down_sha != source_sha:
                    print(
                        f"  MISMATCH: download sha256 {down_sha} ({down_size} bytes), source {source_sha}",
                        file=sys.stderr,
                    )
                return down_sha == source_sha

            # Each pair is homeport's row and the same transfer against the null server. Rounds interleave them, and
            # alternate which goes first: the one right after an upload meets the disk still busy with it (the
            # filesystem discards the blocks the overwritten object freed), and that cost must fall on both.
            pairs: list[tuple[tuple[str, Callable[[], Any]], tuple[str, Callable[[], Any]]]] = [
                (
                    ("upload_file", lambda: client.upload_file(str(source), BUCKET, "big.bin", Config=config)),
                    ("upload_null", lambda: null_client.upload_file(str(source), BUCKET, "big.bin", Config=config)),
                ),
                (
                    ("download_file", lambda: client.download_file(BUCKET, "big.bin", str(down), Config=config)),
                    ("download_null", lambda: null_client.download_file(BUCKET, "big.bin", str(down), Config=config)),
                ),
                (
                    # The same download into a sink that drops the bytes: the client's file writes out of the picture.
                    ("download_sink", lambda: client.download_fileobj(BUCKET, "big.bin", Sink(), Config=config)),
                    (
                        "download_sink_null",
                        lambda: null_client.download_fileobj(BUCKET, "big.bin", Sink(), Config=config),
                    ),
                ),
            ]
            runs: dict[str, list[dict[str, Any]]] = {}
            for i in range(args.rounds):
                done: dict[str, dict[str, Any]] = {}
                for ours, theirs in pairs:
                    for name, fn in (ours, theirs) if i % 2 == 0 else (theirs, ours):
                        done[name] = sampled(fn, size) if name == ours[0] else unloaded(fn)
                        if name == "download_file":
                            done[name]["sha256_ok"] = verified()
                        down.unlink(missing_ok=True)
                for name, row in done.items():
                    runs.setdefault(name, []).append(row)
                print(
                    f"  round {i + 1}: " + ", ".join(f"{name} {row['mb_s']:,.0f} MB/s" for name, row in done.items()),
                    file=sys.stderr,
                )
            head = client.head_object(Bucket=BUCKET, Key="big.bin")
            if head["ContentLength"] != size:
                raise RuntimeError(f"the uploaded object has {head['ContentLength']} bytes, not {size}")
            for name in ("upload_file", "download_file", "download_sink"):
                rows[name] = _median_round(runs[name])
            rows["upload_file"]["etag"] = head["ETag"].strip('"')
            rows["download_file"]["sha256_ok"] = all(r["sha256_ok"] for r in runs["download_file"])
            client.delete_object(Bucket=BUCKET, Key="big.bin")

            if args.put_mb:
                put_size = args.put_mb * MiB
                body = np.random.default_rng(1).bytes(put_size)
                put_sha = hashlib.sha256(body).hexdigest()
                rows["put_object"] = sampled(
                    lambda: client.put_object(Bucket=BUCKET, Key="put.bin", Body=body), put_size
                )
                del body
                got = client.get_object(Bucket=BUCKET, Key="put.bin")["Body"].read()
                rows["put_object"]["sha256_ok"] = hashlib.sha256(got).hexdigest() == put_sha
                del got
                client.delete_object(Bucket=BUCKET, Key="put.bin")
            for name in ("upload_null", "download_null", "download_sink_null"):
                rows[name] = _median_round(runs[name])
            rss["hwm_mb"] = status_kb(pid, "VmHWM") / 1024
            rss["after_mb"] = status_kb(pid, "VmRSS") / 1024
        finally:
            server.stop()
            null.stop()
    copy_mb_s = rows["copy"]["mb_s"]
    for name, row in rows.items():
        if name != "copy":
            row["ratio_to_copy"] = row["mb_s"] / copy_mb_s
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "boto3": _version("boto3"),
        "botocore": _version("botocore"),
        "size_mib": args.size_mb,
        "put_mib": args.put_mb,
        "generate_s": round(gen_s, 2),
        "transfer_config": {
            k: getattr(config, k)
            for k in ("multipart_threshold", "multipart_chunksize", "max_concurrency", "use_threads")
        },
        "rows": rows,
        "server_rss": rss,
        "wire": wire,
        "source_sha256": source_sha,
        "rounds": runs,
        "targets": {"ratio_min": TARGET_RATIO, "rss_over_idle_max_mb": TARGET_RSS_MB, "of_ceiling": TARGET_CEILING},
    }


def _median_round(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median time, with every round's MB/s beside it (a server row: its highest memory)."""
    row = dict(sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2])
    row["all_mb_s"] = [round(r["mb_s"]) for r in runs]
    for name in ("server_peak_rss_mb", "server_rss_over_idle_mb"):
        if name in row:
            row[name] = max(r[name] for r in runs)
    return row


def _version(name: str) -> str:
    from importlib.metadata import version

    with contextlib.suppress(Exception):
        return version(name)
    return "?"


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def table(results: dict[str, Any]) -> str:
    rows = results["rows"]
    rss = results["server_rss"]
    idle = rss["idle_mb"]

    def cell(value: float | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    lines = [
        f"{'row':<18} {'MiB':>5} {'s':>6} {'MB/s':>7} {'÷ copy':>7} {'≥ 0.5':>7} {'srv peak':>9}"
        f" {'over idle':>9} {'< 200':>7} {'cpu cli':>8} {'cpu srv':>8}",
        f"{'':<18} {'':>5} {'':>6} {'':>7} {'':>7} {'':>7} {'RSS MB':>9} {'MB':>9} {'':>7} {'s':>8} {'s':>8}",
    ]
    for name, row in rows.items():
        ratio = row.get("ratio_to_copy")
        over = row.get("server_rss_over_idle_mb")
        judged = "server_cpu_s" in row
        lines.append(
            f"{name:<18} {row['bytes'] // MiB:>5} {row['seconds']:>6.2f} {row['mb_s']:>7,.0f}"
            f" {cell(ratio, '.2f'):>7} {verdict(ratio >= TARGET_RATIO) if judged and ratio else '':>7}"
            f" {cell(row.get('server_peak_rss_mb'), ',.0f'):>9} {cell(over, ',.0f'):>9}"
            f" {verdict(over < TARGET_RSS_MB) if over is not None else '':>7}"
            f" {row['client_cpu_s']:>8.1f} {cell(row.get('server_cpu_s'), '.1f'):>8}"
        )
    checks = [
        f"{name} sha256 {'ok' if row['sha256_ok'] else 'MISMATCH'}" for name, row in rows.items() if "sha256_ok" in row
    ]
    lines += [
        "",
        f"server RSS: idle {idle:,.0f} MB after start; VmHWM {rss['hwm_mb']:,.0f} MB at the end "
        f"({rss['hwm_mb'] - idle:+,.0f} over idle); {rss['after_mb']:,.0f} MB after the transfers",
        "; ".join(checks),
        f"(MB/s = MiB/s. copy: shutil.copyfile on the same filesystem, page cache warm, no fsync, median of"
        f" {rows['copy']['all_mb_s']} MB/s after an untimed one; copy_fsync: the same plus fsync, for information."
        " The server fsyncs every part and object.)",
    ]
    lines.append(
        "client ceiling (boto3 against a server that does nothing): upload"
        f" {rows['upload_null']['ratio_to_copy']:.2f}, download {rows['download_null']['ratio_to_copy']:.2f}"
        " of the copy"
    )
    for ours, ceiling, target in (
        ("upload_file", "upload_null", TARGET_CEILING["upload"]),
        ("download_file", "download_null", TARGET_CEILING["download"]),
        ("download_sink", "download_sink_null", None),
    ):
        ratio = rows[ours]["mb_s"] / rows[ceiling]["mb_s"]
        every = [f"{a / b:.2f}" for a, b in zip(rows[ours]["all_mb_s"], rows[ceiling]["all_mb_s"], strict=True)]
        judged = f"target ≥ {target}: {verdict(ratio >= target)}" if target else "for information"
        lines.append(f"homeport's {ours} ÷ the ceiling: {ratio:.2f} ({judged}); round by round {', '.join(every)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the file, MiB (default 1024)")
    parser.add_argument("--put-mb", type=int, default=64, help="single put_object body, MiB (0: skip the row)")
    parser.add_argument("--copies", type=int, default=3, help="timed copies for the floor; the median counts")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the transfers; the median counts")
    parser.add_argument("--tmp", help="directory for the work files and the server's data dir (default: $TMPDIR)")
    parser.add_argument(
        "--no-fsync-row", dest="fsync_row", action="store_false", help="skip the informational copy + fsync row"
    )
    parser.add_argument(
        "--no-warm-memory", dest="warm_memory", action="store_false", help="do not warm memory before each transfer"
    )
    parser.add_argument("--serve-null", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_null:
        serve_app(null_s3)
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops the server, cleans up
    global WARM_MEMORY
    WARM_MEMORY = args.warm_memory
    results = measure(args)
    results["warm_memory"] = args.warm_memory
    print(table(results))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"s3-transfer-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"\nwrote {out.relative_to(ROOT)}")
    ok = all(row.get("sha256_ok", True) for row in results["rows"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
