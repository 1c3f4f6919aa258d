"""Validate requests against the botocore service models — the authority for shapes and limits.

Messages follow the AWS form ("1 validation error detected: Value 'x' at 'endpointName' failed to
satisfy constraint: ...") so that clients and people see what SageMaker would tell them.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import re
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from homeport.api.text import UNCARRIABLE, carriable

# Java regex classes used by the service models, as the ranges Python's `re` understands.
_JAVA_CLASSES = {
    "ASCII": r"\x00-\x7F",
    "Print": r"\x20-\x7E",
    "Alnum": r"a-zA-Z0-9",
    "Alpha": r"a-zA-Z",
    "Digit": r"0-9",
    "Punct": r"!-/:-@\[-`{-~",
    "XDigit": r"0-9a-fA-F",
    # Unicode categories, as close as `re` gets: letters (and, looser, digits and '_'), digits, spaces.
    "L": r"\w",
    "N": r"\d",
    "Z": r"\s",
}


def _python_regex(java: str) -> str:
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(java):
        char = java[i]
        if char == "\\" and java.startswith("p{", i + 1):
            close = java.index("}", i)
            ranges = _JAVA_CLASSES[java[i + 3 : close]]
            out.append(ranges if in_class else f"[{ranges}]")
            i = close + 1
            continue
        if char == "\\" and i + 1 < len(java):
            pair = java[i : i + 2]
            out.append(r"\Z" if pair == r"\z" else pair)
            i += 2
            continue
        if char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)


# Java's int and long: what "integer" and "long" members hold on AWS's side.
_INTEGER_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


# Shapes whose values may also take forms SageMaker's patterns do not: local paths for model data and transform
# inputs and outputs (beside https:// and s3://), and webhook URLs where SageMaker takes SNS topic ARNs.
OTHER_FORMS = {
    "Url": ("file://",),
    "S3Uri": ("file://",),
    "SnsTopicArn": ("http://", "https://"),
}


@functools.cache
def service_model(name: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(name)


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(_python_regex(pattern), re.DOTALL)
    except (re.error, KeyError, ValueError):
        return None  # a pattern Python cannot read is left to the service logic


def _enum_text(values: list[str], shown: int = 12) -> str:
    if len(values) <= shown:
        return ", ".join(values)
    return ", ".join(values[:shown]) + f", ... ({len(values) - shown} more)"


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


class _Walker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, value: Any, constraint: str) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**100:
            shown: Any = f"an integer of {value.bit_length()} bits"  # str() of a huge int is slow, or refused
        else:
            shown = value if isinstance(value, str | int | float | bool) else type(value).__name__
        if isinstance(shown, str) and len(shown) > 100:
            shown = shown[:100] + "..."
        self.problems.append(f"Value '{shown}' at '{path}' failed to satisfy constraint: {constraint}")

    def walk(self, shape: Shape, value: Any, path: str) -> Any:
        kind = shape.type_name
        meta = shape.metadata
        if kind == "structure":
            return self._structure(shape, value, path)
        if kind == "list":
            if not isinstance(value, list):
                self.fail(path, value, "Member must be a list")
                return value
            self._length(meta, value, path, "length")
            return [self.walk(shape.member, v, f"{path}.{i + 1}.member") for i, v in enumerate(value)]
        if kind == "map":
            if not isinstance(value, dict):
                self.fail(path, value, "Member must be a map")
                return value
            self._length(meta, value, path, "length")
            return {
                self.walk(shape.key, k, f"{path}.key"): self.walk(shape.value, v, f"{path}.{k}")
                for k, v in value.items()
            }
        if kind == "string":
            if not isinstance(value, str):
                self.fail(path, value, "Member must be a string")
                return value
            if UNCARRIABLE.search(value):  # a lone surrogate, or a control character XML cannot carry
                self.fail(path, carriable(value), "Member must be Unicode text without control characters")
                return value
            self._length(meta, value, path, "length")
            if shape.enum and value not in shape.enum:
                self.fail(path, value, f"Member must satisfy enum value set: [{_enum_text(shape.enum)}]")
            pattern = meta.get("pattern")
            if value.startswith(OTHER_FORMS.get(shape.name, ())):
                pattern = None  # checked by the service instead
            if pattern:
                rx = _compiled(pattern)
                if rx is not None and not rx.fullmatch(value):  # Java's matches(): the whole value
                    self.fail(path, value, f"Member must satisfy regular expression pattern: {pattern}")
            return value
        if kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail(path, value, "Member must be an integer")
                return value
            low, high = _INTEGER_RANGES[kind]
            if not low <= value <= high:
                self.fail(path, value, f"Member must be an {kind} between {low} and {high}")
                return value
            self._range(meta, value, path)
            return value
        if kind in ("float", "double"):
            if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
                self.fail(path, value, "Member must be a finite number")
                return value
            self._range(meta, value, path)
            return float(value)
        if kind == "boolean":
            if not isinstance(value, bool):
                self.fail(path, value, "Member must be a boolean")
            return value
        if kind == "timestamp":
            if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
                self.fail(path, value, "Member must be a timestamp in epoch seconds")
                return value
            return float(value)
        if kind == "blob":
            if not isinstance(value, str):
                self.fail(path, value, "Member must be base64-encoded")
                return value
            try:
                return base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                self.fail(path, "<blob>", "Member must be base64-encoded")
                return value
        return value

    def _structure(self, shape: Shape, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            self.fail(path or "request", value, "Member must be a structure")
            return value
        members = shape.members
        for name in shape.required_members:
            if value.get(name) is None:
                self.fail(self._join(path, name), "null", "Member must not be null")
        out: dict[str, Any] = {}
        for name, item in value.items():
            if name not in members:
                self.problems.append(
                    f"Unknown parameter '{self._join(path, name)}': it is not part of "
                    f"{shape.name}; valid members are {', '.join(members)}"
                )
                continue
            if item is None:
                continue
            out[name] = self.walk(members[name], item, self._join(path, name))
        return out

    @staticmethod
    def _join(path: str, name: str) -> str:
        return f"{path}.{_camel(name)}" if path else _camel(name)

    def _length(self, meta: dict[str, Any], value: Any, path: str, what: str) -> None:
        if "min" in meta and len(value) < meta["min"]:
            self.fail(path, value, f"Member must have {what} greater than or equal to {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            self.fail(path, value, f"Member must have {what} less than or equal to {meta['max']}")

    def _range(self, meta: dict[str, Any], value: float, path: str) -> None:
        if "min" in meta and value < meta["min"]:
            self.fail(path, value, f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            self.fail(path, value, f"Member must have value less than or equal to {meta['max']}")


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def validate(operation: OperationModel, params: Any) -> tuple[dict[str, Any], list[str]]:
    """The request with blobs decoded and floats made float, and the list of problems (empty when valid)."""
    walker = _Walker()
    if operation.input_shape is None:
        return {}, []
    cleaned = walker.walk(operation.input_shape, params, "")
    return cleaned, walker.problems


def problem_message(problems: list[str]) -> str:
    count = len(problems)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(problems)
