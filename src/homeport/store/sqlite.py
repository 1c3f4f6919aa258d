"""SQLite engines for homeport's two SQLite files (the metadata store and the object index).

Python's sqlite3 module opens a transaction only before a statement that writes, so the reads of a
read-check-write block ran outside it: a row deleted between the check and the write came back (an alarm
evaluated while its scaling policy was deleted outlived it). Here pysqlite's own transaction handling is off
and every SQLAlchemy transaction starts with `BEGIN IMMEDIATE`: it takes the write lock before its first
read, so transactions that write are serializable. A transaction begun on `readers(engine)` starts with a
plain `BEGIN` instead: it reads one snapshot and never waits for a writer (WAL), and may not write.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event

# Connections kept open: more threads than SQLAlchemy's default 5 use the store at once (the event loop, the
# default executor's, batch transform's), and an overflow connection is opened and closed (PRAGMAs and all) per use.
SQLITE_POOL = 16
# Seconds a transaction waits for another's write lock before failing: transactions are short, so reaching
# this means the disk stalled, not contention.
BUSY_TIMEOUT = 30


def sqlite_engine(url: str) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT},
        pool_size=SQLITE_POOL,
        max_overflow=SQLITE_POOL,
    )
    event.listen(engine, "connect", _configure)
    event.listen(engine, "begin", _begin)
    return engine


def _configure(dbapi_conn: Any, _record: Any) -> None:
    """WAL (readers never wait for the writer) and NORMAL sync; transactions are begun by `_begin`."""
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


READ_ONLY = "homeport_read_only"


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction: one consistent snapshot, no write lock taken (nor any write allowed)."""
    with engine.connect().execution_options(**{READ_ONLY: True}) as conn, conn.begin():
        yield conn


def _begin(conn: Connection) -> None:
    read_only = bool(conn.get_execution_options().get(READ_ONLY, False))
    pooled = conn.connection
    raw = pooled.dbapi_connection
    assert raw is not None
    if pooled.info.get(READ_ONLY, False) != read_only:  # query_only outlives the transaction: set it on change
        raw.execute(f"PRAGMA query_only={int(read_only)}")
        pooled.info[READ_ONLY] = read_only
    raw.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")
