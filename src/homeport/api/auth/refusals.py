"""Refused requests as each face answers them: the AWS error code, status and message (and S3's extra <Error>
fields) for a SigV4 failure, in the JSON protocols' words or S3's."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from homeport.api.asgi import WireError
from homeport.api.auth.sigv4 import AMZ_DATE, MAX_SKEW, AuthFailure, Reason

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
    now = datetime.strptime(server_time, AMZ_DATE)
    if request_time < server_time:
        bound = (now - MAX_SKEW).strftime(AMZ_DATE)
        return f"Signature expired: {request_time} is now earlier than {bound} ({server_time} - 15 min.)"
    bound = (now + MAX_SKEW).strftime(AMZ_DATE)
    return f"Signature not yet current: {request_time} is still later than {bound} ({server_time} + 15 min.)"


def _iso(amz_date: str) -> str:
    """20130524T000000Z → 2013-05-24T00:00:00Z, the form S3 writes ServerTime and Expires in."""
    return datetime.strptime(amz_date, AMZ_DATE).strftime("%Y-%m-%dT%H:%M:%SZ")


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
