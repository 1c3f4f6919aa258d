"""Smithy RPC v2 CBOR, the protocol CloudWatch's service model names first.

botocore 1.43 still ranks awsJson above it when a model offers both, so boto3 reaches CloudWatch over JSON 1.0;
SDKs that rank CBOR first (and botocore, should its ranking change) send what this module reads.

A request is ``POST /service/{Service}/operation/{Operation}`` with a ``smithy-protocol: rpc-v2-cbor`` header and
a CBOR map of the operation's parameters; the reply is a CBOR map of its output. Timestamps travel as CBOR tag 1
around epoch seconds both ways. This module only converts between those bytes and the plain dicts homeport's
validator and services use (timestamps as epoch-seconds floats); it knows nothing about any one service.
"""

from __future__ import annotations

import io
import re
import zlib
from datetime import UTC, datetime
from typing import Any

import cbor2
from botocore.model import Shape

from homeport.api.text import carriable

CONTENT_TYPE = b"application/cbor"
RESPONSE_HEADERS: list[tuple[bytes, bytes]] = [(b"content-type", CONTENT_TYPE), (b"smithy-protocol", b"rpc-v2-cbor")]

_PATH = re.compile(r"/service/([A-Za-z_][A-Za-z0-9_]*)/operation/([A-Za-z_][A-Za-z0-9_]*)")
_EPOCH_TAG = 1
# CloudWatch refuses PutMetricData bodies over 1 MB; a body that inflates far past that is abuse, not metrics.
MAX_BODY = 4 * 1024 * 1024
_CBOR_NAMES = {
    list: "an array",
    dict: "a map",
    str: "a text string",
    bytes: "a byte string",
    bool: "a boolean",
    int: "an integer",
    float: "a float",
    type(None): "null",
}


def operation_from_path(path: str) -> tuple[str, str] | None:
    """(service, operation) named by an RPC v2 request path, or None for any other path."""
    match = _PATH.fullmatch(path)
    return (match[1], match[2]) if match else None


def is_rpcv2(scope_headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the request declares the RPC v2 CBOR protocol, as every Smithy client must."""
    return any(name.lower() == b"smithy-protocol" and value.strip() == b"rpc-v2-cbor" for name, value in scope_headers)


def content_decoded(scope_headers: list[tuple[bytes, bytes]], body: bytes, max_size: int = MAX_BODY) -> bytes:
    """The body with its Content-Encoding undone: botocore gzips PutMetricData bodies of 10 KiB and more."""
    encodings: list[bytes] = []
    for name, value in scope_headers:
        if name.lower() == b"content-encoding":
            encodings += [part.strip().lower() for part in value.split(b",")]
    encodings = [encoding for encoding in encodings if encoding not in (b"", b"identity")]
    if not encodings:
        return body
    if encodings != [b"gzip"]:
        raise ValueError(
            f"Unsupported Content-Encoding {b', '.join(encodings).decode('latin-1')!r}; send gzip or none."
        )
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # 16+: expect the gzip header and trailer
    try:
        # Inflate one byte past the cap, so that a body over it is told apart from one exactly at it.
        inflated = inflater.decompress(body, max_size + 1)
    except zlib.error as exc:
        raise ValueError(f"The request body is not valid gzip: {exc}.") from None
    if len(inflated) > max_size:
        raise ValueError(f"The request body inflates to more than {max_size} bytes.")
    if not inflater.eof or inflater.unused_data:
        raise ValueError("The request body is not one complete gzip stream.")
    return inflated


def decode_request(body: bytes) -> dict[str, Any]:
    """The request's parameters as plain Python; ValueError (with a readable reason) for anything else."""
    if not body:
        return {}
    stream = io.BytesIO(body)
    # Hash-colliding keys and duplicate keys are how a hostile or broken client would confuse a dict; refuse both.
    decoder = cbor2.CBORDecoder(stream, strict_hashable_types=True, allow_duplicate_keys=False)
    try:
        document = decoder.decode()
    except cbor2.CBORDecodeError as exc:
        detail = f"{exc} ({exc.__cause__})" if exc.__cause__ else str(exc)
        raise ValueError(f"The request body is not valid CBOR: {detail}.") from None
    if not isinstance(document, dict):
        raise ValueError(
            f"The request body must be a CBOR map of the operation's parameters, not {_cbor_name(document)}."
        )
    trailing = len(body) - stream.tell()
    if trailing:
        raise ValueError(f"The request body has {trailing} bytes after its CBOR map; send exactly one CBOR map.")
    return _plain(document)


def encode_reply(shape: Shape | None, output: dict[str, Any]) -> bytes:
    """The reply body for `output`, with every timestamp the output shape declares tagged as botocore expects."""
    if shape is None:
        return cbor2.dumps({})
    # Datetimes anywhere become tag 1 too, rather than the tag 0 strings botocore cannot read.
    return cbor2.dumps(_tag(shape, output), datetime_as_timestamp=True, timezone=UTC)


def encode_error(code: str, message: str, sender_fault: bool) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body that botocore turns into a ClientError whose Error.Code is `code`.

    `__type` carries the bare code, so any RPC v2 client reads it; the awsQueryCompatible header repeats it for
    botocore, which prefers it and also takes the fault side (Error.Type) from it.
    """
    fault = "Sender" if sender_fault else "Receiver"
    headers = [*RESPONSE_HEADERS, (b"x-amzn-query-error", f"{code};{fault}".encode("ascii"))]
    return headers, cbor2.dumps({"__type": code, "message": carriable(message)})


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        plain = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"CBOR map keys must be text strings, not {_cbor_name(key)}.")
            # Null and undefined mean "not set", as botocore's own parser treats them.
            if item is not None and item is not cbor2.undefined:
                plain[key] = _plain(item)
        return plain
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):  # tag 1 (and RFC 3339 tag 0), which cbor2 already range-checked
        return value.timestamp()
    if value is cbor2.undefined:
        return None
    if value is None or isinstance(value, str | bytes | int | float):
        return value
    raise ValueError(f"The request body holds {_cbor_name(value)}, which no operation accepts.")


def _cbor_name(value: Any) -> str:
    if isinstance(value, cbor2.CBORTag):
        return f"CBOR tag {value.tag}"
    return _CBOR_NAMES.get(type(value), f"a CBOR value decoded as {type(value).__name__}")


def _tag(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        return {key: _tag(members[key], item) if key in members else item for key, item in value.items()}
    if kind == "list" and isinstance(value, list | tuple):
        return [_tag(shape.member, item) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: _tag(shape.value, item) for key, item in value.items()}
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "timestamp" and number:
        return cbor2.CBORTag(_EPOCH_TAG, value)
    # botocore hands back whatever number type arrives, so a whole-number double would reach the caller as an int.
    if kind in ("float", "double") and number:
        return float(value)
    return value
