"""AWS Signature Version 4 on the server side: what a request claims, and the types every face shares.

A request carries its claim in the `Authorization` header or in `X-Amz-*` query parameters (a presigned URL):
the key id, the credential scope (date, region, service), the signed headers, the time and the signature. This
module reads that claim (`claim_from_header`, `claim_from_query`) and defines what the rest of the API layer
passes around: `RawRequest`, `Verified`, `PayloadMode`, `AuthFailure` and its `Reason`. `signature.verify()`
checks a claim; `refusals` turns a failure into the error each face answers with.

Secrets, signing keys and the signatures the server computes never enter a message, a detail or a repr.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any
from urllib.parse import unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
MAX_SKEW = timedelta(minutes=15)
MAX_EXPIRES_S = 604800  # a week: SigV4 presigned URLs cannot live longer
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

AMZ_DATE = "%Y%m%dT%H%M%SZ"
_AMZ_DATE_RE = re.compile(r"\d{8}T\d{6}Z")
_SCOPE_DATE_RE = re.compile(r"\d{8}")
HEX64_RE = re.compile(r"[0-9a-fA-F]{64}")
# botocore's Authorization header, exactly; the groups are what `_parse_authorization` returns.
_BOTOCORE_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request, "
    r"SignedHeaders=([^,\s]+), Signature=([^,\s]+)"
)
_CREDENTIAL_SHAPE = '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request"'
_QUERY_AUTH = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders")
_QUERY_REQUIRED = (*_QUERY_AUTH, "X-Amz-Expires")


class PayloadMode(StrEnum):
    """How the body is covered, from `x-amz-content-sha256` (the values spell the header's)."""

    SHA256 = "SHA256"  # a hex digest of the whole body: `Verified.content_sha256`
    UNSIGNED = "UNSIGNED-PAYLOAD"
    STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

    @property
    def streaming(self) -> bool:
        return self.value.startswith("STREAMING-")

    @property
    def signed_chunks(self) -> bool:
        return self in (PayloadMode.STREAMING_SIGNED, PayloadMode.STREAMING_SIGNED_TRAILER)

    @property
    def trailer(self) -> bool:
        return self.value.endswith("-TRAILER")


class Reason(StrEnum):
    """Why a request was refused; `refusals` maps each to the error of each face."""

    MISSING = "missing"  # no Authorization header and no X-Amz-* query authentication
    UNSUPPORTED = "unsupported"  # another scheme or algorithm (SigV2, SigV4a, Bearer …)
    AMBIGUOUS = "ambiguous"  # both an Authorization header and query authentication
    INCOMPLETE = "incomplete"  # Credential, SignedHeaders, Signature or a query parameter is absent
    MALFORMED = "malformed"  # present but unusable: credential shape, SignedHeaders, X-Amz-Expires
    BAD_DATE = "bad_date"  # no X-Amz-Date (or Date), or one that cannot be read
    WRONG_DATE = "wrong_date"  # the credential scope's date is not the request's date
    WRONG_REGION = "wrong_region"
    WRONG_SERVICE = "wrong_service"
    UNKNOWN_KEY = "unknown_key"
    SIGNATURE_MISMATCH = "signature_mismatch"
    SKEWED = "skewed"  # header-signed and more than 15 minutes from the server's clock
    EXPIRED = "expired"  # presigned URL past X-Amz-Date + X-Amz-Expires
    NOT_YET_VALID = "not_yet_valid"  # presigned URL dated in the future
    UNSIGNED_HEADERS = "unsigned_headers"  # S3: x-amz-* headers sent but not signed
    MISSING_CONTENT_SHA256 = "missing_content_sha256"  # S3 needs x-amz-content-sha256 on header-signed requests
    BAD_CONTENT_SHA256 = "bad_content_sha256"  # x-amz-content-sha256 is no known value and no sha256
    PAYLOAD_MISMATCH = "payload_mismatch"  # the body does not hash to x-amz-content-sha256


class AuthFailure(Exception):
    """A refused request. `details` holds the facts the wire errors quote (times, scope parts, canonical strings)."""

    def __init__(self, reason: Reason, message: str, *, presigned: bool = False, **details: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.presigned = presigned
        self.details = details


@dataclass(slots=True)
class RawRequest:
    """The request as received: the path still percent-encoded, header names lower-case (as ASGI gives them)."""

    method: str
    path: bytes | str
    query: bytes = b""
    headers: Sequence[tuple[bytes, bytes]] = ()

    @classmethod
    def from_scope(cls, scope: Mapping[str, Any]) -> RawRequest:
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
        return cls(scope["method"], raw_path, scope.get("query_string", b""), [(k, v) for k, v in scope["headers"]])


@dataclass(slots=True)
class Verified:
    """An authenticated request. The chunk decoder needs `signing_key`, `timestamp`, `scope` and `signature`."""

    access_key_id: str
    region: str
    service: str
    scope: str  # "20130524/us-east-1/s3/aws4_request"
    timestamp: str  # "20130524T000000Z", as signed
    request_time: datetime
    payload: PayloadMode
    # The hex sha256 the body must have when `payload` is SHA256; `payload_verified` says whether verify() saw it.
    content_sha256: str | None
    payload_verified: bool
    presigned: bool
    expires_at: datetime | None
    signing_key: bytes = field(repr=False)
    signature: str = field(repr=False)  # the seed of a signed chunk chain


@functools.lru_cache(maxsize=256)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The derived key; cached, since every request of a day, region and service derives the same one."""
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    for part in (region, service, TERMINATOR):
        key = _hmac(key, part)
    return key


def hmac_hex(key: bytes, message: str) -> str:
    return hmac.digest(key, message.encode("utf-8"), "sha256").hex()


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.digest(key, message.encode("utf-8"), "sha256")


# --- parsing ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Claim:
    """What the request says about itself, before anything is checked against the server."""

    access_key_id: str
    scope_date: str
    region: str
    service: str
    signed_headers: list[str]
    signature: str
    timestamp: str
    request_time: datetime
    presigned: bool
    expires_s: int | None

    @property
    def scope(self) -> str:
        return f"{self.scope_date}/{self.region}/{self.service}/{TERMINATOR}"


class Headers:
    """Lower-case name → values, decoded as Latin-1 (what HTTP/1.1 carries and what botocore's clients send)."""

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        self.values: dict[str, list[str]] = {}
        values = self.values
        for name, value in raw:
            key = name.decode("latin-1").lower()
            found = values.get(key)
            if found is None:
                values[key] = [value.decode("latin-1")]
            else:
                found.append(value.decode("latin-1"))

    def get(self, name: str) -> str | None:
        found = self.values.get(name)
        return found[0] if found else None


def split_target(path: bytes | str, query: bytes) -> tuple[bytes, bytes]:
    raw = path.encode("utf-8") if isinstance(path, str) else path
    raw, mark, rest = raw.partition(b"?")  # a server that left the query on raw_path
    return raw, (query or rest) if mark else query


def query_params(query: bytes) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in query.split(b"&"):
        if part:
            name, _, value = part.partition(b"=")
            params.setdefault(_unquote(name), _unquote(value))
    return params


def _unquote(raw: bytes) -> str:
    return unquote_to_bytes(raw).decode("utf-8", errors="replace")


def claim_from_header(authorization: str, headers: Headers) -> Claim:
    botocore = _BOTOCORE_AUTHORIZATION.fullmatch(authorization)
    if botocore is not None:  # what every botocore client sends: one match instead of the general parse below
        access_key_id, scope_date, region, service, signed_headers, signature = botocore.groups()
    else:
        access_key_id, scope_date, region, service, signed_headers, signature = _parse_authorization(authorization)
    timestamp, request_time = _header_time(headers)
    return Claim(
        access_key_id=access_key_id,
        scope_date=scope_date,
        region=region,
        service=service,
        signed_headers=_parse_signed_headers(signed_headers, presigned=False),
        signature=signature,
        timestamp=timestamp,
        request_time=request_time,
        presigned=False,
        expires_s=None,
    )


def _parse_authorization(authorization: str) -> tuple[str, str, str, str, str, str]:
    """Any well-formed Authorization header: (access key, date, region, service, SignedHeaders, Signature)."""
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme != ALGORITHM:
        raise AuthFailure(
            Reason.UNSUPPORTED,
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
        )
    parts: dict[str, str] = {}
    for component in rest.split(","):
        name, eq, value = component.strip().partition("=")
        if eq:
            parts[name.strip()] = value.strip()
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not parts.get(name)]
    if missing:
        raise AuthFailure(
            Reason.INCOMPLETE,
            "The authorization header is malformed; the authorization header requires three components: "
            "Credential, SignedHeaders, and Signature.",
            missing=",".join(missing),
        )
    access_key_id, scope_date, region, service = _parse_credential(parts["Credential"], presigned=False)
    return access_key_id, scope_date, region, service, parts["SignedHeaders"], parts["Signature"]


def claim_from_query(params: Mapping[str, str]) -> Claim:
    algorithm = params.get("X-Amz-Algorithm")
    if algorithm is not None and algorithm != ALGORITHM:
        raise AuthFailure(Reason.UNSUPPORTED, 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"', presigned=True)
    missing = [name for name in _QUERY_REQUIRED if not params.get(name)]
    if missing:
        raise AuthFailure(
            Reason.INCOMPLETE,
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, "
            "X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
            presigned=True,
            missing=",".join(missing),
        )
    access_key_id, scope_date, region, service = _parse_credential(params["X-Amz-Credential"], presigned=True)
    timestamp = params["X-Amz-Date"]
    request_time = _parse_amz_date(timestamp)
    if request_time is None:
        raise AuthFailure(
            Reason.BAD_DATE,
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
            presigned=True,
            date=timestamp[:40],
        )
    raw_expires = params["X-Amz-Expires"]
    try:
        expires_s = int(raw_expires)
    except ValueError:
        raise AuthFailure(Reason.MALFORMED, "X-Amz-Expires should be a number", presigned=True) from None
    if expires_s < 0:
        raise AuthFailure(Reason.MALFORMED, "X-Amz-Expires must be non-negative", presigned=True)
    if expires_s > MAX_EXPIRES_S:
        raise AuthFailure(
            Reason.MALFORMED,
            "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less "
            f"than {MAX_EXPIRES_S} seconds",
            presigned=True,
        )
    return Claim(
        access_key_id=access_key_id,
        scope_date=scope_date,
        region=region,
        service=service,
        signed_headers=_parse_signed_headers(params["X-Amz-SignedHeaders"], presigned=True),
        signature=params["X-Amz-Signature"],
        timestamp=timestamp,
        request_time=request_time,
        presigned=True,
        expires_s=expires_s,
    )


def malformed_prefix(presigned: bool) -> str:
    if presigned:
        return "Error parsing the X-Amz-Credential parameter; "
    return "The authorization header is malformed; "


def _parse_credential(credential: str, *, presigned: bool) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts[1:4]):
        raise AuthFailure(
            Reason.MALFORMED,
            f"{malformed_prefix(presigned)}the Credential is mal-formed; expecting {_CREDENTIAL_SHAPE}.",
            presigned=presigned,
        )
    access_key_id, scope_date, region, service, terminator = parts
    if not access_key_id:
        message = "a non-empty Access Key (AKID) must be provided in the credential."
        raise AuthFailure(Reason.MALFORMED, malformed_prefix(presigned) + message, presigned=presigned)
    if not _SCOPE_DATE_RE.fullmatch(scope_date):
        message = (
            f'incorrect date format "{scope_date[:20]}". This date in the credential must be in the format "yyyyMMdd".'
        )
        raise AuthFailure(Reason.MALFORMED, malformed_prefix(presigned) + message, presigned=presigned)
    if terminator != TERMINATOR:
        message = f'incorrect terminal "{terminator[:40]}". This endpoint uses "{TERMINATOR}".'
        raise AuthFailure(Reason.MALFORMED, malformed_prefix(presigned) + message, presigned=presigned)
    return access_key_id, scope_date, region, service


def _parse_signed_headers(value: str, *, presigned: bool) -> list[str]:
    names = value.split(";")
    if "host" not in names:
        where = "X-Amz-SignedHeaders" if presigned else "SignedHeaders"
        raise AuthFailure(
            Reason.MALFORMED,
            f"'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization: add host to {where}.",
            presigned=presigned,
        )
    return names


def _parse_amz_date(value: str) -> datetime | None:
    if not _AMZ_DATE_RE.fullmatch(value):
        return None
    try:  # slicing, not strptime: this runs on every request and strptime alone costs ~12 µs
        return datetime(
            int(value[0:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[9:11]),
            int(value[11:13]),
            int(value[13:15]),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def _header_time(headers: Headers) -> tuple[str, datetime]:
    amz_date = headers.get("x-amz-date")
    if amz_date is not None:
        parsed = _parse_amz_date(amz_date.strip())
        if parsed is None:
            raise AuthFailure(
                Reason.BAD_DATE,
                f"X-Amz-Date {amz_date[:40]!r} is not in the ISO 8601 basic format yyyyMMdd'T'HHmmss'Z' "
                "(e.g. 20130524T000000Z).",
            )
        return amz_date.strip(), parsed
    date = headers.get("date")
    if date is None:
        raise AuthFailure(
            Reason.BAD_DATE,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        )
    try:
        parsed = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        raise AuthFailure(
            Reason.BAD_DATE, f"Date {date[:40]!r} is not an HTTP date; send X-Amz-Date instead."
        ) from None
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return parsed.strftime(AMZ_DATE), parsed
