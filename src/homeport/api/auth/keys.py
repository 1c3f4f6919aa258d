"""The server's access keys: the pairs a SigV4 signature may be made with.

Three sources, all passed in by the caller (nothing here reads the environment or the settings):
- an explicit pair (HOMEPORT_ACCESS_KEY_ID / HOMEPORT_SECRET_ACCESS_KEY);
- a keys file with more pairs;
- when neither is given, one pair generated at first start and kept in `<data_dir>/credentials`.

Files use the format of AWS's shared credentials file (`~/.aws/credentials`): one section per pair,

    [default]
    aws_access_key_id = HPEXAMPLEKEYID000000
    aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY

because every AWS user already knows it and boto3 and the AWS CLI read it as it is: the generated file works as
`AWS_SHARED_CREDENTIALS_FILE=<data_dir>/credentials`, and a keys file can serve the clients too. Section names are
labels; other options (region, aws_session_token …) are ignored. A file that group or others may read is refused,
as ssh refuses a private key: the secrets in it sign requests.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

CREDENTIALS_FILE = "credentials"
KEY_ID_PREFIX = "HP"
_KEY_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # base32, as AWS key ids
_SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


class KeyFileError(Exception):
    """A keys file or pair that cannot be used; the message names the file and what to change."""


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str = field(repr=False)


class KeyRing:
    """Access key id → secret. Its repr shows the ids only."""

    def __init__(self, keys: Iterable[AccessKey]) -> None:
        self._secrets: dict[str, str] = {}
        for key in keys:
            _check_pair(key.access_key_id, key.secret_access_key, where="")
            known = self._secrets.setdefault(key.access_key_id, key.secret_access_key)
            if known != key.secret_access_key:
                raise KeyFileError(f"Access key id {key.access_key_id!r} is given twice with different secrets.")

    def secret_for(self, access_key_id: str) -> str | None:
        return self._secrets.get(access_key_id)

    @property
    def access_key_ids(self) -> list[str]:
        return sorted(self._secrets)

    def __contains__(self, access_key_id: object) -> bool:
        return access_key_id in self._secrets

    def __len__(self) -> int:
        return len(self._secrets)

    def __repr__(self) -> str:
        return f"KeyRing({self.access_key_ids!r})"


def key_ring(
    *,
    data_dir: Path,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    keys_file: Path | None = None,
) -> tuple[KeyRing, AccessKey | None]:
    """The server's keys. The second item is a pair generated just now (print it once), else None."""
    access_key_id = access_key_id or None
    secret_access_key = secret_access_key or None
    if (access_key_id is None) != (secret_access_key is None):
        raise KeyFileError(
            "Give both HOMEPORT_ACCESS_KEY_ID and HOMEPORT_SECRET_ACCESS_KEY, or neither (homeport then generates a "
            "pair in the data directory)."
        )
    keys: list[AccessKey] = []
    if access_key_id is not None and secret_access_key is not None:
        _check_pair(access_key_id, secret_access_key, where="HOMEPORT_ACCESS_KEY_ID/HOMEPORT_SECRET_ACCESS_KEY: ")
        keys.append(AccessKey(access_key_id, secret_access_key))
    if keys_file is not None:
        keys += read_keys_file(keys_file)
    if keys:
        return KeyRing(keys), None
    key, created = generated_key(data_dir)
    return KeyRing([key]), key if created else None


def read_keys_file(path: Path) -> list[AccessKey]:
    """Every pair in a shared-credentials-format file; refuses one that group or others may read."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyFileError(f"Cannot read the keys file {path}: {exc.strerror or exc}.") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"The keys file {path} is open to group or others (mode {stat.S_IMODE(mode):04o}); its secrets must be "
            f"private: chmod 600 {path}"
        )
    parser = configparser.ConfigParser(interpolation=None, default_section="\0none")
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        # The parser's own message may quote a line of the file, which may hold a secret: name the place only.
        line = getattr(exc, "lineno", None)
        where = f" near line {line}" if line else ""
        raise KeyFileError(
            f"The keys file {path} is not in the AWS credentials format{where} ({type(exc).__name__}): expected "
            "sections like [name] with aws_access_key_id = … and aws_secret_access_key = … lines."
        ) from None
    keys = []
    for section in parser.sections():
        access_key_id = parser.get(section, "aws_access_key_id", fallback="").strip()
        secret = parser.get(section, "aws_secret_access_key", fallback="").strip()
        if not access_key_id or not secret:
            raise KeyFileError(
                f"Section [{section}] of the keys file {path} needs both aws_access_key_id and aws_secret_access_key."
            )
        _check_pair(access_key_id, secret, where=f"Section [{section}] of {path}: ")
        keys.append(AccessKey(access_key_id, secret))
    if not keys:
        raise KeyFileError(f"The keys file {path} holds no key pair: add a [name] section with both keys.")
    KeyRing(keys)  # refuses an id given twice with different secrets
    return keys


def generated_key(data_dir: Path) -> tuple[AccessKey, bool]:
    """The pair kept in `<data_dir>/credentials`, made on first use; True when it was made just now.

    The file is written whole under a temporary name with mode 0600 and then linked into place, so it is never
    readable by others, never seen half-written, and two servers starting at once keep the same pair.
    """
    path = data_dir / CREDENTIALS_FILE
    if path.exists():
        return _only_key(path), False
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = new_key()
    text = (
        "# homeport's access key, made at first start. Clients can use this file as it is:\n"
        f"#   AWS_SHARED_CREDENTIALS_FILE={path}\n"
        "[default]\n"
        f"aws_access_key_id = {key.access_key_id}\n"
        f"aws_secret_access_key = {key.secret_access_key}\n"
    )
    temporary = data_dir / f".{CREDENTIALS_FILE}.{secrets.token_hex(8)}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _only_key(path), False  # another server made it first: use theirs
        except OSError:
            os.replace(temporary, path)  # a file system without hard links
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return key, True


def new_key() -> AccessKey:
    """A fresh pair shaped like AWS's: a 20-character upper-case id (HP…), a 40-character secret."""
    access_key_id = KEY_ID_PREFIX + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(20 - len(KEY_ID_PREFIX)))
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
    return AccessKey(access_key_id, secret)


def _only_key(path: Path) -> AccessKey:
    keys = read_keys_file(path)
    if len(keys) != 1:
        raise KeyFileError(f"{path} should hold exactly the one generated pair; it holds {len(keys)}.")
    return keys[0]


def _check_pair(access_key_id: str, secret: str, *, where: str) -> None:
    if not access_key_id or any(c.isspace() or c == "/" for c in access_key_id):
        raise KeyFileError(
            f"{where}access key id {access_key_id!r} must be non-empty, without white space or '/' "
            "(it travels inside the SigV4 credential scope)."
        )
    if not secret or any(c.isspace() for c in secret):
        raise KeyFileError(f"{where}the secret access key of {access_key_id!r} must be non-empty, without white space.")
