"""What a transform job has done, durably: its plan (files and their ranges) and each finished range.

A range is recorded only after its output is on disk (fsync'd), so after a crash the job resumes from the
recorded ranges and every record's output exists exactly once. A file is `done` once its `.out` object is
written whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Connection, Integer, PrimaryKeyConstraint, String, Table, Text, func, select

from homeport.store.db import metadata

transform_files = Table(
    "transform_files",
    metadata,
    Column("job", String(63), nullable=False),
    Column("number", Integer, nullable=False),
    Column("source", Text, nullable=False),  # input URI
    Column("output", Text, nullable=False),  # where the .out goes
    Column("size", BigInteger, nullable=False),
    Column("starts", Text, nullable=False),  # JSON list: byte offsets where its ranges start
    Column("state", String(16), nullable=False),
    Column("failure", Text),
    PrimaryKeyConstraint("job", "number"),
)

transform_ranges = Table(
    "transform_ranges",
    metadata,
    Column("job", String(63), nullable=False),
    Column("file", Integer, nullable=False),
    Column("number", Integer, nullable=False),
    Column("records", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    PrimaryKeyConstraint("job", "file", "number"),
)


class FileState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


@dataclass
class FilePlan:
    number: int
    source: str
    output: str
    size: int
    starts: list[int]
    state: FileState = FileState.PENDING
    failure: str | None = None
    done: dict[int, int] = field(default_factory=dict)  # finished range → its record count

    def end_of(self, range_number: int) -> int:
        return self.starts[range_number + 1] if range_number + 1 < len(self.starts) else self.size


@dataclass(frozen=True)
class Progress:
    files: int
    files_done: int
    files_failed: int
    bytes_total: int
    bytes_done: int
    records_done: int

    def to_json(self) -> dict[str, int]:
        return {
            "Files": self.files,
            "FilesDone": self.files_done,
            "FilesFailed": self.files_failed,
            "BytesTotal": self.bytes_total,
            "BytesDone": self.bytes_done,
            "RecordsDone": self.records_done,
        }


def save_plan(conn: Connection, job: str, files: list[FilePlan]) -> None:
    if files:
        conn.execute(
            transform_files.insert(),
            [
                {
                    "job": job,
                    "number": f.number,
                    "source": f.source,
                    "output": f.output,
                    "size": f.size,
                    "starts": json.dumps(f.starts),
                    "state": f.state.value,
                }
                for f in files
            ],
        )


def load_plan(conn: Connection, job: str) -> list[FilePlan] | None:
    """The job's files with what is done of each; None when no plan was saved yet."""
    rows = conn.execute(
        select(transform_files).where(transform_files.c.job == job).order_by(transform_files.c.number)
    ).all()
    if not rows:
        return None
    plans = {
        row.number: FilePlan(
            row.number, row.source, row.output, row.size, json.loads(row.starts), FileState(row.state), row.failure
        )
        for row in rows
    }
    done = conn.execute(
        select(transform_ranges.c.file, transform_ranges.c.number, transform_ranges.c.records).where(
            transform_ranges.c.job == job
        )
    )
    for file, number, records in done:
        plans[file].done[number] = records
    return list(plans.values())


def record_range(conn: Connection, job: str, file: int, number: int, records: int, size: int) -> None:
    conn.execute(transform_ranges.insert().values(job=job, file=file, number=number, records=records, bytes=size))


def forget_range(conn: Connection, job: str, file: int, number: int) -> None:
    conn.execute(
        transform_ranges.delete().where(
            transform_ranges.c.job == job, transform_ranges.c.file == file, transform_ranges.c.number == number
        )
    )


def set_file_state(conn: Connection, job: str, file: int, state: FileState, failure: str | None = None) -> None:
    conn.execute(
        transform_files.update()
        .where(transform_files.c.job == job, transform_files.c.number == file)
        .values(state=state.value, failure=failure)
    )


def progress(conn: Connection, job: str) -> Progress:
    files = conn.execute(
        select(transform_files.c.state, func.count(), func.sum(transform_files.c.size))
        .where(transform_files.c.job == job)
        .group_by(transform_files.c.state)
    ).all()
    by_state = {state: (count, int(size or 0)) for state, count, size in files}
    ranges = conn.execute(
        select(func.sum(transform_ranges.c.records), func.sum(transform_ranges.c.bytes)).where(
            transform_ranges.c.job == job
        )
    ).one()
    return Progress(
        files=sum(count for count, _ in by_state.values()),
        files_done=by_state.get(FileState.DONE.value, (0, 0))[0],
        files_failed=by_state.get(FileState.FAILED.value, (0, 0))[0],
        bytes_total=sum(size for _, size in by_state.values()),
        bytes_done=int(ranges[1] or 0),
        records_done=int(ranges[0] or 0),
    )


def forget(conn: Connection, job: str) -> None:
    conn.execute(transform_ranges.delete().where(transform_ranges.c.job == job))
    conn.execute(transform_files.delete().where(transform_files.c.job == job))
