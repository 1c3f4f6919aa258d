"""The JSONPath subset that SageMaker batch transform accepts in `DataProcessing` filters.

Supported operators (AWS, "Associate Prediction Results with Input Records", Supported JSONPath Operators):

- `$` the root: the whole record.
- `.name` a child by name (letters, digits, `_`, `-`); `.*` and `[*]` every child (array items, object values).
- `['a']`, `['a','b']` (single or double quotes) one or several children by name.
- `[i]`, `[i,j]` one or several indexes; negative ones count from the end (`-1` is the last).
- `[start:end]`, `[start:]`, `[:end]` slices, and index lists mixing both (`[0,5:]`). AWS documents slice ends as
  INCLUSIVE (`$[1:4]` is "the second through fifth columns"), so they are here, unlike Python's.

Anything else (`..`, filters, scripts, slice steps) is rejected when parsed, naming where and what is supported.

Evaluation follows the usual JSONPath model (as Jayway JsonPath, which the AWS examples match): each step maps the
nodes selected so far to new nodes. A path whose steps each select exactly one node ("definite": single names,
single indexes, and name lists, which select one object holding just those keys) yields that value itself; any
other path yields the list of selected nodes. Unlike lenient JSONPath engines, a missing key, an index outside the
array, or a step applied to the wrong kind of value is an error, never a silent omission: AWS fails a record whose
indexes lie outside its dimensions, and a silently shortened row would feed the model misaligned features.

Paths are parsed once (`parse`) into a `JsonPath` whose `select` runs per record with no re-parsing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["JsonPath", "JsonPathError", "RecordError", "parse"]

SUPPORTED = "$, .name, .*, [*], ['name',...], [index,...], [start:end] (end inclusive)"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_DIGITS = frozenset("0123456789")
_SPACE = " \t"
_KEYS_SHOWN = 10  # how many of a record's keys an error lists before eliding the rest


class JsonPathError(ValueError):
    """An expression outside the supported subset; `position` is the 0-based offset of the problem."""

    def __init__(self, expression: str, position: int, reason: str) -> None:
        super().__init__(
            f"invalid JSONPath {expression!r} at character {position + 1}: {reason}; supported operators: {SUPPORTED}"
        )
        self.expression = expression
        self.position = position
        self.reason = reason


class RecordError(ValueError):
    """A record that a path (or a filter or join around it) cannot be applied to."""


# --- describing values in error messages ----------------------------------------------------------


def _describe(value: Any) -> str:
    if isinstance(value, list):
        return f"an array of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        return f"an object with keys {_keys(value)}" if value else "an empty object"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def _keys(obj: dict[Any, Any]) -> str:
    if not obj:
        return "(none)"
    shown = ", ".join(repr(k) for k in list(obj)[:_KEYS_SHOWN])
    return shown + (f", ... ({len(obj)} in all)" if len(obj) > _KEYS_SHOWN else "")


# --- steps ---------------------------------------------------------------------------------------
# Each step knows its source text (for messages). `one` maps a node to the single node a definite step selects;
# `many` appends what the step selects from a node to `out`, so a chain of steps never builds nested lists.


def _as_object(node: Any, text: str) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise RecordError(f"{text!r} selects by name and needs an object, but found {_describe(node)}")
    return node


def _as_array(node: Any, text: str) -> list[Any]:
    if not isinstance(node, list):
        raise RecordError(f"{text!r} selects by index and needs an array, but found {_describe(node)}")
    return node


def _child(obj: dict[str, Any], name: str, text: str) -> Any:
    try:
        return obj[name]
    except KeyError:
        raise RecordError(f"{text!r}: there is no key {name!r}; the object's keys are {_keys(obj)}") from None


def _position(arr: list[Any], index: int, text: str) -> int:
    """`index` as a non-negative position in `arr`, or an error naming the index and the array's size."""
    size = len(arr)
    pos = index + size if index < 0 else index
    if 0 <= pos < size:
        return pos
    if not size:
        raise RecordError(f"{text!r}: index {index} is out of range for an empty array")
    raise RecordError(
        f"{text!r}: index {index} is out of range for an array of {size} item{'' if size == 1 else 's'}"
        f" (valid: 0 to {size - 1}, or -{size} to -1)"
    )


@dataclass(frozen=True, slots=True)
class _Name:
    text: str
    name: str
    definite = True

    def one(self, node: Any) -> Any:
        return _child(_as_object(node, self.text), self.name, self.text)

    def many(self, node: Any, out: list[Any]) -> None:
        out.append(self.one(node))


@dataclass(frozen=True, slots=True)
class _Names:
    """Several names: one object with just those keys, in the order given."""

    text: str
    names: tuple[str, ...]
    definite = True

    def one(self, node: Any) -> Any:
        obj = _as_object(node, self.text)
        return {name: _child(obj, name, self.text) for name in self.names}

    def many(self, node: Any, out: list[Any]) -> None:
        out.append(self.one(node))


