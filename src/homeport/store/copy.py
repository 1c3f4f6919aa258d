"""`homeport db migrate --to URL`: every row of one store copied into another, empty one (SQLite to PostgreSQL, or
back), from one snapshot of the source and in one transaction on the target, so a failed copy leaves the target
as empty as it was."""

from __future__ import annotations

from itertools import islice

from sqlalchemy import Connection, Integer, Table, func, select, text

from homeport.store.db import Store, metadata

BATCH = 1000  # rows per INSERT: few round trips to a remote PostgreSQL, bounded memory for the largest tables


class TargetNotEmpty(Exception):
    """The target already holds state: copying into it would mix two installations."""


def copy_state(source: Store, target: Store) -> dict[str, int]:
    """Copy every table; returns the rows copied, per table."""
    copied: dict[str, int] = {}
    with source.reading() as reader, target.transaction() as writer:
        for table in metadata.sorted_tables:
            if writer.execute(select(func.count()).select_from(table)).scalar_one():
                raise TargetNotEmpty(
                    f"The target database already holds rows in {table.name}: migrate into an empty database."
                )
        for table in metadata.sorted_tables:
            rows = reader.execute(select(table)).mappings()
            copied[table.name] = 0
            while batch := [dict(row) for row in islice(rows, BATCH)]:
                writer.execute(table.insert(), batch)
                copied[table.name] += len(batch)
            _advance_sequence(writer, table)
    return copied


def _advance_sequence(conn: Connection, table: Table) -> None:
    """PostgreSQL: rows inserted with their ids leave the id's sequence where it was; move it past them, or the
    next insert takes an id already used."""
    if conn.dialect.name != "postgresql":
        return  # SQLite takes the largest rowid plus one
    key = list(table.primary_key.columns)
    if len(key) == 1 and isinstance(key[0].type, Integer) and key[0].autoincrement in (True, "auto"):
        column = key[0]
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                f"COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1, false)"
            )
        )
