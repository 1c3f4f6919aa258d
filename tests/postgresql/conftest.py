"""The services tier's servers (tests/services/conftest.py), with their state in a real PostgreSQL server
(tests/postgres.py) instead of SQLite: every table and query of the store, through the API, on both databases."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.services.conftest import (  # noqa: F401 - the same servers and clients, on this folder's `database`
    cw,
    faas,
    fast,
    fast_xgb,
    frt,
    fs3,
    fsm,
    probe,
    server,
)


@pytest.fixture(scope="session")
def database() -> Iterator[Callable[[str], dict[str, str]]]:
    from tests.postgres import new_database, postgres_server

    with postgres_server() as url:
        yield lambda name: {"database_url": new_database(url, name)}
