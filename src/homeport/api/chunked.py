"""Request bodies of the S3 face: the aws-chunked decoder and the checks a body must pass before it is stored.

`AwsChunkedDecoder` takes `Content-Encoding: aws-chunked` bodies as botocore and the other SDKs send them for
PutObject and UploadPart — signed chunks (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`) with their signature chain,
unsigned chunks with trailers (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`) — and gives back the payload as it arrives.
`BodyCheck` runs a plain body through Content-MD5, a hex `x-amz-content-sha256` and an `x-amz-checksum-*` header.

Both stream: no more than a header line is held, never a chunk. Bytes handed back are not trusted until `finish()`
returns (a later chunk signature or the trailing checksum may still refuse the body), so the caller writes them
aside and makes the object visible only then. Failures raise `BodyError`; `s3_error()` gives S3's answer.
"""

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

from homeport.api.sigv4 import EMPTY_SHA256, PayloadMode, Verified, WireError, hmac_hex

CHECKSUM_ALGORITHMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")
MIN_CHUNK_SIZE = 8192  # S3 refuses smaller chunks except the last
_DIGEST_SIZES = {"crc32": 4, "crc32c": 4, "crc64nvme": 8, "sha1": 20, "sha256": 32, "md5": 16}
_NOT_CHECKSUMS = frozenset({"x-amz-checksum-type", "x-amz-checksum-algorithm", "x-amz-checksum-mode"})
_MAX_LINE = 4096
_MAX_TRAILER = 16 * 1024
_SIGNATURE = "x-amz-trailer-signature"


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
    NOT_IMPLEMENTED = "not_implemented"


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
    BodyFault.NOT_IMPLEMENTED: ("NotImplemented", 501, None),
}


def s3_error(error: BodyError) -> WireError:
    code, status, message = _S3_ERRORS[error.fault]
    return WireError(code, status, message or error.message, tuple(error.fields.items()))


# --- digests ---------------------------------------------------------------------------------------------------


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


def _crc64nvme() -> _Crc:
    try:
        from awscrt import checksums
    except ImportError:
        raise BodyError(
            BodyFault.NOT_IMPLEMENTED,
            "CRC64NVME checksums need the awscrt package on the server: pip install awscrt (or send CRC32, CRC32C, "
            "SHA1 or SHA256).",
        ) from None
    return _Crc(checksums.crc64nvme, 8)


def _running(name: str) -> _Running:
    if name == "crc32":
        return _Crc(zlib.crc32, 4)
    if name == "crc32c":
        return _Crc(lambda data, value: google_crc32c.extend(value, data), 4)
    if name == "crc64nvme":
        return _crc64nvme()
    if name == "md5":
        return hashlib.md5(usedforsecurity=False)
    if name in ("sha1", "sha256"):
        return hashlib.new(name)
    raise ValueError(f"unknown digest {name!r}")


class Digests:
    """Running digests of one byte stream: md5 (Content-MD5, the ETag), sha256, and S3's checksum algorithms."""

    def __init__(self, names: Iterable[str]) -> None:
        self._running = {name: _running(name) for name in dict.fromkeys(names)}

    def update(self, data: bytes) -> None:
        for running in self._running.values():
            running.update(data)

    def digest(self, name: str) -> bytes:
        return self._running[name].digest()

    def b64(self, name: str) -> str:
        return base64.b64encode(self.digest(name)).decode("ascii")


def _decode_checksum(algorithm: str, value: str) -> bytes | None:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == _DIGEST_SIZES.get(algorithm) else None


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


