"""The controller lease (store/lease.py) where no other front door can share the database: SQLite always leads,
with no connection and no thread. Several front doors on PostgreSQL: tests/postgresql/test_front_doors.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.store.lease import Lease, _conninfo


def test_on_sqlite_the_only_front_door_always_leads(tmp_path: Path) -> None:
    lease = Lease(f"sqlite:///{tmp_path / 'homeport.db'}")
    assert lease.held and not lease.shared and lease.try_acquire()
    lease.poke()  # nothing to wake: this front door runs the controllers itself
    lease.watch(on_lead=_never, on_wake=_never, on_lost=_never)
    lease.release()
    assert lease.held


def test_a_postgresql_lease_waits_for_its_first_try_and_speaks_libpq() -> None:
    lease = Lease("postgresql+psycopg://homeport:s3cret@db.internal:5433/homeport?sslmode=require")
    assert lease.shared and not lease.held
    assert _conninfo("postgresql+psycopg://homeport:s3cret@db.internal:5433/homeport?sslmode=require") == (
        "postgresql://homeport:s3cret@db.internal:5433/homeport?sslmode=require"
    )


def _never() -> None:
    raise AssertionError("called on SQLite")


def test_a_database_out_of_reach_is_no_lease_and_no_crash(caplog: pytest.LogCaptureFixture) -> None:
    lease = Lease("postgresql+psycopg://homeport@127.0.0.1:1/homeport")
    assert not lease.try_acquire() and not lease.held
    assert "cannot reach the database for the controller lease" in caplog.text
    lease.release()
