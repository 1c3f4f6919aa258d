"""The AWS query protocol: form-encoded requests (`Action=PutMetricData&MetricData.member.1.MetricName=…`) and XML
replies. botocore spoke it to CloudWatch until the service gained JSON, so older boto3, AWS CLI v1 and SDK
installs still send it; homeport reads and answers it from the same service model as the other protocols."""

from __future__ import annotations

import base64
import math
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from botocore.model import OperationModel, Shape

from homeport.api.text import carriable

CONTENT_TYPE = b"text/xml"
FORM = b"application/x-www-form-urlencoded"


def is_query(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name == b"content-type" and value.split(b";")[0].strip() == FORM for name, value in headers)


def action(body: bytes) -> tuple[str, dict[str, str]]:
    """The request's Action and its other fields, flat; ValueError when it names none."""
    fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    name = fields.pop("Action", "")
    fields.pop("Version", None)
    if not name:
        raise ValueError("The request names no Action.")
    return name, fields


def decode_request(shape: Shape | None, fields: dict[str, str]) -> dict[str, Any]:
    """The flat fields as the nested parameters the shape describes (timestamps as epoch seconds, as the JSON
    protocols give them); fields the shape does not know are dropped, as AWS ignores them."""
    if shape is None:
        return {}
    prefixes = _prefixes(fields)
    value = _read(shape, "", fields, prefixes)
    return value if isinstance(value, dict) else {}


def _prefixes(fields: dict[str, str]) -> set[str]:
    out: set[str] = set()
    for key in fields:
        parts = key.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return out


def _read(shape: Shape, prefix: str, fields: dict[str, str], prefixes: set[str]) -> Any:
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for name, member in shape.members.items():
            key = (
                f"{prefix}.{member.serialization.get('name', name)}"
                if prefix
                else member.serialization.get("name", name)
            )
            if key in prefixes:
                value = _read(member, key, fields, prefixes)
                if value is not None:
                    out[name] = value
        return out
    if kind == "list":
        if fields.get(prefix) == "":  # `Name=` is an empty list
            return []
        flattened = shape.serialization.get("flattened", False)
        items: list[Any] = []
        index = 1
        while True:
            key = f"{prefix}.{index}" if flattened else f"{prefix}.member.{index}"
            if key not in prefixes:
                return items
            items.append(_read(shape.member, key, fields, prefixes))
            index += 1
    if kind == "map":
        entries = {}
        index = 1
        while f"{prefix}.entry.{index}" in prefixes:
            key = fields.get(f"{prefix}.entry.{index}.key", "")
            entries[key] = _read(shape.value, f"{prefix}.entry.{index}.value", fields, prefixes)
            index += 1
        return entries
    raw = fields.get(prefix)
    if raw is None:
        return None
    return _scalar(kind, raw, prefix)


def _scalar(kind: str, raw: str, where: str) -> Any:
    try:
        if kind in ("integer", "long"):
            return int(raw)
        if kind in ("float", "double"):
            return float(raw)
        if kind == "boolean":
            return raw.lower() == "true"
        if kind == "timestamp":
            return _epoch(raw)
    except ValueError:
        raise ValueError(f"{where}={raw!r} is not a valid {kind}.") from None
    return raw


def _epoch(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        moment = datetime.fromisoformat(raw)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def encode_reply(operation: OperationModel, output: dict[str, Any], request_id: str) -> bytes:
    namespace = operation.metadata.get("xmlNamespace", "")
    root = ET.Element(f"{operation.name}Response", xmlns=namespace)
    shape = operation.output_shape
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper", f"{operation.name}Result")
        result = ET.SubElement(root, wrapper)
        _write(result, shape, output)
    metadata = ET.SubElement(root, "ResponseMetadata")
    ET.SubElement(metadata, "RequestId").text = request_id
    return ET.tostring(root, encoding="utf-8", xml_declaration=False)


def encode_error(namespace: str, code: str, message: str, sender_fault: bool, request_id: str) -> bytes:
    root = ET.Element("ErrorResponse", xmlns=namespace)
    error = ET.SubElement(root, "Error")
    ET.SubElement(error, "Type").text = "Sender" if sender_fault else "Receiver"
    ET.SubElement(error, "Code").text = code
    ET.SubElement(error, "Message").text = carriable(message)
    ET.SubElement(root, "RequestId").text = request_id
    return ET.tostring(root, encoding="utf-8")


def _write(parent: ET.Element, shape: Shape, value: Any) -> None:
    """Fill `parent` with `value` as the shape says (a structure's members as child elements, and so on)."""
    kind = shape.type_name
    if kind == "structure":
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _write(ET.SubElement(parent, member.serialization.get("name", name)), member, value[name])
    elif kind == "list":
        member = shape.member
        tag = member.serialization.get("name", "member")
        for item in value:
            _write(ET.SubElement(parent, tag), member, item)
    elif kind == "map":
        for key, item in value.items():
            entry = ET.SubElement(parent, "entry")
            ET.SubElement(entry, "key").text = carriable(str(key))
            _write(ET.SubElement(entry, "value"), shape.value, item)
    else:
        parent.text = _text(kind, value)


def _text(kind: str, value: Any) -> str:
    if kind == "timestamp":
        return datetime.fromtimestamp(float(value), UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if kind == "boolean":
        return "true" if value else "false"
    if kind in ("float", "double"):
        return repr(float(value)) if math.isfinite(value) else str(value)
    if kind == "blob":
        return base64.b64encode(value).decode() if isinstance(value, bytes) else str(value)
    return carriable(str(value))
