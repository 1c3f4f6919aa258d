"""What a request body must hash to, and the checks of a plain body.

The checksum algorithms S3 takes (CRC32, CRC32C, CRC64NVME, SHA1, SHA256, and MD5 for Content-MD5) as running
digests; `BodyCheck` runs a plain body through Content-MD5, a hex `x-amz-content-sha256` and an
`x-amz-checksum-*` header as it streams. A body that fails raises `BodyError`; `s3_error()` gives S3's answer.
The aws-chunked decoder (`chunked`) uses the same digests for its trailing checksums."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import zlib
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from typing import Protocol

import google_crc32c

from homeport.api.asgi import WireError
from homeport.api.auth.sigv4 import PayloadMode, Verified

CHECKSUM_ALGORITHMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")


_DIGEST_SIZES = {"crc32": 4, "crc32c": 4, "crc64nvme": 8, "sha1": 20, "sha256": 32, "md5": 16}


_NOT_CHECKSUMS = frozenset({"x-amz-checksum-type", "x-amz-checksum-algorithm", "x-amz-checksum-mode"})


class BodyFault(StrEnum):
    TRUNCATED = "truncated"  # the body ended early
    MALFORMED = "malformed"  # chunk framing broken
    LENGTH_MISMATCH = "length_mismatch"  # decoded bytes ≠ x-amz-decoded-content-length
    CHUNK_TOO_SMALL = "chunk_too_small"
    SIGNATURE_MISMATCH = "signature_mismatch"  # a chunk or trailer signature
    MALFORMED_TRAILER = "malformed_trailer"
    UNSUPPORTED_TRAILER = "unsupported_trailer"  # x-amz-trailer names something we cannot check
    MULTIPLE_CHECKSUMS = "multiple_checksums"
    INVALID_CHECKSUM = "invalid_checksum"  # an x-amz-checksum-* name or value that cannot be read
    CHECKSUM_MISMATCH = "checksum_mismatch"
    INVALID_DIGEST = "invalid_digest"  # Content-MD5 that is no base64 MD5
    MD5_MISMATCH = "md5_mismatch"
    SHA256_MISMATCH = "sha256_mismatch"
    INVALID_ARGUMENT = "invalid_argument"


class BodyError(Exception):
    """A refused body; `fields` are the extra elements S3 puts in its <Error> document."""

    def __init__(self, fault: BodyFault, message: str, **fields: str) -> None:
        super().__init__(message)
        self.fault = fault
        self.message = message
        self.fields = fields


# fault → (S3 code, status, S3's own message, or None to send ours)
_S3_ERRORS: dict[BodyFault, tuple[str, int, str | None]] = {
    BodyFault.TRUNCATED: ("IncompleteBody", 400, "The request body terminated unexpectedly"),
    BodyFault.MALFORMED: ("IncompleteBody", 400, None),
    BodyFault.LENGTH_MISMATCH: (
        "IncompleteBody",
        400,
        "You did not provide the number of bytes specified by the Content-Length HTTP header",
    ),
    BodyFault.CHUNK_TOO_SMALL: (
        "InvalidChunkSizeError",
        400,
        "Only the last chunk is allowed to have a size less than 8192 bytes",
    ),
    BodyFault.SIGNATURE_MISMATCH: (
        "SignatureDoesNotMatch",
        403,
        "The request signature we calculated does not match the signature you provided. Check your key and signing "
        "method.",
    ),
    BodyFault.MALFORMED_TRAILER: (
        "MalformedTrailerError",
        400,
        "The request contained trailing data that was not well-formed or did not conform to our published schema.",
    ),
    BodyFault.UNSUPPORTED_TRAILER: ("InvalidRequest", 400, None),
    BodyFault.MULTIPLE_CHECKSUMS: (
        "InvalidRequest",
        400,
        "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
    ),
    BodyFault.INVALID_CHECKSUM: ("InvalidRequest", 400, None),
    BodyFault.CHECKSUM_MISMATCH: ("BadDigest", 400, None),
    BodyFault.INVALID_DIGEST: ("InvalidDigest", 400, "The Content-MD5 you specified is not valid."),
    BodyFault.MD5_MISMATCH: ("BadDigest", 400, "The Content-MD5 you specified did not match what we received."),
    BodyFault.SHA256_MISMATCH: (
        "XAmzContentSHA256Mismatch",
        400,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    ),
    BodyFault.INVALID_ARGUMENT: ("InvalidArgument", 400, None),
}


def s3_error(error: BodyError) -> WireError:
    code, status, message = _S3_ERRORS[error.fault]
    return WireError(code, status, message or error.message, tuple(error.fields.items()))


class _Running(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


class _Crc:
    def __init__(self, step: Callable[[bytes, int], int], size: int) -> None:
        self.step, self.size, self.value = step, size, 0

    def update(self, data: bytes) -> None:
        self.value = self.step(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(self.size, "big")


def running_digest(name: str) -> _Running:
    if name == "crc32":
        return _Crc(zlib.crc32, 4)
    if name == "crc32c":
        return _Crc(lambda data, value: google_crc32c.extend(value, data), 4)
    if name == "crc64nvme":
        from awscrt import checksums  # at first use: its C runtime costs the server's start ~50 ms

        return _Crc(checksums.crc64nvme, 8)
    if name == "md5":
        return hashlib.md5(usedforsecurity=False)
    if name in ("sha1", "sha256"):
        return hashlib.new(name)
    raise ValueError(f"unknown digest {name!r}")


class Digests:
    """Running digests of one byte stream: md5 (Content-MD5, the ETag), sha256, and S3's checksum algorithms."""

    def __init__(self, names: Iterable[str]) -> None:
        self._running = {name: running_digest(name) for name in dict.fromkeys(names)}

    def update(self, data: bytes) -> None:
        for running in self._running.values():
            running.update(data)

    def digest(self, name: str) -> bytes:
        return self._running[name].digest()

    def b64(self, name: str) -> str:
        return base64.b64encode(self.digest(name)).decode("ascii")


