"""The server's access keys: explicit pairs, keys files, and the pair generated at first start."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import boto3
import pytest

from homeport.api.auth import keys
from homeport.api.auth.keys import AccessKey, KeyFileError, KeyRing, generated_key, key_ring, new_key, read_keys_file

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_explicit_pair_only(tmp_path: Path) -> None:
    ring, generated = key_ring(data_dir=tmp_path / "data", access_key_id="HPEXPLICIT", secret_access_key=SECRET)
    assert generated is None
    assert ring.secret_for("HPEXPLICIT") == SECRET
    assert ring.secret_for("other") is None
    assert not (tmp_path / "data").exists()  # nothing generated, nothing written


@pytest.mark.parametrize(("key_id", "secret"), [("HPONLY", None), (None, SECRET), ("HPONLY", "")])
def test_half_a_pair_is_refused(tmp_path: Path, key_id: str | None, secret: str | None) -> None:
    with pytest.raises(KeyFileError, match="both HOMEPORT_ACCESS_KEY_ID and HOMEPORT_SECRET_ACCESS_KEY"):
        key_ring(data_dir=tmp_path, access_key_id=key_id, secret_access_key=secret)


@pytest.mark.parametrize("key_id", ["has space", "has/slash", " "])
def test_unusable_key_ids(tmp_path: Path, key_id: str) -> None:
    with pytest.raises(KeyFileError, match="access key id"):
        key_ring(data_dir=tmp_path, access_key_id=key_id, secret_access_key=SECRET)


def test_keys_file_with_several_pairs(tmp_path: Path) -> None:
    path = write(
        tmp_path / "keys",
        "# team keys\n"
        "[default]\n"
        "aws_access_key_id = HPFIRST\n"
        f"aws_secret_access_key = {SECRET}\n"
        "region = eu-west-1\n"
        "\n"
        "[ci]\n"
        "AWS_ACCESS_KEY_ID=HPSECOND\n"
        "aws_secret_access_key=second%secret+with/odd=chars\n",
    )
    ring, generated = key_ring(data_dir=tmp_path / "data", keys_file=path)
    assert generated is None
    assert ring.access_key_ids == ["HPFIRST", "HPSECOND"]
    assert ring.secret_for("HPSECOND") == "second%secret+with/odd=chars"
    both, _ = key_ring(data_dir=tmp_path, access_key_id="HPTHIRD", secret_access_key=SECRET, keys_file=path)
    assert len(both) == 3 and "HPTHIRD" in both


def test_the_same_id_with_two_secrets_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "keys", f"[a]\naws_access_key_id = HPX\naws_secret_access_key = {SECRET}\n")
    with pytest.raises(KeyFileError, match="'HPX' is given twice"):
        key_ring(data_dir=tmp_path, access_key_id="HPX", secret_access_key="different", keys_file=path)
    same, _ = key_ring(data_dir=tmp_path, access_key_id="HPX", secret_access_key=SECRET, keys_file=path)
    assert len(same) == 1


@posix_only
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_keys_file_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path / "keys", f"[a]\naws_access_key_id = HPX\naws_secret_access_key = {SECRET}\n", mode)
    with pytest.raises(KeyFileError, match=re.escape(f"chmod 600 {path}")) as caught:
        read_keys_file(path)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (f"aws_secret_access_key = {SECRET}\n", "not in the AWS credentials format"),
        (f"[a]\naws_secret_access_key = {SECRET}\n", r"\[a\].*needs both"),
        ("[a]\naws_access_key_id = HPX\n", r"\[a\].*needs both"),
        ("# nothing\n", "holds no key pair"),
        (f"[a]\naws_access_key_id = HP X\naws_secret_access_key = {SECRET}\n", "white space"),
        (f"[a]\naws_access_key_id = HPX\naws_secret_access_key = {SECRET}\naws_secret_access_key = b\n", "format"),
        (f"[a]\naws_access_key_id = HPX\naws_secret_access_key = {SECRET}\n[a]\n", "format"),
        (
            f"[a]\naws_access_key_id = HPX\naws_secret_access_key = {SECRET}\n"
            "[b]\naws_access_key_id = HPX\naws_secret_access_key = other\n",
            "given twice",
        ),
        (f"[a]\naws_access_key_id = HPX\n  {SECRET}\n= x\n", "format"),
    ],
)
def test_unusable_keys_files(tmp_path: Path, text: str, match: str) -> None:
    path = write(tmp_path / "keys", text)
    with pytest.raises(KeyFileError, match=match) as caught:
        read_keys_file(path)
    assert SECRET not in str(caught.value)
    assert str(path) in str(caught.value) or "given twice" in str(caught.value)


def test_missing_keys_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="Cannot read the keys file"):
        key_ring(data_dir=tmp_path, keys_file=tmp_path / "absent")


def test_generated_at_first_start_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEPORT_ACCESS_KEY_ID", "HPFROMENV")  # never read: the caller passes what it wants
    monkeypatch.setenv("HOMEPORT_SECRET_ACCESS_KEY", SECRET)
    data_dir = tmp_path / "nested" / "data"
    ring, generated = key_ring(data_dir=data_dir)
    assert generated is not None
    assert ring.access_key_ids == [generated.access_key_id]
    assert "HPFROMENV" not in ring
    path = data_dir / keys.CREDENTIALS_FILE
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in data_dir.iterdir()] == [keys.CREDENTIALS_FILE]  # no temporary file left behind
    again, generated_again = key_ring(data_dir=data_dir)
    assert generated_again is None
    assert again.access_key_ids == ring.access_key_ids
    assert again.secret_for(generated.access_key_id) == generated.secret_access_key


def test_generated_file_is_an_aws_credentials_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key, created = generated_key(tmp_path)
    assert created
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / keys.CREDENTIALS_FILE))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent-config"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    credentials = boto3.Session().get_credentials()
    assert credentials is not None
    assert (credentials.access_key, credentials.secret_key) == (key.access_key_id, key.secret_access_key)


@posix_only
def test_generated_file_is_never_readable_by_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[tuple[int, int]] = []
    real_open = os.open

    def spy(path: Any, flags: int, mode: int = 0o777, *args: Any, **kwargs: Any) -> int:
        opened.append((flags, mode))
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(keys.os, "open", spy)
    old = os.umask(0)  # even with no umask to help
    try:
        generated_key(tmp_path)
    finally:
        os.umask(old)
    flags, mode = opened[0]
    assert mode == 0o600
    assert flags & os.O_CREAT and flags & os.O_EXCL
    assert stat.S_IMODE((tmp_path / keys.CREDENTIALS_FILE).stat().st_mode) == 0o600


def test_a_server_starting_at_the_same_time_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    theirs = new_key()

    def link_after_them(source: Any, target: Any) -> None:
        write(
            Path(target),
            f"[default]\naws_access_key_id = {theirs.access_key_id}\n"
            f"aws_secret_access_key = {theirs.secret_access_key}\n",
        )
        raise FileExistsError(target)

    monkeypatch.setattr(keys.os, "link", link_after_them)
    key, created = generated_key(tmp_path)
    assert (key, created) == (theirs, False)
    assert [p.name for p in tmp_path.iterdir()] == [keys.CREDENTIALS_FILE]


def test_file_systems_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(source: Any, target: Any) -> None:
        raise PermissionError("no hard links here")

    monkeypatch.setattr(keys.os, "link", no_links)
    key, created = generated_key(tmp_path)
    assert created
    assert read_keys_file(tmp_path / keys.CREDENTIALS_FILE) == [key]


@posix_only
def test_generated_file_made_readable_later_is_refused(tmp_path: Path) -> None:
    generated_key(tmp_path)
    (tmp_path / keys.CREDENTIALS_FILE).chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        key_ring(data_dir=tmp_path)


def test_generated_file_edited_to_hold_two_pairs_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path / keys.CREDENTIALS_FILE,
        f"[a]\naws_access_key_id = HPA\naws_secret_access_key = {SECRET}\n"
        f"[b]\naws_access_key_id = HPB\naws_secret_access_key = {SECRET}\n",
    )
    with pytest.raises(KeyFileError, match="exactly the one generated pair"):
        generated_key(tmp_path)


def test_new_keys_look_like_aws_keys() -> None:
    made = {new_key() for _ in range(50)}
    assert len(made) == 50
    for key in made:
        assert re.fullmatch(r"HP[A-Z2-7]{18}", key.access_key_id)
        assert re.fullmatch(r"[A-Za-z0-9+/]{40}", key.secret_access_key)


def test_secrets_stay_out_of_reprs(tmp_path: Path) -> None:
    key = AccessKey("HPSHOWN", SECRET)
    ring = KeyRing([key, AccessKey("HPOTHER", "another-secret")])
    for text in (repr(key), str(key), repr(ring), str(ring)):
        assert SECRET not in text and "another-secret" not in text
    assert "HPSHOWN" in repr(ring)
