"""Checking a SigV4 signature, on the server side: pure functions, no HTTP framework.

`verify()` takes the request as it came off the wire (`RawRequest`), a key lookup and the current time, and
returns `Verified` or raises `AuthFailure`, whose `reason` says what went wrong and whose message says what to fix.
It reads what the request claims (`sigv4`), checks its scope, time and payload, rebuilds the canonical request as
botocore signs it and compares the signatures.

Canonicalisation follows what botocore signs, since that is the client our users run:
- the canonical URI of S3 is the path as sent (already percent-encoded once); every other service normalises the
  path (dot and empty segments removed) and percent-encodes it once more, so `%20` is signed as `%2520`;
- the canonical query decodes every name and value and encodes it again with the unreserved set, sorted;
- header values are trimmed, their inner runs of white space collapsed, repeats joined with commas.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import quote_from_bytes, unquote_to_bytes

from homeport.api.auth.sigv4 import (
    ALGORITHM,
    AMZ_DATE,
    HEX64_RE,
    MAX_SKEW,
    AuthFailure,
    Claim,
    Headers,
    PayloadMode,
    RawRequest,
    Reason,
    Verified,
    claim_from_header,
    claim_from_query,
    hmac_hex,
    malformed_prefix,
    query_params,
    signing_key,
    split_target,
)

_PLAIN_PATH_RE = re.compile(rb"/[A-Za-z0-9/_.~-]*")  # the characters quote() leaves alone


_DOT_SEGMENT_RE = re.compile(rb"/\.\.?(?:/|$)")


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
    headers = Headers(request.headers)
    path, query = split_target(request.path, request.query)
    params = query_params(query)
    authorization = headers.get("authorization")
    if authorization is not None and any(name in params for name in ("X-Amz-Credential", "X-Amz-Signature")):
        raise AuthFailure(
            Reason.AMBIGUOUS,
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string "
            "parameter or the Authorization header should be specified",
        )
    if authorization is not None:
        claim = claim_from_header(authorization, headers)
    elif any(name in params for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature")):
        claim = claim_from_query(params)
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


def _check_scope(claim: Claim, region: str | None, services: Collection[str] | None) -> None:
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
            f"{malformed_prefix(claim.presigned)}the region '{claim.region}' is wrong; expecting '{region}'",
            presigned=claim.presigned,
            region=claim.region,
            expected_region=region,
        )
    if services is not None and claim.service not in services:
        expected = sorted(services)[0] if services else ""
        raise AuthFailure(
            Reason.WRONG_SERVICE,
            f'{malformed_prefix(claim.presigned)}incorrect service "{claim.service}". This endpoint belongs to '
            f'"{expected}".',
            presigned=claim.presigned,
            service=claim.service,
            expected_service=expected,
        )


def _check_time(claim: Claim, now: datetime) -> datetime | None:
    if not claim.presigned:
        if abs(claim.request_time - now) > MAX_SKEW:
            server_time = now.strftime(AMZ_DATE)
            raise AuthFailure(
                Reason.SKEWED,
                f"The difference between the request time ({claim.timestamp}) and the server's time ({server_time}) "
                "is more than 15 minutes: correct the client's clock, or sign the request again.",
                request_time=claim.timestamp,
                server_time=server_time,
            )
        return None
    assert claim.expires_s is not None
    server_time = now.strftime(AMZ_DATE)
    expires_at = claim.request_time + timedelta(seconds=claim.expires_s)
    if claim.request_time - now > MAX_SKEW:
        raise AuthFailure(
            Reason.NOT_YET_VALID,
            f"Request is not yet valid: it is dated {claim.timestamp}, later than the server's time ({server_time}); "
            "correct the clock of the machine that presigned it.",
            presigned=True,
            request_time=claim.timestamp,
            expires_at=expires_at.strftime(AMZ_DATE),
            server_time=server_time,
        )
    if now > expires_at:
        raise AuthFailure(
            Reason.EXPIRED,
            f"Request has expired: the URL was valid until {expires_at.strftime(AMZ_DATE)} and it is now "
            f"{server_time}; presign it again.",
            presigned=True,
            request_time=claim.timestamp,
            expires=str(claim.expires_s),
            expires_at=expires_at.strftime(AMZ_DATE),
            server_time=server_time,
        )
    return expires_at


def _check_signed_amz_headers(claim: Claim, headers: Headers) -> None:
    signed = set(claim.signed_headers)
    unsigned = sorted(name for name in headers.values if name.startswith("x-amz-") and name not in signed)
    if unsigned:
        raise AuthFailure(
            Reason.UNSIGNED_HEADERS,
            "There were headers present in the request which were not signed: " + ", ".join(unsigned),
            headers_not_signed=",".join(unsigned),
        )


def _payload(
    claim: Claim, headers: Headers, params: Mapping[str, str], body: bytes | None, body_sha256: str | None
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
    if HEX64_RE.fullmatch(declared):
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
    mode: PayloadMode, declared: str, body: bytes | None, body_sha256: str | None, claim: Claim
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


def _canonical_headers(names: Sequence[str], headers: Headers) -> str:
    lines = []
    for name in names:
        values = headers.values.get(name, [])
        lines.append(name + ":" + ",".join(" ".join(value.split()) for value in values) + "\n")
    return "".join(lines)
