"""AWS Signature Version 4, verified on the server side: pure functions, no HTTP framework.

`verify()` takes the request as it came off the wire (`RawRequest`), a key lookup and the current time, and
returns `Verified` or raises `AuthFailure`, whose `reason` says what went wrong and whose message says what to fix.
`json_error()` and `s3_error()` turn a failure into the error each face answers with (`WireError`).

Canonicalisation follows what botocore signs, since that is the client our users run:
- the canonical URI of S3 is the path as sent (already percent-encoded once); every other service normalises the
  path (dot and empty segments removed) and percent-encodes it once more, so `%20` is signed as `%2520`;
- the canonical query decodes every name and value and encodes it again with the unreserved set, sorted;
- header values are trimmed, their inner runs of white space collapsed, repeats joined with commas.

Secrets, signing keys and the signatures the server computes never enter a message, a detail or a repr.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote_from_bytes, unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
MAX_SKEW = timedelta(minutes=15)
MAX_EXPIRES_S = 604800  # a week: SigV4 presigned URLs cannot live longer
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_AMZ_DATE_RE = re.compile(r"\d{8}T\d{6}Z")
_PLAIN_PATH_RE = re.compile(rb"/[A-Za-z0-9/_.~-]*")  # the characters quote() leaves alone
_DOT_SEGMENT_RE = re.compile(rb"/\.\.?(?:/|$)")
_SCOPE_DATE_RE = re.compile(r"\d{8}")
_HEX64_RE = re.compile(r"[0-9a-fA-F]{64}")
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
    """Why a request was refused; `json_error()` and `s3_error()` map each to the wire."""

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


@dataclass(frozen=True)
class WireError:
    """An AWS error as one face sends it; `fields` are the extra elements of S3's <Error> document."""

    code: str
    status: int
    message: str
    fields: tuple[tuple[str, str], ...] = ()


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


