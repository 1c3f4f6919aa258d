#!/usr/bin/env python3
"""CloudWatch Logs: how fast instance output is shipped into log streams, against a floor measured in the same run,
and how long the reads the SDK and `homeport logs` make take on a stream of that size.

    .venv/bin/python bench/logs.py                  # 200,000 lines of 100 bytes, about 10 s
    .venv/bin/python bench/logs.py --lines 1000000

Rows:
- floor: the same bytes read from the file, split into lines and inserted with one `executemany` into a bare
  SQLite table (no stream bookkeeping, no offsets): what shipping cannot beat on this machine's SQLite.
- homeport: `LogTailer.ingest` until the file is drained (4 MiB per pass, one transaction per pass).
Then the reads on the stream just shipped: a FilterLogEvents page (1 MB), a FilterLogEvents whose pattern
matches nothing (it reads its 10,000-event budget), GetLogEvents' newest 100, and shipping one new line
(what every read of the API does first).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from homeport.core.clock import SystemClock
from homeport.services.context import Context
from homeport.services.log_tailer import LogTailer
from homeport.services.logs import LogService
from homeport.settings import Settings
from homeport.store import Store

LINE = b"2026-12-04 12:00:00 INFO homeport.runtime some model output of a typical length, about a hundred bytes\n"


def floor(path: Path, db: Path) -> float:
    started = time.perf_counter()
    conn = sqlite3.connect(db)
    conn.execute("create table events (id integer primary key, stream integer, ts integer, message text)")
    lines = path.read_bytes().decode().splitlines()
    with conn:
        conn.executemany("insert into events (stream, ts, message) values (1, 0, ?)", ((line,) for line in lines))
    conn.close()
    return time.perf_counter() - started


def timed(fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    return (time.perf_counter() - started) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="homeport-bench-logs-"))
    source = root / "logs" / "endpoints" / "ep" / "AllTraffic" / "ep-AllTraffic-1.log"
    source.parent.mkdir(parents=True)
    source.write_bytes(LINE * args.lines)
    floor_s = floor(source, root / "floor.sqlite")

    ctx = Context(Settings(data_dir=root), Store(f"sqlite:///{root / 'db.sqlite'}", durable=False), SystemClock())
    tailer = LogTailer(ctx)
    started, shipped = time.perf_counter(), 0
    while got := tailer.ingest():
        shipped += got
    homeport_s = time.perf_counter() - started
    assert shipped == args.lines, shipped

    logs = LogService(ctx, tailer)
    group = {"logGroupName": "/aws/sagemaker/Endpoints/ep"}
    stream = {**group, "logStreamName": "AllTraffic/ep-AllTraffic-1"}

    def one_line() -> None:
        with source.open("ab") as out:
            out.write(LINE)
        tailer.ingest()

    result = {
        "lines": args.lines,
        "floor_lines_per_s": args.lines / floor_s,
        "homeport_lines_per_s": args.lines / homeport_s,
        "ratio_to_floor": floor_s / homeport_s,
        "filter_page_ms": timed(lambda: logs.filter_events(group)),
        "filter_no_match_ms": timed(lambda: logs.filter_events({**group, "filterPattern": "absent"})),
        "get_newest_100_ms": timed(lambda: logs.get_events({**stream, "limit": 100})),
        "ship_one_line_ms": timed(one_line),
    }
    print(f"{'row':<12} {'lines/s':>12}")
    print(f"{'floor':<12} {result['floor_lines_per_s']:>12,.0f}")
    print(f"{'homeport':<12} {result['homeport_lines_per_s']:>12,.0f}   {result['ratio_to_floor']:.2f} of the floor")
    for key in ("filter_page_ms", "filter_no_match_ms", "get_newest_100_ms", "ship_one_line_ms"):
        print(f"{key:<20} {result[key]:8.1f} ms")
    out = Path(__file__).parent / "results" / "logs.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
