"""One SQLite file as homeport opens it (the metadata store, the object index): writers that are serializable,
commits that are durable, readers that never wait.

- Python's sqlite3 module opens a transaction only before a statement that writes, so the reads of a
  read-check-write block ran outside it: a row deleted between the check and the write came back (an alarm
  evaluated while its scaling policy was deleted outlived it). Here pysqlite's own transaction handling is off,
  and a transaction that may write starts with `BEGIN IMMEDIATE`: it holds the write lock from its first read.
- The writers of one file in this process take turns on a lock before that: SQLite's own wait for its write
  lock polls with sleeps of 1, 2, 5 … 100 ms and is not woken when the lock is freed, so eight threads writing
  at once spent most of their time asleep (a small PUT's p99 at 100 ms).
- A durable commit returns once its log is on disk (synchronous=FULL). An unsynced one (NORMAL) survives a
  crash of the process but not a power loss: it is for bookkeeping a power cut only repeats. The log is one
  sequence, so a synced commit makes every commit before it durable too.
- A reader starts with a plain `BEGIN`: one snapshot, no lock, and it cannot write (`query_only`).

Each of the three kinds of transaction has its own engine, configured once per connection, so that a
transaction costs no PRAGMA.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event

# Connections kept open for readers: the event loop, the default executor's threads and batch transform's read
# at once; an overflow connection is opened and closed (PRAGMAs and all) per use. Writers take turns: two do.
READER_POOL = 16
WRITER_POOL = 2
# Seconds a writer waits for its turn, or a connection for SQLite's lock (another process): transactions are
# short, so reaching this means the disk stalled.
BUSY_TIMEOUT = 30


class SqliteFile:
    def __init__(self, url: str, *, durable: bool = True) -> None:
        self.writer = _engine(url, WRITER_POOL, "BEGIN IMMEDIATE", synchronous="FULL" if durable else "NORMAL")
        self._unsynced = _engine(url, WRITER_POOL, "BEGIN IMMEDIATE", synchronous="NORMAL")
        self._reader = _engine(url, READER_POOL, "BEGIN", synchronous="NORMAL", query_only=True)
        self._turn = threading.Lock()

    @contextmanager
    def writing(self, *, synced: bool = True) -> Iterator[Connection]:
        """A transaction that may write; its commit is durable unless not `synced`."""
        if not self._turn.acquire(timeout=BUSY_TIMEOUT):
            raise TimeoutError(f"waited {BUSY_TIMEOUT} s for this process's turn to write to SQLite")
        try:
            with (self.writer if synced else self._unsynced).begin() as conn:
                yield conn
        finally:
            self._turn.release()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read-only transaction: one snapshot, never waiting for a writer."""
        with self._reader.begin() as conn:
            yield conn

    def dispose(self) -> None:
        for engine in (self.writer, self._unsynced, self._reader):
            engine.dispose()


def _engine(url: str, pool: int, begin: str, *, synchronous: str, query_only: bool = False) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT},
        pool_size=pool,
        max_overflow=READER_POOL,
    )
    event.listen(engine, "connect", functools.partial(_configure, synchronous, query_only))
    event.listen(engine, "begin", functools.partial(_begin, begin))
    return engine


def _configure(synchronous: str, query_only: bool, dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # transactions are begun by `_begin`, not by pysqlite
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
    cur.execute(f"PRAGMA synchronous={synchronous}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA query_only={int(query_only)}")
    cur.close()


def _begin(statement: str, conn: Connection) -> None:
    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.execute(statement)
