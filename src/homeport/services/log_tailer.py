"""Ships what instances and jobs write (their stdout and stderr, one file each) into CloudWatch Logs' streams.

As the CloudWatch agent does, each line becomes an event stamped with the time it was read: the tailer runs every
second, and before every read of the Logs API, so a reader never misses a line already written. A file's layout
under `<data dir>/logs` names its group and stream as SageMaker names them:

| file | group | stream |
|---|---|---|
| `endpoints/<endpoint>/<variant>/<instance>.log` | `/aws/sagemaker/Endpoints/<endpoint>` | `<variant>/<instance>` |
| `transform-jobs/<job>/<instance>.log` | `/aws/sagemaker/TransformJobs` | `<job>/<instance>-<epoch>` |
| `training-jobs/<job>/<host>.log` | `/aws/sagemaker/TrainingJobs` | `<job>/<host>-<epoch>` |
| `processing-jobs/<job>/<host>.log` | `/aws/sagemaker/ProcessingJobs` | `<job>/<host>-<epoch>` |

`<epoch>` is when the stream was first read, in seconds.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection

from homeport.services.context import Context
from homeport.store import log_events

log = logging.getLogger(__name__)

MAX_EVENT_BYTES = 262_144 - log_events.EVENT_OVERHEAD  # CloudWatch's largest event; a longer line is split
READ_PER_PASS = 4 * 1024 * 1024  # per file per pass: one chatty file cannot hold a pass (the rest comes next pass)
PARTIAL_AFTER_S = 2.0  # a last line with no newline yet is shipped once its file has been quiet this long

JOB_GROUPS = {
    "transform-jobs": "/aws/sagemaker/TransformJobs",
    "training-jobs": "/aws/sagemaker/TrainingJobs",
    "processing-jobs": "/aws/sagemaker/ProcessingJobs",
}


def endpoint_group(endpoint: str) -> str:
    return f"/aws/sagemaker/Endpoints/{endpoint}"


@dataclass
class _Source:
    stream_id: int
    offset: int


class LogTailer:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.root = ctx.settings.logs_dir
        self._lock = threading.Lock()
        self._sources: dict[str, _Source] | None = None  # loaded from the store at the first pass

    def ingest(self) -> int:
        """Ship every output file's new lines; returns how many events were added."""
        with self._lock:
            if self._sources is None:
                with self.ctx.store.reading() as conn:
                    self._sources = {p: _Source(*v) for p, v in log_events.sources(conn).items()}
            batches = []
            for path, group, stream in self._files():
                read = self._read(path, self._sources.get(str(path)))
                if read is not None:
                    batches.append((path, group, stream, *read))
            if not batches:
                return 0
            now = int(self.ctx.clock.now() * 1000)
            shipped: dict[str, _Source] = {}
            with self.ctx.store.transaction(relaxed=True) as conn:  # a power cut loses the lines, never the files
                for path, group, stream, offset, lines in batches:
                    known = self._sources.get(str(path))
                    stream_id = known.stream_id if known else self._stream(conn, group, stream, now)
                    log_events.append(conn, stream_id, [(now, line) for line in lines], now)
                    log_events.set_source(conn, str(path), stream_id, offset)
                    shipped[str(path)] = _Source(stream_id, offset)
            self._sources.update(shipped)  # only once committed: a failed pass is read again
            return sum(len(lines) for *_, lines in batches)

    @staticmethod
    def _stream(conn: Connection, group: str, stream: str, now: int) -> int:
        log_events.add_group(conn, group, now)
        if stream.endswith("-"):
            stream += str(now // 1000)
        found = log_events.stream(conn, group, stream)
        return int(found["id"]) if found else log_events.add_stream(conn, group, stream, now)

    def _files(self) -> list[tuple[Path, str, str]]:
        """Each output file with its group and stream name (a job stream's name ends in '-': its epoch is added)."""
        found: list[tuple[Path, str, str]] = []
        for endpoint in _dirs(self.root / "endpoints"):
            for variant in _dirs(endpoint):
                found += [(f, endpoint_group(endpoint.name), f"{variant.name}/{f.stem}") for f in _logs(variant)]
        for folder, group in JOB_GROUPS.items():
            for job in _dirs(self.root / folder):
                found += [(f, group, f"{job.name}/{f.stem}-") for f in _logs(job)]
        return found

    def _read(self, path: Path, source: _Source | None) -> tuple[int, list[str]] | None:
        """(the new offset, the complete lines after the source's offset), or None when there is nothing new."""
        offset = source.offset if source else 0
        try:
            with open(path, "rb") as f:
                stat = os.fstat(f.fileno())
                if stat.st_size < offset:  # truncated or replaced: start over
                    offset = 0
                if stat.st_size == offset:
                    return None
                f.seek(offset)
                data = f.read(READ_PER_PASS)
        except OSError:
            return None
        end = data.rfind(b"\n") + 1  # a last line with no newline may still be being written
        quiet = offset + len(data) == stat.st_size and time.time() - stat.st_mtime >= PARTIAL_AFTER_S
        if quiet or (end == 0 and len(data) >= MAX_EVENT_BYTES):
            end = len(data)
        if end == 0:
            return None
        return offset + end, split_lines(data[:end])


def split_lines(data: bytes) -> list[str]:
    """The events of a run of output: one per non-empty line, a line longer than CloudWatch takes split at UTF-8
    character boundaries."""
    lines: list[str] = []
    for raw in data.split(b"\n"):
        raw = raw.rstrip(b"\r")
        while len(raw) > MAX_EVENT_BYTES:
            cut = MAX_EVENT_BYTES
            while cut > 0 and raw[cut] & 0xC0 == 0x80:  # not inside a character
                cut -= 1
            lines.append(raw[:cut].decode("utf-8", "replace"))
            raw = raw[cut:]
        if raw.strip():
            lines.append(raw.decode("utf-8", "replace"))
    return lines


def _dirs(folder: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(folder) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _logs(folder: Path) -> list[Path]:
    try:
        return [
            Path(e.path) for e in os.scandir(folder) if e.name.endswith(".log") and e.is_file(follow_symlinks=False)
        ]
    except OSError:
        return []