def verify(
    request: RawRequest,
    secret_for: Callable[[str], str | None],
    now: datetime,
    *,
    body: bytes | None = None,
    body_sha256: str | None = None,
    region: str | None = None,
    services: Collection[str] | None = None,
) -> Verified:
    """Authenticate `request` or raise AuthFailure.

    `body` or `body_sha256` (hex) is needed when the payload hash is not in `x-amz-content-sha256` (services other
    than S3 leave it out); when given alongside a hex `x-amz-content-sha256` the body is checked against it.
    `region` and `services`, when given, are what the credential scope must name.
    """
    if now.tzinfo is not UTC:
        now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    headers = _Headers(request.headers)
    path, query = _split_target(request.path, request.query)
    params = _query_params(query)
    authorization = headers.get("authorization")
    if authorization is not None and any(name in params for name in ("X-Amz-Credential", "X-Amz-Signature")):
        raise AuthFailure(
            Reason.AMBIGUOUS,
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string "
            "parameter or the Authorization header should be specified",
        )
    if authorization is not None:
        claim = _claim_from_header(authorization, headers)
    elif any(name in params for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature")):
        claim = _claim_from_query(params)
    elif "AWSAccessKeyId" in params and "Signature" in params:
        raise AuthFailure(
            Reason.UNSUPPORTED,
            "Signature Version 2 query authentication is not supported. Presign with AWS4-HMAC-SHA256 "
            "(botocore: Config(signature_version='s3v4')).",
            presigned=True,
        )
    else:
        raise AuthFailure(
            Reason.MISSING,
            "The request is not signed: send an Authorization header or X-Amz-* query parameters made with AWS "
            "Signature Version 4 and an access key this server knows.",
        )

    _check_scope(claim, region, services)
    secret = secret_for(claim.access_key_id)
    if secret is None:
        raise AuthFailure(
            Reason.UNKNOWN_KEY,
            f"The AWS Access Key Id you provided does not exist in our records: {claim.access_key_id!r} is not one "
            "of this server's access keys.",
            presigned=claim.presigned,
            access_key_id=claim.access_key_id,
        )
    expires_at = _check_time(claim, now)
    if claim.service == "s3" and not claim.presigned:
        _check_signed_amz_headers(claim, headers)
    declared, mode, hashed_here = _payload(claim, headers, params, body, body_sha256)

    key = signing_key(secret, claim.scope_date, claim.region, claim.service)
    canonical_query = _canonical_query(query, drop_signature=claim.presigned)
    canonical_headers = _canonical_headers(claim.signed_headers, headers)
    first: tuple[str, str] | None = None
    for uri in _canonical_uris(path, s3=claim.service == "s3"):
        canonical = "\n".join(
            [request.method.upper(), uri, canonical_query, canonical_headers, ";".join(claim.signed_headers), declared]
        )
        to_sign = "\n".join([ALGORITHM, claim.timestamp, claim.scope, _sha256_hex(canonical.encode("utf-8"))])
        expected = hmac_hex(key, to_sign)
        if hmac.compare_digest(expected.encode("ascii"), claim.signature.encode("utf-8")):
            break
        first = first or (canonical, to_sign)
    else:
        assert first is not None
        raise AuthFailure(
            Reason.SIGNATURE_MISMATCH,
            "The request signature we calculated does not match the signature you provided. Check the secret "
            "access key and that the request was not changed after it was signed (path, query, signed headers, "
            "body).",
            presigned=claim.presigned,
            access_key_id=claim.access_key_id,
            canonical_request=first[0],
            string_to_sign=first[1],
            signature_provided=claim.signature,
        )

    content_sha256: str | None = declared
    checked = True  # when hashed here, the body's own hash was signed and the signature vouched for it
    if not hashed_here:
        content_sha256, checked = _check_payload(mode, declared, body, body_sha256, claim)
    return Verified(
        access_key_id=claim.access_key_id,
        region=claim.region,
        service=claim.service,
        scope=claim.scope,
        timestamp=claim.timestamp,
        request_time=claim.request_time,
        payload=mode,
        content_sha256=content_sha256,
        payload_verified=checked,
        presigned=claim.presigned,
        expires_at=expires_at,
        signing_key=key,
        signature=claim.signature,
    )


# --- parsing ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Claim:
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


class _Headers:
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


def _split_target(path: bytes | str, query: bytes) -> tuple[bytes, bytes]:
    raw = path.encode("utf-8") if isinstance(path, str) else path
    raw, mark, rest = raw.partition(b"?")  # a server that left the query on raw_path
    return raw, (query or rest) if mark else query


def _query_params(query: bytes) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in query.split(b"&"):
        if part:
            name, _, value = part.partition(b"=")
            params.setdefault(_unquote(name), _unquote(value))
    return params


def _unquote(raw: bytes) -> str:
    return unquote_to_bytes(raw).decode("utf-8", errors="replace")


def _claim_from_header(authorization: str, headers: _Headers) -> _Claim:
    botocore = _BOTOCORE_AUTHORIZATION.fullmatch(authorization)
    if botocore is not None:  # what every botocore client sends: one match instead of the general parse below
        access_key_id, scope_date, region, service, signed_headers, signature = botocore.groups()
    else:
        access_key_id, scope_date, region, service, signed_headers, signature = _parse_authorization(authorization)
    timestamp, request_time = _header_time(headers)
    return _Claim(
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


def _claim_from_query(params: Mapping[str, str]) -> _Claim:
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
    return _Claim(
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


def _malformed_prefix(presigned: bool) -> str:
    if presigned:
        return "Error parsing the X-Amz-Credential parameter; "
    return "The authorization header is malformed; "


def _parse_credential(credential: str, *, presigned: bool) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts[1:4]):
        raise AuthFailure(
            Reason.MALFORMED,
            f"{_malformed_prefix(presigned)}the Credential is mal-formed; expecting {_CREDENTIAL_SHAPE}.",
            presigned=presigned,
        )
    access_key_id, scope_date, region, service, terminator = parts
    if not access_key_id:
        message = "a non-empty Access Key (AKID) must be provided in the credential."
        raise AuthFailure(Reason.MALFORMED, _malformed_prefix(presigned) + message, presigned=presigned)
    if not _SCOPE_DATE_RE.fullmatch(scope_date):
        message = (
            f'incorrect date format "{scope_date[:20]}". This date in the credential must be in the format "yyyyMMdd".'
        )
        raise AuthFailure(Reason.MALFORMED, _malformed_prefix(presigned) + message, presigned=presigned)
    if terminator != TERMINATOR:
        message = f'incorrect terminal "{terminator[:40]}". This endpoint uses "{TERMINATOR}".'
        raise AuthFailure(Reason.MALFORMED, _malformed_prefix(presigned) + message, presigned=presigned)
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


def _header_time(headers: _Headers) -> tuple[str, datetime]:
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
    return parsed.strftime(_AMZ_DATE), parsed


# --- checks ----------------------------------------------------------------------------------------------------


def _check_scope(claim: _Claim, region: str | None, services: Collection[str] | None) -> None:
    if claim.scope_date != claim.timestamp[:8]:
        if claim.presigned:
            message = (
                f'Invalid credential date "{claim.scope_date}". This date is not the same as X-Amz-Date: '
                f'"{claim.timestamp[:8]}".'
            )
        else:
            message = (
                "The authorization header is malformed; Invalid credential date. Date is not the same as X-Amz-Date."
            )
        raise AuthFailure(
            Reason.WRONG_DATE,
            message,
            presigned=claim.presigned,
            credential_date=claim.scope_date,
            request_date=claim.timestamp[:8],
            timestamp=claim.timestamp,
        )
    if region is not None and claim.region != region:
        raise AuthFailure(
            Reason.WRONG_REGION,
            f"{_malformed_prefix(claim.presigned)}the region '{claim.region}' is wrong; expecting '{region}'",
            presigned=claim.presigned,
            region=claim.region,
            expected_region=region,
        )
    if services is not None and claim.service not in services:
        expected = sorted(services)[0] if services else ""
        raise AuthFailure(
            Reason.WRONG_SERVICE,
            f'{_malformed_prefix(claim.presigned)}incorrect service "{claim.service}". This endpoint belongs to '
            f'"{expected}".',
            presigned=claim.presigned,
            service=claim.service,
            expected_service=expected,
        )


def _check_time(claim: _Claim, now: datetime) -> datetime | None:
    if not claim.presigned:
        if abs(claim.request_time - now) > MAX_SKEW:
            server_time = now.strftime(_AMZ_DATE)
            raise AuthFailure(
                Reason.SKEWED,
                f"The difference between the request time ({claim.timestamp}) and the server's time ({server_time}) "
                "is more than 15 minutes: correct the client's clock, or sign the request again.",
                request_time=claim.timestamp,
                server_time=server_time,
            )
        return None
    assert claim.expires_s is not None
    server_time = now.strftime(_AMZ_DATE)
    expires_at = claim.request_time + timedelta(seconds=claim.expires_s)
    if claim.request_time - now > MAX_SKEW:
        raise AuthFailure(
            Reason.NOT_YET_VALID,
            f"Request is not yet valid: it is dated {claim.timestamp}, later than the server's time ({server_time}); "
            "correct the clock of the machine that presigned it.",
            presigned=True,
            request_time=claim.timestamp,
            expires_at=expires_at.strftime(_AMZ_DATE),
            server_time=server_time,
        )
    if now > expires_at:
        raise AuthFailure(
            Reason.EXPIRED,
            f"Request has expired: the URL was valid until {expires_at.strftime(_AMZ_DATE)} and it is now "
            f"{server_time}; presign it again.",
            presigned=True,
            request_time=claim.timestamp,
            expires=str(claim.expires_s),
            expires_at=expires_at.strftime(_AMZ_DATE),
            server_time=server_time,
        )
    return expires_at


def _check_signed_amz_headers(claim: _Claim, headers: _Headers) -> None:
    signed = set(claim.signed_headers)
    unsigned = sorted(name for name in headers.values if name.startswith("x-amz-") and name not in signed)
    if unsigned:
        raise AuthFailure(
            Reason.UNSIGNED_HEADERS,
            "There were headers present in the request which were not signed: " + ", ".join(unsigned),
            headers_not_signed=",".join(unsigned),
        )


def _payload(
    claim: _Claim, headers: _Headers, params: Mapping[str, str], body: bytes | None, body_sha256: str | None
) -> tuple[str, PayloadMode, bool]:
    """The payload hash as signed, the mode it announces, and whether it was hashed here from `body`."""
    if claim.presigned:
        declared = params.get("X-Amz-Content-Sha256") or PayloadMode.UNSIGNED.value
    else:
        header = headers.get("x-amz-content-sha256")
        if header is None:
            if claim.service == "s3":
                raise AuthFailure(
                    Reason.MISSING_CONTENT_SHA256,
                    "Missing required header for this request: x-amz-content-sha256",
                )
            if body is not None:
                return _sha256_hex(body), PayloadMode.SHA256, True
            if body_sha256 is None:
                raise ValueError("verify() needs body= or body_sha256= for a request without x-amz-content-sha256")
            return body_sha256.lower(), PayloadMode.SHA256, True
        declared = header.strip()
    if _HEX64_RE.fullmatch(declared):
        return declared, PayloadMode.SHA256, False
    try:
        mode = PayloadMode(declared)
    except ValueError:
        if declared.startswith("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"):
            raise AuthFailure(
                Reason.UNSUPPORTED,
                "Signature Version 4A (AWS4-ECDSA-P256-SHA256) is not supported: sign with AWS4-HMAC-SHA256.",
                presigned=claim.presigned,
            ) from None
        mode = None
    if mode is None or mode is PayloadMode.SHA256:
        raise AuthFailure(
            Reason.BAD_CONTENT_SHA256,
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
            presigned=claim.presigned,
        )
    return declared, mode, False


def _check_payload(
    mode: PayloadMode, declared: str, body: bytes | None, body_sha256: str | None, claim: _Claim
) -> tuple[str | None, bool]:
    if mode is not PayloadMode.SHA256:
        return None, False
    expected = declared.lower()
    actual = _sha256_hex(body) if body is not None else body_sha256.lower() if body_sha256 is not None else None
    if actual is None:
        return expected, False
    if actual != expected:
        raise AuthFailure(
            Reason.PAYLOAD_MISMATCH,
            "The provided 'x-amz-content-sha256' header does not match what was computed: the body changed after "
            "it was hashed, or the hash was taken over other bytes.",
            presigned=claim.presigned,
            client_sha256=expected,
            computed_sha256=actual,
        )
    return expected, True


# --- canonical request -----------------------------------------------------------------------------------------


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical_uris(path: bytes, *, s3: bool) -> list[str]:
    """The canonical URIs to try: S3 signs the path as sent; a client may instead have signed its canonical form."""
    if not s3:
        if _PLAIN_PATH_RE.fullmatch(path) and b"//" not in path and not _DOT_SEGMENT_RE.search(path):
            return [path.decode("ascii")]  # nothing to remove or encode: the usual /endpoints/NAME/invocations
        return [quote_from_bytes(_remove_dot_segments(path), safe="/")]
    as_sent = path.decode("latin-1") or "/"
    recoded = quote_from_bytes(unquote_to_bytes(path), safe="/") or "/"
    return [as_sent] if recoded == as_sent else [as_sent, recoded]


def _remove_dot_segments(path: bytes) -> bytes:
    """RFC 3986 §5.2.4, plus the empty segments that AWS services other than S3 drop (as botocore does)."""
    if not path:
        return b"/"
    kept: list[bytes] = []
    for segment in path.split(b"/"):
        if segment in (b"", b"."):
            continue
        if segment == b"..":
            if kept:
                kept.pop()
        else:
            kept.append(segment)
    first = b"/" if path.startswith(b"/") else b""
    last = b"/" if path.endswith(b"/") and kept else b""
    return first + b"/".join(kept) + last


def _canonical_query(query: bytes, *, drop_signature: bool) -> str:
    pairs: list[tuple[str, str]] = []
    for part in query.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        encoded = quote_from_bytes(unquote_to_bytes(name), safe="")
        if drop_signature and encoded == "X-Amz-Signature":
            continue
        pairs.append((encoded, quote_from_bytes(unquote_to_bytes(value), safe="")))
    pairs.sort()
    return "&".join(f"{name}={value}" for name, value in pairs)


def _canonical_headers(names: Sequence[str], headers: _Headers) -> str:
    lines = []
    for name in names:
        values = headers.values.get(name, [])
        lines.append(name + ":" + ",".join(" ".join(value.split()) for value in values) + "\n")
    return "".join(lines)


# --- wire errors -----------------------------------------------------------------------------------------------

_SIGNATURE_MISMATCH_JSON = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details."
)
_SIGNATURE_MISMATCH_S3 = (
    "The request signature we calculated does not match the signature you provided. Check your key and signing method."
)


def json_error(failure: AuthFailure) -> WireError:
    """The error of the JSON-protocol faces (SageMaker control plane and runtime)."""
    reason, details = failure.reason, failure.details
    if reason is Reason.MISSING:
        return WireError("MissingAuthenticationTokenException", 403, "Missing Authentication Token")
    if reason is Reason.UNKNOWN_KEY:
        return WireError("UnrecognizedClientException", 403, "The security token included in the request is invalid.")
    if reason is Reason.INCOMPLETE and not failure.presigned:
        wanted = details.get("missing", "").split(",")
        message = " ".join(f"Authorization header requires '{name}' parameter." for name in wanted if name)
        return WireError("IncompleteSignatureException", 400, message)
    if reason in (Reason.UNSUPPORTED, Reason.AMBIGUOUS, Reason.INCOMPLETE, Reason.MALFORMED, Reason.BAD_DATE):
        return WireError("IncompleteSignatureException", 400, failure.message)
    # SageMaker answers InvalidSignatureException with 400 (as the other JSON 1.1 services do).
    if reason is Reason.SIGNATURE_MISMATCH:
        message = (
            f"{_SIGNATURE_MISMATCH_JSON}\n\nThe Canonical String for this request should have been\n"
            f"'{details['canonical_request']}'\n\nThe String-to-Sign should have been\n'{details['string_to_sign']}'\n"
        )
        return WireError("InvalidSignatureException", 400, message)
    if reason is Reason.SKEWED:
        return WireError("InvalidSignatureException", 400, _skew_message(details))
    if reason is Reason.EXPIRED:
        message = f"Signature expired: {details['expires_at']} is now earlier than {details['server_time']}."
        return WireError("InvalidSignatureException", 400, message)
    if reason is Reason.NOT_YET_VALID:
        message = f"Signature not yet current: {details['request_time']} is still later than {details['server_time']}."
        return WireError("InvalidSignatureException", 400, message)
    if reason is Reason.WRONG_DATE:
        message = (
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{details['credential_date']}' != '{details['request_date']}', from '{details['timestamp']}'."
        )
        return WireError("InvalidSignatureException", 400, message)
    if reason is Reason.WRONG_REGION:
        message = f"Credential should be scoped to a valid region: '{details['expected_region']}'. "
        return WireError("InvalidSignatureException", 400, message)
    if reason is Reason.WRONG_SERVICE:
        message = f"Credential should be scoped to correct service: '{details['expected_service']}'. "
        return WireError("InvalidSignatureException", 400, message)
    # UNSIGNED_HEADERS, MISSING/BAD_CONTENT_SHA256, PAYLOAD_MISMATCH: the JSON services see a wrong signature.
    return WireError("InvalidSignatureException", 400, failure.message)


def _skew_message(details: Mapping[str, str]) -> str:
    request_time, server_time = details["request_time"], details["server_time"]
    now = datetime.strptime(server_time, _AMZ_DATE)
    if request_time < server_time:
        bound = (now - MAX_SKEW).strftime(_AMZ_DATE)
        return f"Signature expired: {request_time} is now earlier than {bound} ({server_time} - 15 min.)"
    bound = (now + MAX_SKEW).strftime(_AMZ_DATE)
    return f"Signature not yet current: {request_time} is still later than {bound} ({server_time} + 15 min.)"


def _iso(amz_date: str) -> str:
    """20130524T000000Z → 2013-05-24T00:00:00Z, the form S3 writes ServerTime and Expires in."""
    return datetime.strptime(amz_date, _AMZ_DATE).strftime("%Y-%m-%dT%H:%M:%SZ")


def s3_error(failure: AuthFailure) -> WireError:
    """The error of the S3 face."""
    reason, details, presigned = failure.reason, failure.details, failure.presigned
    malformed = "AuthorizationQueryParametersError" if presigned else "AuthorizationHeaderMalformed"
    if reason is Reason.MISSING:
        return WireError("AccessDenied", 403, f"Access Denied. {failure.message}")
    if reason is Reason.UNKNOWN_KEY:
        return WireError(
            "InvalidAccessKeyId",
            403,
            "The AWS Access Key Id you provided does not exist in our records.",
            (("AWSAccessKeyId", details["access_key_id"]),),
        )
    if reason is Reason.SIGNATURE_MISMATCH:
        return WireError(
            "SignatureDoesNotMatch",
            403,
            _SIGNATURE_MISMATCH_S3,
            (
                ("AWSAccessKeyId", details["access_key_id"]),
                ("StringToSign", details["string_to_sign"]),
                ("SignatureProvided", details["signature_provided"]),
                ("CanonicalRequest", details["canonical_request"]),
            ),
        )
    if reason is Reason.SKEWED:
        return WireError(
            "RequestTimeTooSkewed",
            403,
            "The difference between the request time and the current time is too large.",
            (
                ("RequestTime", details["request_time"]),
                ("ServerTime", _iso(details["server_time"])),
                ("MaxAllowedSkewMilliseconds", str(int(MAX_SKEW.total_seconds() * 1000))),
            ),
        )
    if reason is Reason.EXPIRED:
        return WireError(
            "AccessDenied",
            403,
            "Request has expired",
            (
                ("X-Amz-Expires", details["expires"]),
                ("Expires", _iso(details["expires_at"])),
                ("ServerTime", _iso(details["server_time"])),
            ),
        )
    if reason is Reason.NOT_YET_VALID:
        return WireError(
            "AccessDenied",
            403,
            "Request is not yet valid",
            (
                ("X-Amz-Date", details["request_time"]),
                ("Expires", _iso(details["expires_at"])),
                ("ServerTime", _iso(details["server_time"])),
            ),
        )
    if reason is Reason.UNSIGNED_HEADERS:
        return WireError(
            "AccessDenied",
            403,
            "There were headers present in the request which were not signed",
            (("HeadersNotSigned", details["headers_not_signed"].replace(",", ", ")),),
        )
    if reason is Reason.UNSUPPORTED:
        return WireError(malformed if presigned else "InvalidRequest", 400, failure.message)
    if reason is Reason.AMBIGUOUS:
        return WireError("InvalidArgument", 400, failure.message)
    if reason is Reason.BAD_DATE and not presigned:
        return WireError("AccessDenied", 403, "AWS authentication requires a valid Date or x-amz-date header")
    if reason is Reason.WRONG_REGION:
        return WireError(malformed, 400, failure.message, (("Region", details["expected_region"]),))
    if reason is Reason.MISSING_CONTENT_SHA256:
        return WireError("InvalidRequest", 400, failure.message)
    if reason is Reason.BAD_CONTENT_SHA256:
        return WireError("InvalidArgument", 400, failure.message)
    if reason is Reason.PAYLOAD_MISMATCH:
        return WireError(
            "XAmzContentSHA256Mismatch",
            400,
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            (
                ("ClientComputedContentSHA256", details["client_sha256"]),
                ("S3ComputedContentSHA256", details["computed_sha256"]),
            ),
        )
    # INCOMPLETE, MALFORMED, BAD_DATE (query), WRONG_DATE, WRONG_SERVICE: the message is S3's own wording.
    return WireError(malformed, 400, failure.message)