@dataclass(frozen=True, slots=True)
class _Index:
    text: str
    index: int
    definite = True

    def one(self, node: Any) -> Any:
        arr = _as_array(node, self.text)
        return arr[_position(arr, self.index, self.text)]

    def many(self, node: Any, out: list[Any]) -> None:
        out.append(self.one(node))


@dataclass(frozen=True, slots=True)
class _Slice:
    """`[start:end]`, end inclusive; an omitted start is the first item, an omitted end the last."""

    start: int | None
    end: int | None

    def extend(self, arr: list[Any], out: list[Any], text: str) -> None:
        first = 0 if self.start is None else _position(arr, self.start, text)
        last = len(arr) - 1 if self.end is None else _position(arr, self.end, text)
        # A start past the end (possible only with mixed signs, e.g. [-2:1] on a long array) selects nothing.
        out.extend(arr[first : last + 1])


@dataclass(frozen=True, slots=True)
class _Indexes:
    """Several indexes and/or slices: always a list, even when it happens to select one item."""

    text: str
    parts: tuple[int | _Slice, ...]
    definite = False

    def one(self, node: Any) -> Any:  # pragma: no cover - never called: the step is not definite
        raise AssertionError("not a definite step")

    def many(self, node: Any, out: list[Any]) -> None:
        arr = _as_array(node, self.text)
        for part in self.parts:
            if isinstance(part, int):
                out.append(arr[_position(arr, part, self.text)])
            else:
                part.extend(arr, out, self.text)


@dataclass(frozen=True, slots=True)
class _Wildcard:
    text: str
    definite = False

    def one(self, node: Any) -> Any:  # pragma: no cover - never called: the step is not definite
        raise AssertionError("not a definite step")

    def many(self, node: Any, out: list[Any]) -> None:
        if isinstance(node, list):
            out.extend(node)
        elif isinstance(node, dict):
            out.extend(node.values())
        else:
            raise RecordError(f"{self.text!r} needs an array or an object, but found {_describe(node)}")


_Step = _Name | _Names | _Index | _Indexes | _Wildcard


# --- the compiled path ---------------------------------------------------------------------------


