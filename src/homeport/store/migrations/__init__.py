"""The store's schema, as Alembic migrations: the same revisions bring an SQLite file or a PostgreSQL database to
the schema this version of homeport reads.

A store is brought to the newest revision when it is opened, inside one writing transaction (on PostgreSQL the
write lock, so two front doors starting at once migrate once). Stores made before migrations existed hold the
baseline's tables and no `alembic_version`: they are stamped with the baseline first.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

BASELINE = "0001"
_HERE = Path(__file__).parent
log = logging.getLogger(__name__)
# Alembic says which dialect it found each time a store opens; what matters is an upgrade, logged below.
logging.getLogger(MigrationContext.__module__).setLevel(logging.WARNING)


def config(conn: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.attributes["connection"] = conn
    return cfg


def head() -> str:
    revision = ScriptDirectory.from_config(config()).get_current_head()
    assert revision is not None
    return revision


def current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(conn: Connection) -> None:
    """Bring the schema to the newest revision; a store already there costs one query."""
    now = current(conn)
    if now == head():
        return
    cfg = config(conn)
    existing = now is not None or inspect(conn).has_table("models")
    if now is None and existing:
        command.stamp(cfg, BASELINE)  # made by create_all before migrations existed: the baseline's tables
    command.upgrade(cfg, "head")
    if existing:  # a new store is simply made
        log.info("upgraded the store's schema from revision %s to %s", now or BASELINE, head())
