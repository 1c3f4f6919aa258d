"""An S3 request as the face's handlers read it: subresources and integer arguments, listing continuation
tokens and markers, object metadata and the headers an object is served with, conditional requests (If-Match,
If-None-Match, If-Modified-Since, If-Unmodified-Since), byte ranges, and copy sources."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import unquote

from homeport.api.asgi import Receive, Scope
from homeport.api.auth.sigv4 import Verified
from homeport.api.s3.chunked import stored_content_encoding
from homeport.api.s3.xmldoc import http_date
from homeport.errors import (
    InvalidArgument,
    InvalidRange,
    PreconditionFailed,
)
from homeport.objects.local import ObjectInfo, ObjectMeta, WriteCondition, etag_matches
from homeport.objects.names import after_prefix, check_bucket

_KEPT_HEADERS = ("cache-control", "content-disposition", "content-encoding", "content-language", "expires")
Headers = list[tuple[bytes, bytes]]


@dataclass
class S3Request:
    method: str
    bucket: str
    key: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names; repeated headers joined with ","
    scope: Scope
    receive: Receive
    request_id: str
    auth: Verified | None

    def has(self, name: str) -> bool:
        return name in self.query


def subresource(r: S3Request, names: tuple[str, ...]) -> str:
    for name in names:
        if name in r.query:
            return name
    return ""


def int_arg(raw: str, name: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise InvalidArgument(f"{name} must be an integer from {low} to {high}; got {raw!r}.", ArgumentName=name)
    return value


def encode_token(resume: tuple[str, str] | None) -> str | None:
    return base64.urlsafe_b64encode(json.dumps(resume).encode()).decode() if resume else None


def decode_token(token: str) -> tuple[str, str]:
    try:
        op, key = json.loads(base64.urlsafe_b64decode(token.encode()))
        if op in (">", ">=") and isinstance(key, str):
            return op, key
    except (ValueError, TypeError):
        pass
    raise InvalidArgument("The continuation token provided is incorrect", ArgumentName="continuation-token")


def start_after(value: str | None) -> tuple[str, str] | None:
    return (">", value) if value else None


def marker(marker: str | None, prefix: str, delimiter: str) -> tuple[str, str] | None:
    """ListObjects (v1) resumes after its marker; a marker that is a common prefix skips all of it."""
    if not marker:
        return None
    if delimiter and marker.startswith(prefix) and marker.endswith(delimiter):
        upper = after_prefix(marker)
        return (">=", upper) if upper else (">", marker)
    return (">", marker)


def object_meta(r: S3Request, checks: dict[str, str]) -> ObjectMeta:
    h = r.headers
    user = {name[len("x-amz-meta-") :]: value for name, value in h.items() if name.startswith("x-amz-meta-")}
    kept = {name: h[name] for name in _KEPT_HEADERS if name in h}
    if "content-encoding" in kept:
        encoding = stored_content_encoding(kept.pop("content-encoding"))
        if encoding:
            kept["content-encoding"] = encoding
    return ObjectMeta(h.get("content-type", "binary/octet-stream"), user, kept, checks)


def checksum_headers(checks: dict[str, str]) -> Headers:
    return [(f"x-amz-checksum-{name.lower()}".encode(), value.encode()) for name, value in checks.items()]


def object_headers(info: ObjectInfo, r: S3Request, with_length: bool, whole: bool = True) -> Headers:
    """An object's headers; its checksums only when the whole object is what goes out (S3 does the same)."""
    headers: Headers = [
        (b"content-type", info.meta.content_type.encode("latin-1", "replace")),
        (b"etag", f'"{info.etag}"'.encode()),
        (b"last-modified", http_date(info.last_modified).encode()),
        (b"accept-ranges", b"bytes"),
        (b"x-amz-request-id", r.request_id.encode()),
    ]
    if with_length:
        headers.append((b"content-length", str(info.size).encode()))
    headers += [(name.encode(), value.encode("latin-1", "replace")) for name, value in info.meta.headers.items()]
    headers += [
        (f"x-amz-meta-{name}".encode(), value.encode("latin-1", "replace")) for name, value in info.meta.user.items()
    ]
    if whole and r.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED":
        headers += checksum_headers(info.meta.checksums)
    if info.parts:
        headers.append((b"x-amz-mp-parts-count", str(info.parts).encode()))
    return headers


def preconditions(r: S3Request, info: ObjectInfo) -> int | None:
    """RFC 7232 as S3 applies it: 412 for If-Match / If-Unmodified-Since, 304 for the other two."""

    def when(name: str) -> float | None:
        try:
            return parsedate_to_datetime(r.headers[name]).timestamp() if name in r.headers else None
        except (TypeError, ValueError):
            return None

    modified = int(info.last_modified)
    if_match = r.headers.get("if-match")
    if if_match is not None and not etag_matches(if_match, info.etag):
        raise PreconditionFailed.on("If-Match")
    since = when("if-unmodified-since")
    if if_match is None and since is not None and modified > since:
        raise PreconditionFailed.on("If-Unmodified-Since")
    if_none = r.headers.get("if-none-match")
    if if_none is not None and etag_matches(if_none, info.etag):
        return 304
    since = when("if-modified-since")
    if if_none is None and since is not None and modified <= since:
        return 304
    return None


def write_condition(r: S3Request) -> WriteCondition:
    """The conditions of a PutObject or CompleteMultipartUpload: If-None-Match takes only '*', as in S3."""
    if_none = r.headers.get("if-none-match")
    if if_none is not None and if_none.strip() != "*":
        raise InvalidArgument(
            "If-None-Match on a write takes only '*' (write only if no object has the key).",
            ArgumentName="If-None-Match",
        )
    return WriteCondition(if_none_match=if_none is not None, if_match=r.headers.get("if-match"))


_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.ASCII)


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """[start, stop) for a single `bytes=first-last` or `bytes=-count` range (RFC 9110); None serves the whole
    object, as S3 does for anything else: several ranges, a malformed or an inverted one."""
    found = _RANGE.fullmatch(header.strip()) if header else None
    if found is None or found.group(1) == found.group(2) == "":
        return None
    first, last = found.groups()
    if not first:  # the last `count` bytes
        count = int(last)
        if count == 0:
            return None
        return (max(0, size - count), size) if size else _unsatisfiable(header or "", size)
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        _unsatisfiable(header or "", size)
    return start, min(int(last) + 1, size) if last else size


def _unsatisfiable(header: str, size: int) -> tuple[int, int]:
    raise InvalidRange("The requested range is not satisfiable", RangeRequested=header, ActualObjectSize=size)


def copy_source(header: str) -> tuple[str, str]:
    source = unquote(header.split("?", 1)[0]).lstrip("/")
    bucket, _, key = source.partition("/")
    if not bucket or not key:
        raise InvalidArgument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            ArgumentName="x-amz-copy-source",
        )
    check_bucket(bucket)
    return bucket, key
