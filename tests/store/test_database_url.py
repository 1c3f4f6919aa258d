"""Where the state goes: SQLite in the data directory by default, any SQLAlchemy URL by HOMEPORT_DATABASE_URL or
`--database-url`, and a clear refusal when the URL's driver is not installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.cli.main import main
from homeport.errors import ConfigurationError
from homeport.settings import Settings
from homeport.store.db import Store


def test_the_default_is_sqlite_in_the_data_directory(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).database == f"sqlite:///{tmp_path / 'homeport.db'}"
    url = "postgresql+psycopg://homeport@db.internal/homeport"
    assert Settings.load({"HOMEPORT_DATABASE_URL": url}, data_dir=tmp_path).database == url


def test_a_driver_that_is_not_installed_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigurationError, match=r"needs the pg8000 module: pip install 'homeport\[postgres\]'"):
        Store("postgresql+pg8000://homeport@127.0.0.1/homeport")
    url = "postgresql+pg8000://homeport@127.0.0.1/homeport"
    assert main(["serve", "--data-dir", str(tmp_path), "--port", "0", "--database-url", url]) == 2
    assert "needs the pg8000 module" in capsys.readouterr().err
