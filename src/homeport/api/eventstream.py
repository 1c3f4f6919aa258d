"""AWS event stream framing (`application/vnd.amazon.eventstream`), as InvokeEndpointWithResponseStream's reply
carries it: each message is a prelude (total and headers length, and their CRC32), string headers, the payload,
and a CRC32 of all of it. botocore's EventStream parser reads these."""

from __future__ import annotations

import json
import struct
import zlib

CONTENT_TYPE = b"application/vnd.amazon.eventstream"
MAX_PAYLOAD = 1024 * 1024  # a part larger than this goes out as several PayloadParts
_STRING = 7  # the header value type


def message(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    encoded = b"".join(
        struct.pack(">B", len(name)) + name.encode() + struct.pack(">BH", _STRING, len(value.encode())) + value.encode()
        for name, value in headers
    )
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    head = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return head + struct.pack(">I", zlib.crc32(head))


def payload_parts(data: bytes) -> bytes:
    """`data` as PayloadPart events (one per MAX_PAYLOAD bytes)."""
    headers = [
        (":event-type", "PayloadPart"),
        (":content-type", "application/octet-stream"),
        (":message-type", "event"),
    ]
    return b"".join(message(headers, data[i : i + MAX_PAYLOAD]) for i in range(0, len(data), MAX_PAYLOAD))


def exception(kind: str, fields: dict[str, str]) -> bytes:
    """A modeled exception event (ModelStreamError, InternalStreamFailure): the stream's last message."""
    headers = [(":exception-type", kind), (":content-type", "application/json"), (":message-type", "exception")]
    return message(headers, json.dumps(fields).encode())