def decode_checksum(algorithm: str, value: str) -> bytes | None:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == _DIGEST_SIZES.get(algorithm) else None


def header_value(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


class BodyCheck:
    """The digests a body must match: Content-MD5, a hex x-amz-content-sha256, one x-amz-checksum-* value.

    Feed every byte to `update()`, then call `finish()` before the object becomes visible. `digests` names more
    digests to compute on the way (e.g. "md5" for the ETag); `digest()` and `checksums` read them afterwards.
    """

    def __init__(
        self,
        *,
        content_md5: str | None = None,
        content_sha256: str | None = None,
        checksum: tuple[str, str] | None = None,
        digests: Iterable[str] = (),
    ) -> None:
        self._md5: bytes | None = None
        if content_md5 is not None:
            self._md5 = _decode_md5(content_md5)
        self._sha256 = content_sha256.lower() if content_sha256 is not None else None
        self._checksum: tuple[str, bytes] | None = None
        names = list(digests)
        if checksum is not None:
            algorithm, value = checksum
            raw = decode_checksum(algorithm, value)
            if raw is None:
                raise BodyError(
                    BodyFault.INVALID_CHECKSUM,
                    f"Value for x-amz-checksum-{algorithm} header is invalid.",
                )
            self._checksum = (algorithm, raw)
            names.append(algorithm)
        self._reported = [name for name in dict.fromkeys(names) if name in CHECKSUM_ALGORITHMS]
        names += ["md5"] * (self._md5 is not None) + ["sha256"] * (self._sha256 is not None)
        self._digests = Digests(names)
        self.length = 0

    @classmethod
    def for_request(
        cls, headers: Sequence[tuple[bytes, bytes]], auth: Verified | None = None, *, digests: Iterable[str] = ()
    ) -> BodyCheck:
        """The checks a request's headers ask for. `auth` says whether verify() has already seen the body."""
        content_sha256 = None
        if auth is not None:
            if auth.payload is PayloadMode.SHA256 and not auth.payload_verified:
                content_sha256 = auth.content_sha256
        else:
            declared = header_value(headers, b"x-amz-content-sha256")
            if declared is not None and len(declared) == 64 and all(c in "0123456789abcdefABCDEF" for c in declared):
                content_sha256 = declared
        return cls(
            content_md5=header_value(headers, b"content-md5"),
            content_sha256=content_sha256,
            checksum=checksum_header(headers),
            digests=digests,
        )

    def update(self, data: bytes) -> None:
        self._digests.update(data)
        self.length += len(data)

    def digest(self, name: str) -> bytes:
        return self._digests.digest(name)

    @property
    def checksums(self) -> dict[str, str]:
        """Algorithm → base64 of the checksums declared or asked for in `digests`; verified once finish() passed."""
        return {name: self._digests.b64(name) for name in self._reported}

    def finish(self) -> None:
        if self._sha256 is not None:
            computed = self._digests.digest("sha256").hex()
            if computed != self._sha256:
                raise BodyError(
                    BodyFault.SHA256_MISMATCH,
                    "The body does not hash to its x-amz-content-sha256: it changed after it was hashed.",
                    ClientComputedContentSHA256=self._sha256,
                    S3ComputedContentSHA256=computed,
                )
        if self._md5 is not None:
            computed_md5 = self._digests.digest("md5")
            if computed_md5 != self._md5:
                raise BodyError(
                    BodyFault.MD5_MISMATCH,
                    "The body does not match its Content-MD5: it changed after it was hashed.",
                    ExpectedDigest=base64.b64encode(self._md5).decode("ascii"),
                    CalculatedDigest=base64.b64encode(computed_md5).decode("ascii"),
                )
        if self._checksum is not None:
            algorithm, raw = self._checksum
            check_checksum(algorithm, raw, self._digests.digest(algorithm))


def _decode_md5(value: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise BodyError(
            BodyFault.INVALID_DIGEST,
            "The Content-MD5 you specified is not valid: it must be the base64 of the body's 16-byte MD5 digest.",
        )
    return raw


def check_checksum(algorithm: str, expected: bytes, computed: bytes) -> None:
    if not hmac.compare_digest(expected, computed):
        raise BodyError(
            BodyFault.CHECKSUM_MISMATCH,
            f"The {algorithm.upper()} you specified did not match the calculated checksum.",
        )


def check_sdk_algorithm(headers: Sequence[tuple[bytes, bytes]]) -> None:
    """`x-amz-sdk-checksum-algorithm` names the checksum a request carries, in a header or its trailer: as S3,
    refuse a name it does not know, one that differs from the checksum sent, and one with no checksum at all."""
    declared = header_value(headers, b"x-amz-sdk-checksum-algorithm")
    if declared is None:
        return
    algorithm = declared.strip().lower()
    carried = checksum_header(headers)
    trailer = header_value(headers, b"x-amz-trailer")
    sent = carried[0] if carried else trailer.strip().lower().removeprefix("x-amz-checksum-") if trailer else None
    if algorithm not in CHECKSUM_ALGORITHMS or sent not in (None, algorithm):
        raise BodyError(BodyFault.INVALID_CHECKSUM, "Value for x-amz-sdk-checksum-algorithm header is invalid.")
    if sent is None:
        raise BodyError(
            BodyFault.INVALID_CHECKSUM,
            "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers "
            "were found.",
        )


def checksum_header(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, str] | None:
    """The one `x-amz-checksum-<algorithm>: <base64>` header of a request, if any."""
    found: list[tuple[str, str]] = []
    for key, value in headers:
        name = key.decode("latin-1").lower()
        if name.startswith("x-amz-checksum-") and name not in _NOT_CHECKSUMS:
            algorithm = name.removeprefix("x-amz-checksum-")
            if algorithm not in CHECKSUM_ALGORITHMS:
                raise BodyError(
                    BodyFault.INVALID_CHECKSUM,
                    "The algorithm type you specified in x-amz-checksum- header is invalid.",
                )
            found.append((algorithm, value.decode("latin-1").strip()))
    if len(found) > 1:
        raise BodyError(
            BodyFault.MULTIPLE_CHECKSUMS,
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
        )
    return found[0] if found else None
