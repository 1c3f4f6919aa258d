"""The aws-chunked decoder of the S3 face: bodies sent as signed or unsigned chunks, with trailing checksums.

`AwsChunkedDecoder` takes `Content-Encoding: aws-chunked` bodies as botocore and the other SDKs send them for
PutObject and UploadPart — signed chunks (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`) with their signature chain,
unsigned chunks with trailers (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`) — and gives back the payload as it arrives.
`BodyCheck` (`checksums`) checks the decoded payload as it goes.

It streams: no more than a header line is held, never a chunk. Bytes handed back are not trusted until `finish()`
returns (a later chunk signature or the trailing checksum may still refuse the body), so the caller writes them
aside and makes the object visible only then. Failures raise `checksums.BodyError`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from enum import StrEnum

from homeport.api.auth.sigv4 import EMPTY_SHA256, PayloadMode, Verified, hmac_hex
from homeport.api.s3.checksums import (
    CHECKSUM_ALGORITHMS,
    BodyCheck,
    BodyError,
    BodyFault,
    check_checksum,
    checksum_header,
    decode_checksum,
    header_value,
)

MIN_CHUNK_SIZE = 8192  # S3 refuses smaller chunks except the last
_MAX_LINE = 4096
_MAX_TRAILER = 16 * 1024
_SIGNATURE = "x-amz-trailer-signature"


# --- digests ---------------------------------------------------------------------------------------------------


# --- plain bodies ----------------------------------------------------------------------------------------------


# --- aws-chunked -----------------------------------------------------------------------------------------------


def is_aws_chunked(headers: Iterable[tuple[bytes, bytes]], auth: Verified | None = None) -> bool:
    if auth is not None and auth.payload.streaming:
        return True
    encoding = header_value(headers, b"content-encoding") or ""
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
            declared = header_value(headers, b"x-amz-content-sha256")
            mode = PayloadMode.STREAMING_UNSIGNED_TRAILER
            if declared is not None and declared.startswith("STREAMING-") and declared != mode.value:
                raise ValueError(f"{declared} needs the Verified request to check chunk signatures")
        raw_length = header_value(headers, b"x-amz-decoded-content-length")
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
            trailer=header_value(headers, b"x-amz-trailer"),
            content_md5=header_value(headers, b"content-md5"),
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
            raw = decode_checksum(algorithm, value)
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
