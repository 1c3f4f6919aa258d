"""Alembic's entry point: runs the migrations on the connection `homeport.store.migrations` hands it, inside the
caller's transaction."""

from __future__ import annotations

from alembic import context

import homeport.store  # noqa: F401 - every module's tables, registered on the one MetaData
from homeport.store.db import metadata

conn = context.config.attributes["connection"]
context.configure(
    connection=conn,
    target_metadata=metadata,
    render_as_batch=conn.dialect.name == "sqlite",  # SQLite alters a table by copying it
)
with context.begin_transaction():
    context.run_migrations()
