"""Which front door runs the controllers, when several share one PostgreSQL database.

Every front door serves the API; one at a time owns the instances and runs the controllers. On PostgreSQL that
one holds a session-level advisory lock on a connection of its own. The database frees the lock the moment that
connection ends: the process exits or is killed, or TCP keepalives give up on a machine that vanished (about
`KEEPALIVE_S`). The others try to take it every `RETRY_S`, so a takeover happens within seconds.

The same connection carries wake-ups between front doors: a write on a follower (an endpoint created) pokes the
lease, which sends a NOTIFY; the leader, LISTENing on its lease connection, wakes its controllers at once instead
of at their next tick.

The connection also holds the door's own lock (store/doors.py), by which the leader tells whether a door that
claimed asynchronous requests is still there.

On SQLite there is one front door: it always leads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import make_url

from homeport.store.doors import new_door

log = logging.getLogger(__name__)

LEADER_LOCK = 0x686F6D66  # the advisory lock the leader holds (WRITE_LOCK + 1)
CHANNEL = "homeport_wake"
RETRY_S = 1.0  # how often a follower tries to take the lease
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}
KEEPALIVE_S = 5 + 2 * 3  # when TCP gives up on a silent peer, freeing its lock


class Lease:
    def __init__(self, url: str) -> None:
        self._conninfo = None if url.startswith("sqlite") else _conninfo(url)
        self.held = self._conninfo is None
        self.door = new_door()  # this front door's number, in its claims
        self._conn: Any = None  # psycopg.Connection, imported only for PostgreSQL
        self._poked = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def shared(self) -> bool:
        """Whether other front doors may share the database (PostgreSQL)."""
        return self._conninfo is not None

    def try_acquire(self) -> bool:
        if self.held:
            return True
        import psycopg

        try:
            if self._connection().execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,)).fetchone()[0]:
                self._conn.execute(f"LISTEN {CHANNEL}")
                self.held = True
        except psycopg.OperationalError as exc:
            log.warning("cannot reach the database for the controller lease: %s", exc)
            self._drop()
        return self.held

    def poke(self) -> None:
        """Wake the leader's controllers (from a follower; the leader wakes its own)."""
        if self.shared and not self.held:
            self._poked.set()

    def watch(self, on_lead: Callable[[], None], on_wake: Callable[[], None], on_lost: Callable[[], None]) -> None:
        """In a thread of its own: follow (take the lease when it is free: `on_lead`; send pokes), then lead (a
        NOTIFY from another front door: `on_wake`; the lease's connection lost: `on_lost`, once)."""
        if not self.shared:
            return
        self._thread = threading.Thread(
            target=self._run, args=(on_lead, on_wake, on_lost), name="homeport-lease", daemon=True
        )
        self._thread.start()

    def _run(self, on_lead: Callable[[], None], on_wake: Callable[[], None], on_lost: Callable[[], None]) -> None:
        import psycopg

        while not self.held and not self._stop.is_set():
            if self._poked.wait(RETRY_S):
                self._poked.clear()
                self._notify()
            if self.try_acquire():
                on_lead()
        while self.held and not self._stop.is_set():
            try:
                if any(True for _ in self._conn.notifies(timeout=RETRY_S, stop_after=1)):
                    on_wake()
                self._conn.execute("SELECT 1")  # a connection that died quietly raises here
            except psycopg.OperationalError as exc:
                if self._stop.is_set():
                    return
                log.error("lost the controller lease (its database connection failed: %s)", exc)
                self.held = False
                self._drop()
                on_lost()

    def _notify(self) -> None:
        import psycopg

        try:
            self._connection().execute(f"NOTIFY {CHANNEL}")
        except psycopg.OperationalError as exc:
            log.warning("cannot wake the leading front door: %s", exc)
            self._drop()

    def _connection(self) -> Any:
        """The lease's own connection (the locks live as long as it does), opened when first needed, holding the
        door's lock."""
        import psycopg

        if self._conn is None:
            conn = psycopg.connect(self._conninfo, autocommit=True, **KEEPALIVE)  # type: ignore[arg-type]
            conn.execute("SELECT pg_advisory_lock(%s)", (self.door,))
            self._conn = conn
        return self._conn

    def release(self) -> None:
        self._stop.set()
        self._poked.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * RETRY_S + 1)
        self._drop()  # closing the connection frees the lock
        self.held = not self.shared

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already broken: nothing more to free
                log.debug("closing the lease connection failed", exc_info=True)


def _conninfo(url: str) -> str:
    """libpq's form of a SQLAlchemy URL (postgresql+psycopg://… → postgresql://…)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