@dataclass(frozen=True)
class JsonPath:
    """A parsed expression. `select(value)` applies it to one record (a parsed JSON value, or a CSV row as a list)."""

    expression: str
    steps: tuple[_Step, ...]
    _select: Callable[[Any], Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Pick the evaluation loop once, so `select` does no per-record dispatch on the shape of the path.
        if not self.steps:
            fn: Callable[[Any], Any] = _identity
        elif all(step.definite for step in self.steps):
            fn = _definite(self.steps)
        else:
            fn = _nodelist(self.steps)
        object.__setattr__(self, "_select", fn)

    @property
    def is_root(self) -> bool:
        """True for `$`: the path selects the whole record unchanged."""
        return not self.steps

    @property
    def is_definite(self) -> bool:
        """True when the path selects one value (returned as is) rather than a list of values."""
        return all(step.definite for step in self.steps)

    @property
    def fits_flat_array(self) -> bool:
        """Whether the path can apply to a flat array of scalars, such as a CSV row: `$`, or one index-like step."""
        return not self.steps or (len(self.steps) == 1 and not isinstance(self.steps[0], _Name | _Names))

    def select(self, value: Any) -> Any:
        """The part of `value` the path selects; `RecordError` when the value does not have that shape."""
        try:
            return self._select(value)
        except RecordError as e:
            raise RecordError(f"JSONPath {self.expression!r}: {e}") from None

    def __str__(self) -> str:
        return self.expression


def _identity(value: Any) -> Any:
    return value


def _definite(steps: tuple[_Step, ...]) -> Callable[[Any], Any]:
    if len(steps) == 1:
        return steps[0].one
    ones = tuple(step.one for step in steps)

    def select(value: Any) -> Any:
        for one in ones:
            value = one(value)
        return value

    return select


def _nodelist(steps: tuple[_Step, ...]) -> Callable[[Any], Any]:
    manys = tuple(step.many for step in steps)

    def select(value: Any) -> Any:
        nodes = [value]
        for many in manys:
            out: list[Any] = []
            for node in nodes:
                many(node, out)
            nodes = out
        return nodes

    return select


# --- parsing -------------------------------------------------------------------------------------


def parse(expression: str) -> JsonPath:
    """Compile `expression`; `JsonPathError` (a `ValueError`) names the position of anything unsupported."""
    if not isinstance(expression, str):
        raise TypeError(f"a JSONPath expression is a string, not {type(expression).__name__}")
    return JsonPath(expression, _Parser(expression).parse())


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, reason: str, pos: int | None = None) -> JsonPathError:
        return JsonPathError(self.text, self.pos if pos is None else pos, reason)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def parse(self) -> tuple[_Step, ...]:
        text = self.text
        if not text:
            raise self.fail("the expression is empty; use '$' for the whole record")
        if text[0] != "$":
            raise self.fail(f"an expression starts with '$' (the record), not {text[0]!r}")
        self.pos = 1
        steps: list[_Step] = []
        while self.pos < len(text):
            start, char = self.pos, text[self.pos]
            if char == ".":
                step = self.dot()
            elif char == "[":
                step = self.bracket()
            else:
                raise self.fail(f"expected '.' or '[' to start a step, found {char!r}")
            steps.append(replace(step, text=text[start : self.pos]))  # source text for messages
        return tuple(steps)

    def dot(self) -> _Step:
        self.pos += 1  # the '.'
        char = self.peek()
        if char == ".":
            raise self.fail("recursive descent ('..') is not supported", self.pos - 1)
        if char == "*":
            self.pos += 1
            return _Wildcard("")
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _NAME_CHARS:
            self.pos += 1
        if self.pos == start:
            found = repr(char) if char else "the end"
            raise self.fail(
                f"expected a name (letters, digits, '_', '-') or '*' after '.', found {found}; "
                "write other names in brackets, e.g. ['my name']"
            )
        return _Name("", self.text[start : self.pos])

    def bracket(self) -> _Step:
        open_at = self.pos
        self.pos += 1  # the '['
        self.space()
        char = self.peek()
        if char == "*":
            self.pos += 1
            self.close(open_at)
            return _Wildcard("")
        if char in ("'", '"'):
            return self.names(open_at)
        if char == "-" or char == ":" or char in _DIGITS:
            return self.indexes(open_at)
        if char == "?":
            raise self.fail("filter expressions ('[?(...)]') are not supported")
        if char == "(":
            raise self.fail("script expressions ('[(...)]') are not supported")
        if char == "]":
            raise self.fail("empty brackets; put an index, a slice, quoted names or '*' inside")
        if not char:
            raise self.fail(f"the '[' at character {open_at + 1} is never closed")
        raise self.fail(f"expected an index, a slice, a quoted name or '*' inside brackets, found {char!r}")

    def names(self, open_at: int) -> _Step:
        names: list[str] = []
        while True:
            names.append(self.quoted())
            self.space()
            if self.separator(open_at):
                break
            if self.peek() not in ("'", '"'):
                raise self.fail("expected a quoted name after ','; names and indexes cannot be mixed")
        return _Name("", names[0]) if len(names) == 1 else _Names("", tuple(names))

    def quoted(self) -> str:
        quote, start = self.text[self.pos], self.pos
        self.pos += 1
        chars: list[str] = []
        while True:
            char = self.peek()
            if not char:
                raise self.fail(f"the name opened with {quote} at character {start + 1} is never closed")
            self.pos += 1
            if char == quote:
                return "".join(chars)
            if char == "\\":  # only the quote and the backslash itself can be escaped
                escaped = self.peek()
                if escaped not in (quote, "\\"):
                    raise self.fail(f"only \\{quote} and \\\\ are escapes inside a quoted name", self.pos - 1)
                self.pos += 1
                chars.append(escaped)
            else:
                chars.append(char)

    def indexes(self, open_at: int) -> _Step:
        parts: list[int | _Slice] = []
        while True:
            part_at = self.pos
            start = self.integer()
            if self.peek() == ":":
                self.pos += 1
                end = self.integer()
                if self.peek() == ":":
                    raise self.fail("slice steps ('[start:end:step]') are not supported")
                if start is not None and end is not None and (start < 0) == (end < 0) and start > end:
                    raise self.fail(f"the slice starts at {start}, after its end {end} (ends are inclusive)", part_at)
                parts.append(_Slice(start, end))
            elif start is None:  # unreachable while callers check the first character; kept as a guard
                raise self.fail("expected an index or a slice")
            else:
                parts.append(start)
            self.space()
            if self.separator(open_at):
                break
            char = self.peek()
            if char in ("'", '"'):
                raise self.fail("names and indexes cannot be mixed in one bracket")
            if not (char == "-" or char == ":" or char in _DIGITS):
                raise self.fail(f"expected an index or a slice after ',', found {char!r}")
        if len(parts) == 1 and isinstance(parts[0], int):
            return _Index("", parts[0])
        return _Indexes("", tuple(parts))

    def integer(self) -> int | None:
        """An optionally negative decimal integer at the position, or None when there is none."""
        start = self.pos
        if self.peek() == "-":
            self.pos += 1
        digits = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _DIGITS:
            self.pos += 1
        if self.pos == digits:
            if self.pos > start:
                raise self.fail("expected digits after '-'")
            return None
        return int(self.text[start : self.pos])

    def separator(self, open_at: int) -> bool:
        """Consume ',' (False: more follows) or ']' (True: the bracket is done); anything else is an error."""
        char = self.peek()
        if char == ",":
            self.pos += 1
            self.space()
            return False
        if char == "]":
            self.pos += 1
            return True
        if not char:
            raise self.fail(f"the '[' at character {open_at + 1} is never closed")
        raise self.fail(f"expected ',' or ']', found {char!r}")

    def close(self, open_at: int) -> None:
        self.space()
        if self.peek() == ",":
            raise self.fail("'*' cannot be combined with other items in one bracket")
        self.separator(open_at)

    def space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _SPACE:
            self.pos += 1
