"""How the CLI prints: times in UTC, JSON for scripts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=when))
