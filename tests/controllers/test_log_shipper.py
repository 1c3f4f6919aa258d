"""The log shipper stepped by hand with a manual clock: output files become events in SageMaker's streams, each line
once, across restarts; retention and the per-stream cap drop the oldest events."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from homeport.controllers.log_shipper import LogShipper
from homeport.core.clock import ManualClock
from homeport.services.context import Context
from homeport.services.log_tailer import MAX_EVENT_BYTES, LogTailer, split_lines
from homeport.services.logs import LogService
from homeport.settings import Settings
from homeport.store import Store, log_events

T0 = 1_700_000_000.0


def context(tmp_path: Path, clock: ManualClock, **settings: object) -> Context:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}", durable=False)
    return Context(Settings(data_dir=tmp_path, **settings), store, clock)  # type: ignore[arg-type]


def messages(ctx: Context, group: str, stream: str) -> list[tuple[int, str]]:
    reply = LogService(ctx).get_events({"logGroupName": group, "logStreamName": stream, "startFromHead": True})
    return [(e["timestamp"], e["message"]) for e in reply["events"]]


def write(path: Path, data: bytes, *, quiet: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        f.write(data)
    if quiet:  # as if written long enough ago for a line with no newline to be taken as finished
        os.utime(path, (time.time() - 60, time.time() - 60))


def test_lines_are_shipped_once_with_the_time_they_were_read(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    ctx = context(tmp_path, clock)
    shipper = LogShipper(ctx, LogTailer(ctx))
    out = tmp_path / "logs" / "endpoints" / "ep" / "AllTraffic" / "ep-AllTraffic-1.log"
    group, stream = "/aws/sagemaker/Endpoints/ep", "AllTraffic/ep-AllTraffic-1"
    write(out, b"first\r\n\nsecond\nhalf a li")
    shipper.run_once()
    assert messages(ctx, group, stream) == [(T0 * 1000, "first"), (T0 * 1000, "second")]  # blank lines are no events
    clock.advance(1.5)
    write(out, b"ne\nthird\n")
    shipper.run_once()
    shipper.run_once()  # nothing new: nothing added
    assert [m for _, m in messages(ctx, group, stream)] == ["first", "second", "half a line", "third"]
    assert messages(ctx, group, stream)[-1][0] == (T0 + 1.5) * 1000

    restarted = LogTailer(ctx)  # a new server reads on from where the last one stopped
    write(out, b"after the restart\n")
    assert restarted.ingest() == 1
    write(out, b"no newline yet", quiet=True)
    assert restarted.ingest() == 1
    assert messages(ctx, group, stream)[-1][1] == "no newline yet"

    out.write_bytes(b"a new file in its place\n")  # shorter than what was read: read from the start
    assert restarted.ingest() == 1


def test_job_streams_carry_the_epoch_they_were_first_read_at(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    ctx = context(tmp_path, clock)
    tailer = LogTailer(ctx)
    write(tmp_path / "logs" / "transform-jobs" / "job" / "job-1.log", b"hello\n")
    write(tmp_path / "logs" / "training-jobs" / "fit" / "algo-1.log", b"[0]\tvalidation-rmse:1.5\n")
    write(tmp_path / "logs" / "endpoints" / "ep" / "stray.log", b"not in a variant's folder: not shipped\n")
    assert tailer.ingest() == 2
    clock.advance(10)
    write(tmp_path / "logs" / "transform-jobs" / "job" / "job-1.log", b"again\n")
    tailer.ingest()
    epoch = int(T0)
    assert [m for _, m in messages(ctx, "/aws/sagemaker/TransformJobs", f"job/job-1-{epoch}")] == ["hello", "again"]
    assert messages(ctx, "/aws/sagemaker/TrainingJobs", f"fit/algo-1-{epoch}")[0][1] == "[0]\tvalidation-rmse:1.5"


def test_a_line_longer_than_an_event_is_split_on_character_boundaries() -> None:
    line = "a" + "é" * MAX_EVENT_BYTES  # two bytes each, after one: a cut at MAX_EVENT_BYTES falls inside one
    parts = split_lines(line.encode() + b"\n")
    assert "".join(parts) == line and len(parts) == 3
    assert [len(p.encode()) for p in parts[:2]] == [MAX_EVENT_BYTES - 1, MAX_EVENT_BYTES]
    assert split_lines(b"\xff\xfe bad bytes\n") == ["\ufffd\ufffd bad bytes"]


@pytest.mark.parametrize("days", [None, 1])
def test_retention_drops_what_is_older_than_the_group_keeps(tmp_path: Path, days: int | None) -> None:
    clock = ManualClock(T0)
    ctx = context(tmp_path, clock, log_retention_days=3)
    now = int(T0 * 1000)
    with ctx.store.transaction() as conn:
        log_events.add_group(conn, "g", now)
        log_events.set_retention(conn, "g", days)
        sid = log_events.add_stream(conn, "g", "s", now)
        log_events.append(conn, sid, [(now - 2 * 86_400_000, "two days old"), (now, "new")], now)
    shipper = LogShipper(ctx, LogTailer(ctx))
    shipper.run_once()
    kept = [m for _, m in messages(ctx, "g", "s")]
    assert kept == (["two days old", "new"] if days is None else ["new"])
    clock.advance(30)
    assert shipper.expire(clock.now()) == 0  # nothing more to drop
    with ctx.store.reading() as conn:
        row = log_events.stream(conn, "g", "s")
    assert row is not None and row["first_event"] == (now - 2 * 86_400_000 if days is None else now)
    assert row["stored_bytes"] == sum(log_events.message_bytes(m) for m in kept)


def test_a_stream_over_its_cap_loses_its_oldest_events(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    ctx = context(tmp_path, clock, log_stream_max_mb=1)
    now = int(T0 * 1000)
    line = "x" * 1000
    with ctx.store.transaction() as conn:
        log_events.add_group(conn, "g", now)
        sid = log_events.add_stream(conn, "g", "s", now)
        log_events.append(conn, sid, [(now + i, f"{i:05d}{line}") for i in range(2000)], now)
    dropped = LogShipper(ctx, LogTailer(ctx)).expire(clock.now())
    with ctx.store.reading() as conn:
        row = log_events.stream(conn, "g", "s")
    assert row is not None and row["stored_bytes"] <= 1024 * 1024 * 9 // 10
    remaining = messages(ctx, "g", "s")
    assert len(remaining) == 2000 - dropped and remaining[0][1].startswith(f"{dropped:05d}")
    assert row["first_event"] == now + dropped
