"""tests/store/test_migrations.py with PostgreSQL as the database under test: the migrations build exactly the
declared tables there too, and `homeport db migrate --to postgresql://…` moves an SQLite installation's state into
it (sequences moved past the copied ids)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from tests.store.test_migrations import (  # noqa: F401 - run here with this module's `new_url`
    test_a_new_store_is_at_the_newest_revision_with_exactly_the_declared_tables,
    test_copy_moves_every_row_and_refuses_a_target_that_holds_state,
    test_db_migrate_moves_a_server_state_and_the_server_goes_on_from_it,
)

_names = itertools.count()


@pytest.fixture
def new_url(database: Callable[[str], dict[str, str]]) -> Callable[[str], str]:
    return lambda name: database(f"{name}_{next(_names)}")["database_url"]
