"""What every service needs: settings, the store, the clock, object locations, a way to wake the controllers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from homeport.core.clock import Clock
from homeport.errors import ValidationError
from homeport.objects.locations import Locator
from homeport.settings import Settings
from homeport.store import Kind, Store
from homeport.store.db import Duplicate


@dataclass
class Context:
    settings: Settings
    store: Store
    clock: Clock
    objects: Locator = field(default_factory=lambda: Locator(None))
    # Called after a change the endpoint controller must act on.
    wake: Callable[[], None] = field(default=lambda: None)


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as the API shows it: keys starting with '_' are homeport's own bookkeeping."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def insert_new(
    ctx: Context,
    conn: Any,
    kind: Kind,
    doc: dict[str, Any],
    *,
    name: str,
    arn: str,
    label: str,
    tags: list[dict[str, str]],
    status: str | None = None,
) -> None:
    """Store a new resource and its tags in `conn`'s transaction; a name in use is SageMaker's ValidationException."""
    try:
        ctx.store.insert(conn, kind, doc, name=name, arn=arn, status=status)
    except Duplicate:
        raise ValidationError(f'Cannot create already existing {label} "{arn}".') from None
    ctx.store.put_tags(conn, arn, tags)
