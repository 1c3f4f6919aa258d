"""SQLite engines for homeport's two SQLite files (the metadata store and the object index).

Python's sqlite3 module opens a transaction only before a statement that writes, so the reads of a
read-check-write block ran outside it: a row deleted between the check and the write came back (an alarm
evaluated while its scaling policy was deleted outlived it). Here pysqlite's own transaction handling is off
and every SQLAlchemy transaction starts with `BEGIN IMMEDIATE`: it takes the write lock before its first
read, so transactions that write are serializable. A transaction begun on `reading(engine)` starts with a
plain `BEGIN` instead: it reads one snapshot and never waits for a writer (WAL), and may not write.
"""

from __future__ import annotations

import functools
import threading
import weakref
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


def sqlite_engine(url: str, *, durable: bool = True) -> Engine:
    """`durable`: a commit returns once its log is on disk (synchronous=FULL), unless it runs on `unsynced(engine)`;
    else every commit returns once it is written, which survives a crash of the process but not a power loss
    (NORMAL). The log is one sequence, so a synced commit makes every commit before it durable too."""
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT},
        pool_size=SQLITE_POOL,
        max_overflow=SQLITE_POOL,
    )
    event.listen(engine, "connect", _configure)
    event.listen(engine, "begin", functools.partial(_begin, durable))
    return engine


def _configure(dbapi_conn: Any, _record: Any) -> None:
    """WAL (readers never wait for the writer); transactions are begun by `_begin`."""
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


READ_ONLY = "homeport_read_only"
RELAXED = "homeport_relaxed"


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction: one consistent snapshot, no write lock taken (nor any write allowed)."""
    with engine.connect().execution_options(**{READ_ONLY: True}) as conn, conn.begin():
        yield conn


_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()


@contextmanager
def writing(engine: Engine, *, synced: bool = True) -> Iterator[Connection]:
    """A transaction that may write. The writers of one SQLite file in this process take turns on a lock first:
    SQLite's own wait for its write lock polls with sleeps of 1, 2, 5 … 100 ms and is not woken when the lock
    is freed, so eight threads writing at once spent most of their time asleep (a small PUT's p99 at 100 ms)."""
    if engine.dialect.name != "sqlite":
        with (engine if synced else unsynced(engine)).begin() as conn:
            yield conn
        return
    with _WRITERS_LOCK:
        turn = _WRITERS.setdefault(engine, threading.Lock())
    with turn, (engine if synced else unsynced(engine)).begin() as conn:
        yield conn


def unsynced(engine: Engine) -> Engine:
    """The engine whose commits are not synced: for bookkeeping whose loss in a power cut only repeats work (a
    claim, a finished request whose result object is itself durable, metric points), never for what a reply
    acknowledges."""
    return engine.execution_options(**{RELAXED: True})


def _begin(durable: bool, conn: Connection) -> None:
    options = conn.get_execution_options()
    read_only = bool(options.get(READ_ONLY, False))
    synchronous = "FULL" if durable and not options.get(RELAXED, False) else "NORMAL"
    pooled = conn.connection
    raw = pooled.dbapi_connection
    assert raw is not None
    state = (read_only, synchronous)
    if pooled.info.get("state") != state:  # these PRAGMAs outlive the transaction: set them on change
        raw.execute(f"PRAGMA query_only={int(read_only)}")
        raw.execute(f"PRAGMA synchronous={synchronous}")
        pooled.info["state"] = state
    raw.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")