# --- plain bodies ----------------------------------------------------------------------------------------------


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
            raw = _decode_checksum(algorithm, value)
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
            declared = _header(headers, b"x-amz-content-sha256")
            if declared is not None and len(declared) == 64 and all(c in "0123456789abcdefABCDEF" for c in declared):
                content_sha256 = declared
        return cls(
            content_md5=_header(headers, b"content-md5"),
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


# --- aws-chunked -----------------------------------------------------------------------------------------------


def is_aws_chunked(headers: Iterable[tuple[bytes, bytes]], auth: Verified | None = None) -> bool:
    if auth is not None and auth.payload.streaming:
        return True
    encoding = _header(headers, b"content-encoding") or ""
    return "aws-chunked" in (part.strip().lower() for part in encoding.split(","))


def stored_content_encoding(value: str | None) -> str | None:
    """Content-Encoding as the object keeps it: aws-chunked describes the upload, not the object."""
    if value is None:
        return None
    kept = [part.strip() for part in value.split(",") if part.strip() and part.strip().lower() != "aws-chunked"]
    return ", ".join(kept) or None


class _State(StrEnum):
    HEADER = "header"  # reading a chunk's size line
    DATA = "data"
    DATA_END = "data_end"  # the CRLF after a chunk's data
    TRAILER = "trailer"  # after the last (empty) chunk: trailer lines up to an empty one
    DONE = "done"


class AwsChunkedDecoder:
    """Decodes an aws-chunked body incrementally: `feed()` returns the payload bytes so far, `finish()` the verdict.

    `mode` comes from `x-amz-content-sha256`; signed modes need `auth` (the seed signature and signing key).
    `trailer` is `x-amz-trailer`; `decoded_length` is `x-amz-decoded-content-length`; `check` carries Content-MD5
    and header checksums over the decoded payload. `for_request()` reads all of these from the headers.
    """

    def __init__(
        self,
        mode: PayloadMode,
        *,
        auth: Verified | None = None,
        decoded_length: int | None = None,
        trailer: str | None = None,
        content_md5: str | None = None,
        checksum: tuple[str, str] | None = None,
        digests: Iterable[str] = (),
        min_chunk_size: int = MIN_CHUNK_SIZE,
    ) -> None:
        if mode.signed_chunks and auth is None:
            raise ValueError(f"{mode} needs the Verified request to check chunk signatures")
        self.mode = mode
        self._auth = auth
        self._declared = decoded_length
        self._min_chunk = min_chunk_size
        self._expected_trailers = _trailer_names(trailer, mode)
        if self._expected_trailers and checksum is not None:
            raise BodyError(
                BodyFault.MULTIPLE_CHECKSUMS,
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
            )
        trailer_algorithms = [name.removeprefix("x-amz-checksum-") for name in self._expected_trailers]
        self.check = BodyCheck(content_md5=content_md5, checksum=checksum, digests=[*digests, *trailer_algorithms])
        self._state = _State.HEADER
        self._line = bytearray()
        self._remaining = 0
        self._chunk_hash = hashlib.sha256()
        self._signature = ""
        self._previous = auth.signature if auth is not None else ""
        self._sizes: list[int] = []
        self._trailer_lines: dict[str, str] = {}
        self._skipped_blank = False
        self._error: BodyError | None = None
        self.trailers: dict[str, str] = {}

    @classmethod
    def for_request(
        cls,
        headers: Sequence[tuple[bytes, bytes]],
        auth: Verified | None,
        *,
        digests: Iterable[str] = (),
        min_chunk_size: int = MIN_CHUNK_SIZE,
    ) -> AwsChunkedDecoder:
        """The decoder a request's headers ask for; `auth` is None only for anonymous, unsigned uploads."""
        if auth is not None and auth.payload.streaming:
            mode = auth.payload
        else:
            declared = _header(headers, b"x-amz-content-sha256")
            mode = PayloadMode.STREAMING_UNSIGNED_TRAILER
            if declared is not None and declared.startswith("STREAMING-") and declared != mode.value:
                raise ValueError(f"{declared} needs the Verified request to check chunk signatures")
        raw_length = _header(headers, b"x-amz-decoded-content-length")
        decoded_length = None
        if raw_length is not None:
            if not raw_length.isdigit():
                raise BodyError(
                    BodyFault.INVALID_ARGUMENT,
                    f"x-amz-decoded-content-length must be the payload's length in bytes, not {raw_length[:40]!r}.",
                )
            decoded_length = int(raw_length)
        return cls(
            mode,
            auth=auth,
            decoded_length=decoded_length,
            trailer=_header(headers, b"x-amz-trailer"),
            content_md5=_header(headers, b"content-md5"),
            checksum=checksum_header(headers),
            digests=digests,
            min_chunk_size=min_chunk_size,
        )

    @property
    def length(self) -> int:
        """Payload bytes decoded so far."""
        return self.check.length

    @property
    def checksums(self) -> dict[str, str]:
        return self.check.checksums

    def feed(self, data: bytes) -> bytes:
        if self._error is not None:
            raise self._error
        try:
            return self._feed(data)
        except BodyError as error:
            self._error = error
            raise

    def finish(self) -> None:
        if self._error is not None:
            raise self._error
        try:
            self._finish()
        except BodyError as error:
            self._error = error
            raise

    def _finish(self) -> None:
        if self._state is _State.TRAILER and not self._line and self._trailer_lines:
            self._close_trailers()  # the last trailer line ended the body without the closing empty line
        if self._state is not _State.DONE:
            if self._state is _State.TRAILER and self._skipped_blank and not self._trailer_lines:
                raise BodyError(
                    BodyFault.MALFORMED_TRAILER,
                    "The body ended without the trailer that x-amz-trailer announced: "
                    + ", ".join(self._expected_trailers),
                )
            raise BodyError(
                BodyFault.TRUNCATED,
                f"The request body terminated unexpectedly after {self.length} payload bytes, inside the "
                f"aws-chunked framing ({self._state.value}).",
            )
        self.check.finish()

    def _feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        pos, end = 0, len(data)
        while pos < end:
            if self._state is _State.DATA:
                take = min(self._remaining, end - pos)
                piece = data if take == end and pos == 0 else data[pos : pos + take]
                self._take(piece)
                out.append(piece)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._end_of_chunk_data()
                continue
            if self._state is _State.DONE:
                raise BodyError(BodyFault.MALFORMED, "Bytes follow the end of the aws-chunked body.")
            if self._state is _State.DATA_END:
                need = 2 - len(self._line)
                self._line += data[pos : pos + need]
                pos += min(need, end - pos)
                if len(self._line) == 2:
                    if self._line != b"\r\n":
                        raise BodyError(
                            BodyFault.MALFORMED,
                            f"Chunk {len(self._sizes)} is longer than its declared size of {self._sizes[-1]} bytes "
                            "(no CRLF where its data should end).",
                        )
                    self._line.clear()
                    self._state = _State.HEADER
                continue
            newline = data.find(b"\n", pos, end)
            if newline < 0:
                self._line += data[pos:end]
                pos = end
                if len(self._line) > (_MAX_TRAILER if self._state is _State.TRAILER else _MAX_LINE):
                    raise BodyError(BodyFault.MALFORMED, "An aws-chunked header or trailer line is too long.")
                continue
            self._line += data[pos:newline]
            pos = newline + 1
            line = bytes(self._line)
            self._line.clear()
            if self._state is _State.HEADER:
                self._chunk_header(line)
            else:
                self._trailer_line(line)
        return out[0] if len(out) == 1 else b"".join(out)

    def _take(self, piece: bytes) -> None:
        if self.mode.signed_chunks:
            self._chunk_hash.update(piece)
        self.check.update(piece)
        if self._declared is not None and self.length > self._declared:
            raise self._length_error()

    def _length_error(self) -> BodyError:
        return BodyError(
            BodyFault.LENGTH_MISMATCH,
            f"The chunks carry {self.length} payload bytes but x-amz-decoded-content-length says {self._declared}.",
            NumberBytesExpected=str(self._declared),
            NumberBytesProvided=str(self.length),
        )

    def _chunk_header(self, line: bytes) -> None:
        if not line.endswith(b"\r"):
            raise BodyError(BodyFault.MALFORMED, "An aws-chunked size line must end with CRLF.")
        text = line[:-1].decode("latin-1")
        size_text, _, extension = text.partition(";")
        size_text = size_text.strip()
        if not size_text or len(size_text) > 16 or any(c not in "0123456789abcdefABCDEF" for c in size_text):
            raise BodyError(BodyFault.MALFORMED, f"{size_text[:20]!r} is not a hexadecimal chunk size.")
        size = int(size_text, 16)
        signature = None
        name, _, value = extension.partition("=")
        if name.strip() == "chunk-signature":
            signature = value.strip()
        if self.mode.signed_chunks and not signature:
            raise BodyError(
                BodyFault.SIGNATURE_MISMATCH,
                f"Chunk {len(self._sizes) + 1} has no chunk-signature; {self.mode} signs every chunk.",
            )
        if size and self._sizes and self._sizes[-1] < self._min_chunk:
            raise BodyError(
                BodyFault.CHUNK_TOO_SMALL,
                f"Chunk {len(self._sizes)} has {self._sizes[-1]} bytes; only the last chunk may be smaller than "
                f"{self._min_chunk}.",
                Chunk=str(len(self._sizes)),
                BadChunkSize=str(self._sizes[-1]),
            )
        self._sizes.append(size)
        self._signature = signature or ""
        self._chunk_hash = hashlib.sha256()
        if size:
            self._remaining = size
            self._state = _State.DATA
            return
        self._verify_chunk(EMPTY_SHA256)
        if self._declared is not None and self.length != self._declared:
            raise self._length_error()
        self._state = _State.TRAILER

    def _end_of_chunk_data(self) -> None:
        self._verify_chunk(self._chunk_hash.hexdigest())
        self._state = _State.DATA_END

    def _verify_chunk(self, chunk_sha256: str) -> None:
        if not self.mode.signed_chunks:
            return
        assert self._auth is not None
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                self._auth.timestamp,
                self._auth.scope,
                self._previous,
                EMPTY_SHA256,
                chunk_sha256,
            ]
        )
        self._previous = self._check_signature(to_sign, self._signature, f"chunk {len(self._sizes)}")

    def _check_signature(self, to_sign: str, provided: str, what: str) -> str:
        assert self._auth is not None
        expected = hmac_hex(self._auth.signing_key, to_sign)
        if not hmac.compare_digest(expected.encode("ascii"), provided.encode("utf-8")):
            raise BodyError(
                BodyFault.SIGNATURE_MISMATCH,
                f"The signature of {what} does not match its data: the chunks were changed, reordered or signed "
                "with another key.",
                StringToSign=to_sign,
                SignatureProvided=provided[:64],
            )
        return provided

    def _trailer_line(self, line: bytes) -> None:
        line = line.removesuffix(b"\r")
        if not line:
            if self._expected_trailers and not self._trailer_lines and not self._skipped_blank:
                self._skipped_blank = True  # some clients end the last chunk with CRLF before the trailer
                return
            self._close_trailers()
            return
        name, colon, value = line.decode("latin-1").partition(":")
        name = name.strip().lower()
        if not colon or not name or name in self._trailer_lines or len(self._trailer_lines) >= 16:
            raise BodyError(BodyFault.MALFORMED_TRAILER, f"Trailer line {line[:60]!r} is not a single 'name:value'.")
        self._trailer_lines[name] = value.strip()

    def _close_trailers(self) -> None:
        lines = dict(self._trailer_lines)
        signature = lines.pop(_SIGNATURE, None)
        if self.mode is PayloadMode.STREAMING_SIGNED_TRAILER:
            if signature is None:
                raise BodyError(BodyFault.SIGNATURE_MISMATCH, f"The trailer has no {_SIGNATURE} line.")
            canonical = "".join(f"{name}:{value}\n" for name, value in sorted(lines.items()))
            assert self._auth is not None
            to_sign = "\n".join(
                [
                    "AWS4-HMAC-SHA256-TRAILER",
                    self._auth.timestamp,
                    self._auth.scope,
                    self._previous,
                    hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
                ]
            )
            self._check_signature(to_sign, signature, "the trailer")
        elif signature is not None:
            raise BodyError(BodyFault.MALFORMED_TRAILER, f"{self.mode} has no trailer signature to check.")
        if sorted(lines) != sorted(self._expected_trailers):
            raise BodyError(
                BodyFault.MALFORMED_TRAILER,
                f"The trailer carries {sorted(lines) or 'nothing'} but x-amz-trailer announced "
                f"{self._expected_trailers or 'nothing'}.",
            )
        for name, value in lines.items():
            algorithm = name.removeprefix("x-amz-checksum-")
            raw = _decode_checksum(algorithm, value)
            if raw is None:
                raise BodyError(BodyFault.INVALID_CHECKSUM, f"Value for {name} trailing header is invalid.")
            check_checksum(algorithm, raw, self.check.digest(algorithm))
        self.trailers = lines
        self._state = _State.DONE


def _trailer_names(trailer: str | None, mode: PayloadMode) -> list[str]:
    names = [name.strip().lower() for name in (trailer or "").split(",") if name.strip()]
    if not names:
        return []
    if not mode.trailer and mode.streaming:
        raise BodyError(
            BodyFault.UNSUPPORTED_TRAILER,
            f"x-amz-trailer needs x-amz-content-sha256 {mode}-TRAILER, not {mode}.",
        )
    if len(names) > 1:
        raise BodyError(
            BodyFault.MULTIPLE_CHECKSUMS,
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
        )
    if names[0].removeprefix("x-amz-checksum-") not in CHECKSUM_ALGORITHMS or not names[0].startswith(
        "x-amz-checksum-"
    ):
        raise BodyError(
            BodyFault.UNSUPPORTED_TRAILER,
            f"The value specified in the x-amz-trailer header is not supported: {names[0][:60]!r} is not one of "
            + ", ".join(f"x-amz-checksum-{name}" for name in CHECKSUM_ALGORITHMS),
        )
    return names
