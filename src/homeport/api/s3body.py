"""An upload's body as it arrives: framing removed, size bounded, integrity headers checked.

`feed()` returns the payload bytes in each network chunk (after aws-chunked decoding when the client
used it); `finish()` raises unless everything the headers promised holds, and returns the checksums
(`{"CRC32": base64}`) the object should keep. Nothing is buffered beyond one chunk.
"""

from __future__ import annotations

import base64
import binascii

from homeport.errors import BadDigest, EntityTooLarge, IncompleteBody, InvalidDigest


class BodyReader:
    def __init__(self, headers: dict[str, str], limit: int) -> None:
        self.size = 0
        self._limit = limit
        length = headers.get("content-length")
        self._expected = int(length) if length is not None and length.isdigit() else None
        if self._expected is not None and self._expected > limit:
            raise EntityTooLarge(
                f"Your proposed upload exceeds the maximum allowed size: {self._expected} bytes; the limit is {limit}.",
                ProposedSize=self._expected,
                MaxSizeAllowed=limit,
            )
        self._want_md5: bytes | None = None
        md5 = headers.get("content-md5")
        if md5 is not None:
            try:
                self._want_md5 = base64.b64decode(md5, validate=True)
            except binascii.Error:
                self._want_md5 = b""
            if len(self._want_md5) != 16:
                raise InvalidDigest("The Content-MD5 you specified was invalid.", ContentMD5=md5)

    def feed(self, chunk: bytes) -> list[bytes]:
        self.size += len(chunk)
        if self.size > self._limit:
            raise EntityTooLarge(f"Your upload exceeds the maximum allowed size of {self._limit} bytes.")
        return [chunk]

    def finish(self, md5: bytes) -> dict[str, str]:
        """`md5`: the digest of the payload as written (the writer computes it anyway, for the ETag)."""
        if self._expected is not None and self.size != self._expected:
            raise IncompleteBody(
                f"You did not provide the number of bytes specified by the Content-Length HTTP header "
                f"({self.size} of {self._expected})."
            )
        if self._want_md5 is not None and md5 != self._want_md5:
            raise BadDigest("The Content-MD5 you specified did not match what we received.")
        return {}
