"""What S3 accepts as a bucket name and as a key, and the string arithmetic that listing needs."""

from __future__ import annotations

import ipaddress
import re

from homeport.errors import InvalidArgument, InvalidBucketName, KeyTooLong

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
MAX_KEY_BYTES = 1024
_MAX_CHAR = 0x10FFFF


def check_bucket(name: str) -> str:
    """S3's general-purpose bucket naming rules; the name also becomes a directory, so they matter."""
    problem = None
    if not _BUCKET.fullmatch(name):
        problem = "use 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit"
    elif ".." in name or ".-" in name or "-." in name:
        problem = "no two adjacent dots, and no dot next to a hyphen"
    elif name.startswith(("xn--", "sthree-")) or name.endswith(("-s3alias", "--ol-s3")):
        problem = "the prefixes xn-- and sthree- and the suffixes -s3alias and --ol-s3 are reserved"
    elif _is_ip(name):
        problem = "a bucket name cannot look like an IP address"
    if problem:
        raise InvalidBucketName(f"The specified bucket is not valid: {name!r} ({problem}).", BucketName=name)
    return name


def check_key(key: str) -> str:
    if not key:
        raise InvalidArgument("An object key must not be empty.")
    size = len(key.encode("utf-8", "surrogatepass"))
    if size > MAX_KEY_BYTES:
        raise KeyTooLong(f"Your key is too long: {size} bytes of UTF-8; the limit is {MAX_KEY_BYTES}.")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument("An object key must be valid UTF-8.") from None
    return key


def after_prefix(prefix: str) -> str | None:
    """The least string greater than every string that starts with `prefix` (None: there is none).

    Keys sort by code point, which is also the byte order of their UTF-8 (how S3 and SQLite sort).
    """
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000  # surrogates are not characters a key can hold
        if code <= _MAX_CHAR:
            return "".join(chars) + chr(code)
    return None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True
