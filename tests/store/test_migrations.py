"""The store's schema comes from its migrations, and `homeport db migrate --to URL` moves an installation's state
into another database. Here on SQLite; tests/postgresql/test_migrations.py runs the same tests with PostgreSQL as
the database under test (`new_url`)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, func, select, text

from homeport.cli.main import main
from homeport.store import Kind, Store, migrations
from homeport.store.alarms import add_history, alarm_history
from homeport.store.copy import TargetNotEmpty, copy_state
from homeport.store.db import TABLES, metadata, tags
from tests.conftest import KEYS, boto_client
from tests.inprocess import InProcessServer

_names = itertools.count()


@pytest.fixture
def new_url(tmp_path: Path) -> Callable[[str], str]:
    """A URL of a new, empty database."""
    return lambda name: f"sqlite:///{tmp_path / name}-{next(_names)}.db"


def test_a_new_store_is_at_the_newest_revision_with_exactly_the_declared_tables(new_url: Callable[[str], str]) -> None:
    store = Store(new_url("fresh"))
    try:
        with store.reading() as conn:
            assert migrations.current(conn) == migrations.head()
            # A table or column changed in the code without a migration shows up here.
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    finally:
        store.close()


def test_a_store_made_before_migrations_is_stamped_and_keeps_its_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:  # the baseline's tables with no record of a revision: as create_all made them
        command.upgrade(migrations.config(conn), migrations.BASELINE)
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(TABLES[Kind.MODEL].insert().values(name="m", arn="arn:m", creation_time=1.0,
                                                         last_modified_time=1.0, doc='{"ModelName": "m"}'))  # fmt: skip
    engine.dispose()
    store = Store(url)
    try:
        with store.reading() as conn:
            assert migrations.current(conn) == migrations.head()
            assert store.get(conn, Kind.MODEL, "m") == {"ModelName": "m"}
    finally:
        store.close()


def _model(store: Store, name: str) -> None:
    with store.transaction() as conn:
        doc = {"ModelName": name, "CreationTime": 1.5}
        store.insert(conn, Kind.MODEL, doc, name=name, arn=f"arn:model/{name}")
        store.put_tags(conn, f"arn:model/{name}", [{"Key": "team", "Value": "ml"}])


def _rows(store: Store) -> dict[str, int]:
    with store.reading() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in metadata.sorted_tables}


def test_copy_moves_every_row_and_refuses_a_target_that_holds_state(new_url: Callable[[str], str]) -> None:
    source, target = Store(new_url("source")), Store(new_url("target"))
    try:
        _model(source, "a")
        _model(source, "b")
        with source.transaction() as conn:
            add_history(conn, "deep", 1.0, "StateUpdate", "copied", {})
        copied = copy_state(source, target)
        assert copied["models"] == 2 and copied["tags"] == 2 and sum(copied.values()) == 5
        with target.transaction() as conn:  # a row added after the copy takes the next id, not a copied one
            add_history(conn, "deep", 2.0, "StateUpdate", "added", {})
        with target.reading() as conn:
            assert [doc["ModelName"] for doc in target.all(conn, Kind.MODEL)] == ["a", "b"]
            assert conn.execute(select(tags.c.value).where(tags.c.arn == "arn:model/b")).scalar_one() == "ml"
            ids = conn.execute(select(alarm_history.c.id, alarm_history.c.summary).order_by(alarm_history.c.id))
            assert [tuple(row) for row in ids] == [(1, "copied"), (2, "added")]
        _model(source, "c")
        with pytest.raises(TargetNotEmpty, match="already holds rows in alarm_history"):
            copy_state(source, target)
        assert _rows(target)["models"] == 2  # nothing of the refused copy is left behind
    finally:
        source.close()
        target.close()


def test_db_migrate_moves_a_server_state_and_the_server_goes_on_from_it(
    tmp_path: Path, new_url: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A server on SQLite; `homeport db migrate --to`; a server on the new database has every resource, tag and
    alarm history item, and goes on writing (ids after the copied ones)."""
    keys = {"access_key_id": KEYS["HOMEPORT_ACCESS_KEY_ID"], "secret_access_key": KEYS["HOMEPORT_SECRET_ACCESS_KEY"]}
    alarm = {"Namespace": "Mine", "MetricName": "Depth", "Statistic": "Maximum", "Period": 60, "EvaluationPeriods": 1,
             "Threshold": 1.0, "ComparisonOperator": "GreaterThanThreshold"}  # fmt: skip
    with InProcessServer(tmp_path / "embedded", **keys) as first:
        sm, cw = boto_client("sagemaker", first.url), boto_client("cloudwatch", first.url)
        image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
        arn = sm.create_model(
            ModelName="moved", PrimaryContainer={"Image": image}, Tags=[{"Key": "team", "Value": "ml"}]
        )["ModelArn"]
        cw.put_metric_alarm(AlarmName="deep", **alarm)
        before = cw.describe_alarm_history(AlarmName="deep")["AlarmHistoryItems"]
    target = new_url("migrated")
    assert main(["db", "--data-dir", str(tmp_path / "embedded"), "migrate", "--to", target]) == 0
    printed = capsys.readouterr().out
    assert "models" in printed and "serve from it with HOMEPORT_DATABASE_URL" in printed
    assert main(["db", "--data-dir", str(tmp_path / "embedded"), "migrate", "--to", target]) == 2
    assert "migrate into an empty database" in capsys.readouterr().err

    with InProcessServer(tmp_path / "cluster", database_url=target, **keys) as second:
        sm, cw = boto_client("sagemaker", second.url), boto_client("cloudwatch", second.url)
        assert sm.describe_model(ModelName="moved")["PrimaryContainer"]["Image"] == image
        assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
        assert cw.describe_alarm_history(AlarmName="deep")["AlarmHistoryItems"] == before
        cw.put_metric_alarm(AlarmName="deeper", **alarm)  # a new history row: its id follows the copied ones
        assert cw.describe_alarm_history(AlarmName="deeper")["AlarmHistoryItems"][0]["HistorySummary"] == (
            'Alarm "deeper" created'
        )
    assert main(["db", "--database-url", target, "status"]) == 0
    assert f"revision: {migrations.head()} (newest: {migrations.head()})" in capsys.readouterr().out


def test_db_refuses_a_url_it_cannot_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["db", "--data-dir", str(tmp_path)]
    assert main([*data, "migrate", "--to", "not a url"]) == 2
    assert "is not a database URL" in capsys.readouterr().err
    closed = "postgresql+psycopg://homeport:hunter2@127.0.0.1:1/homeport"
    assert main([*data, "migrate", "--to", closed]) == 2
    err = capsys.readouterr().err
    assert "Cannot open the database postgresql+psycopg://homeport:***@127.0.0.1:1/homeport" in err
    assert "hunter2" not in err
