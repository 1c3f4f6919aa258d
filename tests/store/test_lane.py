"""The lane: blocking calls run on its one thread, in order, with their results or errors back on the loop; the
transactions of one batch commit together, and a failing call fails alone."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine

from homeport.store.lane import Lane


def test_calls_run_in_order_on_the_lanes_thread_and_errors_reach_their_caller() -> None:
    lane = Lane("test-lane")
    seen: list[tuple[int, str]] = []

    def work(i: int) -> int:
        seen.append((i, threading.current_thread().name))
        if i == 3:
            raise ValueError("three")
        time.sleep(0.001)
        return i * 10

    async def main() -> list[object]:
        return await asyncio.gather(*(lane.run(work, i) for i in range(8)), return_exceptions=True)

    results = asyncio.run(main())
    assert [r for i, r in enumerate(results) if i != 3] == [0, 10, 20, 40, 50, 60, 70]
    assert isinstance(results[3], ValueError) and str(results[3]) == "three"
    assert [i for i, _ in seen] == list(range(8))
    assert {name for _, name in seen} == {"test-lane"}


def test_a_cancelled_caller_does_not_break_the_lane() -> None:
    lane = Lane("test-lane")
    release = threading.Event()

    async def main() -> int:
        slow = asyncio.ensure_future(lane.run(release.wait, 5))
        await asyncio.sleep(0.01)
        slow.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await slow
        return await lane.run(lambda: 42)

    assert asyncio.run(main()) == 42


class CountingStore:
    """A SQLite store that counts its transactions; `fail_commit` makes the next commit fail."""

    def __init__(self, path: Path) -> None:
        self.engine = create_engine(f"sqlite:///{path}")
        with self.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE rows (value INTEGER PRIMARY KEY)")
        self.transactions = 0
        self.relaxed: list[bool] = []  # each transaction's
        self.fail_commit = False

    @contextmanager
    def transaction(self, *, relaxed: bool = False) -> Iterator[Connection]:
        self.transactions += 1
        self.relaxed.append(relaxed)
        with self.engine.begin() as conn:
            yield conn
            if self.fail_commit:
                self.fail_commit = False
                raise OSError("disk full")

    def values(self) -> list[int]:
        with self.engine.begin() as conn:
            return [row[0] for row in conn.exec_driver_sql("SELECT value FROM rows ORDER BY value")]


def insert(conn: Connection, value: int) -> int:
    conn.exec_driver_sql(f"INSERT INTO rows (value) VALUES ({value})")
    if value < 0:
        raise ValueError("negative")
    return value


def gather_on(lane: Lane, store: CountingStore, values: list[int], relaxed: tuple[int, ...] = ()) -> list[object]:
    """The calls queued together, while the lane is busy: they reach it as one batch."""
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(5)

    async def main() -> list[object]:
        busy = asyncio.ensure_future(lane.run(hold))
        await asyncio.to_thread(started.wait, 5)  # the lane has taken the busy call before the others are queued
        calls = [asyncio.ensure_future(lane.transact(store, insert, v, relaxed=v in relaxed)) for v in values]
        await asyncio.sleep(0)
        release.set()
        await busy
        return await asyncio.gather(*calls, return_exceptions=True)

    return asyncio.run(main())


def test_transactions_of_one_batch_commit_together(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "db.sqlite")
    assert gather_on(Lane("test-lane"), store, [1, 2, 3, 4]) == [1, 2, 3, 4]
    assert store.transactions == 1
    assert store.values() == [1, 2, 3, 4]


def test_a_failing_call_fails_alone_and_leaves_nothing_behind(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "db.sqlite")
    results = gather_on(Lane("test-lane"), store, [1, -2, 3])
    assert results[0] == 1 and results[2] == 3
    assert isinstance(results[1], ValueError)
    assert store.values() == [1, 3]  # the failed call's insert was rolled back with it
    assert store.transactions == 4  # the shared one, rolled back, then one each


def test_a_failed_group_commit_is_retried_call_by_call(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "db.sqlite")
    store.fail_commit = True
    assert gather_on(Lane("test-lane"), store, [5, 6]) == [5, 6]
    assert store.values() == [5, 6]
    assert store.transactions == 3


def test_a_shared_commit_is_synced_when_one_of_its_calls_needs_it(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "db.sqlite")
    assert gather_on(Lane("test-lane"), store, [1, 2], relaxed=(1, 2)) == [1, 2]
    assert gather_on(Lane("test-lane"), store, [3, 4], relaxed=(3,)) == [3, 4]
    assert store.relaxed == [True, False]
    assert gather_on(Lane("test-lane"), store, [5, -6], relaxed=(5,))[0] == 5  # each again on its own
    assert store.relaxed[2:] == [False, True, False]
