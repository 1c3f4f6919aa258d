"""An upload's body as it arrives: framing removed, size bounded, integrity and signatures checked.

`feed()` returns the payload bytes in each network chunk (aws-chunked decoded, chunk signatures checked,
when the client streams that way); `finish()` raises unless everything the headers promised holds (the
length, Content-MD5, x-amz-content-sha256, an x-amz-checksum-* header or trailer) and returns the checksums
(`{"CRC32": base64}`) the object keeps. Nothing is buffered beyond one chunk, and a caller keeps what
`feed()` gave aside (in a temporary file) until `finish()` has passed.
"""

from __future__ import annotations

from collections.abc import Sequence

from homeport.api.auth.sigv4 import Verified
from homeport.api.s3.checksums import BodyCheck, check_sdk_algorithm
from homeport.api.s3.chunked import AwsChunkedDecoder, is_aws_chunked
from homeport.errors import EntityTooLarge, IncompleteBody

Headers = Sequence[tuple[bytes, bytes]]


class BodyReader:
    def __init__(self, headers: Headers, auth: Verified | None, limit: int) -> None:
        self._limit = limit
        self.size = 0  # payload bytes, after decoding
        self._expected = _length(headers, b"content-length")
        self._decoder: AwsChunkedDecoder | None = None
        self._check: BodyCheck | None = None
        check_sdk_algorithm(headers)
        if is_aws_chunked(headers, auth):
            self._decoder = AwsChunkedDecoder.for_request(headers, auth)
        else:
            self._check = BodyCheck.for_request(headers, auth)
        declared = declared_length(headers, auth)
        if declared is not None and declared > limit:
            raise EntityTooLarge(
                f"Your proposed upload exceeds the maximum allowed size: {declared} bytes; the limit is {limit}.",
                ProposedSize=declared,
                MaxSizeAllowed=limit,
            )
        self._received = 0  # bytes on the wire, framing included

    def feed(self, chunk: bytes) -> bytes:
        self._received += len(chunk)
        if self._decoder is not None:
            data = self._decoder.feed(chunk)
        else:
            assert self._check is not None
            self._check.update(chunk)
            data = chunk
        self.size += len(data)
        if self.size > self._limit:
            raise EntityTooLarge(f"Your upload exceeds the maximum allowed size of {self._limit} bytes.")
        return data

    def finish(self) -> dict[str, str]:
        if self._expected is not None and self._received != self._expected:
            raise IncompleteBody(
                f"You did not provide the number of bytes specified by the Content-Length HTTP header "
                f"({self._received} of {self._expected})."
            )
        if self._decoder is not None:
            self._decoder.finish()
            checksums = self._decoder.checksums
        else:
            assert self._check is not None
            self._check.finish()
            checksums = self._check.checksums
        return {name.upper(): value for name, value in checksums.items()}


def declared_length(headers: Headers, auth: Verified | None) -> int | None:
    """The payload's length as the headers declare it, framing aside; None when they do not."""
    chunked = is_aws_chunked(headers, auth)
    return _length(headers, b"x-amz-decoded-content-length" if chunked else b"content-length")


def _length(headers: Headers, name: bytes) -> int | None:
    for key, value in headers:
        if key == name:
            return int(value) if value.isdigit() else None
    return None
