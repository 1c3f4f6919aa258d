"""Settings: HOMEPORT_* variables, then flags; bad values say which variable and what it takes."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.settings import Settings


def test_defaults_then_environment_then_flags(tmp_path: Path) -> None:
    env = {"HOMEPORT_PORT": "9000", "HOMEPORT_PREFORK": "false", "HOMEPORT_MODEL_TIMEOUT_S": "2.5"}
    settings = Settings.load(env, data_dir=str(tmp_path), port=9100)
    assert (settings.port, settings.prefork, settings.model_timeout_s) == (9100, False, 2.5)
    assert settings.data_dir == tmp_path.resolve()
    assert Settings.load({}).prefork is True


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("TRUE", True), ("on", True), ("0", False), ("No", False)])
def test_booleans(raw: str, value: bool) -> None:
    assert Settings.load({"HOMEPORT_PREFORK": raw}).prefork is value


@pytest.mark.parametrize(("name", "raw"), [("HOMEPORT_PREFORK", "maybe"), ("HOMEPORT_PORT", "eighty")])
def test_bad_values_name_the_variable(name: str, raw: str) -> None:
    with pytest.raises(ValueError, match=f"{name}={raw!r} is not a valid"):
        Settings.load({name: raw})
