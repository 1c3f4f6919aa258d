"""An SQLite file's transactions: one that may write holds the write lock from its first read (so a
read-check-write cannot be interleaved) and commits durably unless asked not to; one that reads never waits
for a writer and cannot write; writers of one file in this process take turns."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from homeport.store.db import Kind, Store
from homeport.store.sqlite import SqliteFile

FULL, NORMAL = 2, 1


@pytest.fixture()
def path(tmp_path: Path) -> Path:
    return tmp_path / "t.db"


@pytest.fixture()
def file(path: Path) -> Any:
    opened = SqliteFile(f"sqlite:///{path}")
    with opened.writing() as conn:
        conn.execute(text("CREATE TABLE t (a INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    yield opened
    opened.dispose()


def locked(path: Path) -> bool:
    """Whether another connection would have to wait for the write lock right now."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return True
    else:
        other.execute("ROLLBACK")
        return False
    finally:
        other.close()


def synchronous(conn: Any) -> int:
    return int(conn.exec_driver_sql("PRAGMA synchronous").scalar())


def test_a_writer_holds_the_write_lock_from_its_first_read(file: SqliteFile, path: Path) -> None:
    assert not locked(path)
    with file.writing() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1
        assert locked(path)  # before any write: a delete elsewhere cannot slip between this read and a write
    assert not locked(path)


def test_a_reader_sees_one_snapshot_never_waits_and_cannot_write(file: SqliteFile, path: Path) -> None:
    with file.reading() as conn:
        assert conn.execute(text("SELECT a FROM t")).scalars().all() == [1]
        assert not locked(path)
        writer = sqlite3.connect(path, timeout=0, isolation_level=None)
        writer.execute("INSERT INTO t VALUES (2)")  # a writer does not wait for the reader
        writer.close()
        assert conn.execute(text("SELECT a FROM t")).scalars().all() == [1]  # the snapshot it began with
        with pytest.raises(OperationalError, match="readonly"):
            conn.execute(text("INSERT INTO t VALUES (3)"))
    with file.writing() as conn:
        conn.execute(text("INSERT INTO t VALUES (3)"))
        assert conn.execute(text("SELECT a FROM t ORDER BY a")).scalars().all() == [1, 2, 3]


def test_commits_are_synced_unless_asked_not_to_or_not_durable(file: SqliteFile, path: Path) -> None:
    with file.writing() as conn:
        assert synchronous(conn) == FULL
    with file.writing(synced=False) as conn:
        assert synchronous(conn) == NORMAL
    with file.writing() as conn:
        assert synchronous(conn) == FULL
    relaxed = SqliteFile(f"sqlite:///{path}", durable=False)
    with relaxed.writing() as conn:
        assert synchronous(conn) == NORMAL
    relaxed.dispose()


def test_writers_take_turns(file: SqliteFile) -> None:
    inside, release, second_done = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with file.writing() as conn:
            conn.execute(text("INSERT INTO t VALUES (10)"))
            inside.set()
            release.wait(10)

    def second() -> None:
        with file.writing(synced=False) as conn:  # synced or not, the same turn
            conn.execute(text("INSERT INTO t VALUES (11)"))
        second_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert inside.wait(10)
    threads[1].start()
    assert not second_done.wait(0.2)  # waiting for its turn (not for SQLite's busy handler)
    release.set()
    for thread in threads:
        thread.join(10)
    assert second_done.is_set()
    with file.reading() as conn:
        assert conn.execute(text("SELECT a FROM t ORDER BY a")).scalars().all() == [1, 10, 11]


def test_the_store_uses_them(path: Path) -> None:
    store = Store(f"sqlite:///{path}")
    with store.transaction() as conn:
        assert store.get(conn, Kind.MODEL, "m") is None
        assert locked(path) and synchronous(conn) == FULL
    with store.transaction(relaxed=True) as conn:
        assert synchronous(conn) == NORMAL
    with store.reading() as conn:
        assert store.get(conn, Kind.MODEL, "m") is None
        assert not locked(path)
    store.close()


def test_a_writer_that_never_gets_its_turn_fails_instead_of_waiting_forever(
    file: SqliteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("homeport.store.sqlite.BUSY_TIMEOUT", 0.05)
    inside, release = threading.Event(), threading.Event()

    def holder() -> None:
        with file.writing():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    assert inside.wait(10)
    try:
        with pytest.raises(TimeoutError, match="turn to write"), file.writing():
            pass
    finally:
        release.set()
        thread.join(10)
    with file.writing() as conn:  # the turn was given back
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1
