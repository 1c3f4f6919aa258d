"""Front doors, by number: which are alive, for taking over what a door that ended had claimed.

Each `homeport serve` picks a random number when it starts. On PostgreSQL it holds a session advisory lock of
that number on its lease connection (store/lease.py), so the database itself says whether the door is there:
the lock is free the moment its connection ends, however the door ended. On SQLite there is one front door,
so any other number is a previous run of the server.
"""

from __future__ import annotations

import secrets

from sqlalchemy import Connection, text

# Door numbers lie above 2**32, clear of the store's fixed lock numbers (store/db.py, store/lease.py).
_LOWEST = 1 << 32


def new_door() -> int:
    return _LOWEST + secrets.randbelow((1 << 62) - _LOWEST)


def alive(conn: Connection, door: int, me: int) -> bool:
    """Whether front door `door` is running, as seen by door `me` inside one of its transactions."""
    if door == me:
        return True
    if conn.dialect.name != "postgresql":
        return False
    # Taken (until this transaction ends) only if no session holds it: the door's lease connection is gone.
    return not conn.execute(text("SELECT pg_try_advisory_xact_lock(:door)"), {"door": door}).scalar_one()
