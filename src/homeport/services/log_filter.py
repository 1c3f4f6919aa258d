"""CloudWatch Logs filter patterns for unstructured events: `ERROR Exception` (every term), `"phrase with spaces"`,
`?ERROR ?WARN` (any of them), `ERROR -Exiting` (not this one). Terms are case-sensitive, as CloudWatch's are.
JSON (`{ $.x = 1 }`), space-delimited (`[ip, user, ...]`) and regular-expression (`%...%`) patterns are refused
with a message saying so, never matched wrongly."""

from __future__ import annotations

from collections.abc import Callable

from homeport.errors import InvalidParameterException

Matcher = Callable[[str], bool]


def matcher(pattern: str) -> Matcher:
    text = pattern.strip()
    if not text or text == '""':
        return lambda message: True
    if text[0] in "{[%":
        raise InvalidParameterException(
            'homeport matches filter patterns of terms: ERROR, "quoted phrases", ?alternatives and -exclusions; '
            "JSON ({...}), space-delimited ([...]) and regular-expression (%...%) patterns are not supported."
        )
    required: list[str] = []
    alternatives: list[str] = []
    excluded: list[str] = []
    for sign, term in _terms(text):
        {"?": alternatives, "-": excluded}.get(sign, required).append(term)
    if not required and not alternatives:
        raise InvalidParameterException(f"The filter pattern {pattern!r} excludes terms but matches none.")

    def match(message: str) -> bool:
        return (
            all(t in message for t in required)
            and (not alternatives or any(t in message for t in alternatives))
            and not any(t in message for t in excluded)
        )

    return match


def _terms(text: str) -> list[tuple[str, str]]:
    """(sign, term) for each whitespace-separated term; sign is '?', '-' or ''."""
    terms: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        sign = text[i] if text[i] in "?-" else ""
        i += len(sign)
        if i < len(text) and text[i] == '"':
            term, i = _quoted(text, i + 1)
        else:
            start = i
            while i < len(text) and not text[i].isspace():
                i += 1
            term = text[start:i]
        if not term:
            raise InvalidParameterException(f"The filter pattern {text!r} has an empty term after {sign or 'a quote'}.")
        terms.append((sign, term))
    return terms


def _quoted(text: str, i: int) -> tuple[str, int]:
    out: list[str] = []
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif ch == '"':
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise InvalidParameterException(f"The filter pattern {text!r} has a quote that is never closed.")
