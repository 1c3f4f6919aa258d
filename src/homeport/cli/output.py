"""How the CLI prints: times in UTC, JSON for scripts."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any


def when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=when))


def has_matplotlib() -> bool:
    """Whether --png can draw; checked before any request (a missing plotter is no reason to wait), saying what to
    install when it cannot."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("homeport: --png needs matplotlib: pip install 'homeport[example]'", file=sys.stderr)
        return False
    return True
