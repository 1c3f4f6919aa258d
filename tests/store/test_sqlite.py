"""The SQLite engines' transactions: one that may write holds the write lock from its first read (so a
read-check-write cannot be interleaved), one that reads never waits for a writer and cannot write."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from homeport.store.db import Kind, Store
from homeport.store.sqlite import reading, sqlite_engine, unsynced


@pytest.fixture()
def path(tmp_path: Path) -> Path:
    return tmp_path / "t.db"


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


def test_a_transaction_holds_the_write_lock_from_its_first_read(path: Path) -> None:
    engine = sqlite_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (a INTEGER)"))
    assert not locked(path)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
        assert locked(path)  # before any write: a delete elsewhere cannot slip between this read and a write
    assert not locked(path)
    engine.dispose()


def test_reading_sees_one_snapshot_never_waits_and_cannot_write(path: Path) -> None:
    engine = sqlite_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (a INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with reading(engine) as conn:
        assert conn.execute(text("SELECT a FROM t")).scalars().all() == [1]
        assert not locked(path)
        writer = sqlite3.connect(path, timeout=0, isolation_level=None)
        writer.execute("INSERT INTO t VALUES (2)")  # a writer does not wait for the reader
        writer.close()
        assert conn.execute(text("SELECT a FROM t")).scalars().all() == [1]  # the snapshot it began with
        with pytest.raises(OperationalError, match="readonly"):
            conn.execute(text("INSERT INTO t VALUES (3)"))
    with engine.begin() as conn:  # the same pooled connection, writable again
        conn.execute(text("INSERT INTO t VALUES (3)"))
        assert conn.execute(text("SELECT a FROM t ORDER BY a")).scalars().all() == [1, 2, 3]
    engine.dispose()


def test_the_store_and_its_readers(path: Path) -> None:
    store = Store(f"sqlite:///{path}")
    with store.transaction() as conn:
        assert store.get(conn, Kind.MODEL, "m") is None
        assert locked(path)
    with store.reading() as conn:
        assert store.get(conn, Kind.MODEL, "m") is None
        assert not locked(path)
    store.close()


def synchronous(conn: Any) -> int:
    return int(conn.exec_driver_sql("PRAGMA synchronous").scalar())


def test_commits_are_synced_unless_unsynced_or_not_durable(path: Path) -> None:
    full, normal = 2, 1
    engine = sqlite_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        assert synchronous(conn) == full
    with unsynced(engine).begin() as conn:
        assert synchronous(conn) == normal
    with engine.begin() as conn:  # the same pooled connection: synced again
        assert synchronous(conn) == full
    engine.dispose()
    relaxed_engine = sqlite_engine(f"sqlite:///{path}", durable=False)
    with relaxed_engine.begin() as conn:
        assert synchronous(conn) == normal
    relaxed_engine.dispose()
    store = Store(f"sqlite:///{path}")
    with store.transaction() as conn:
        assert synchronous(conn) == full
    with store.transaction(relaxed=True) as conn:
        assert synchronous(conn) == normal
    store.close()
