"""AddTags, ListTags, DeleteTags."""

from __future__ import annotations

import builtins
from typing import Any

from homeport.errors import ValidationError
from homeport.services.context import Context

MAX_TAGS = 50


class TagService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _require(self, conn: Any, arn: str) -> None:
        if not self.ctx.store.arn_exists(conn, arn):
            raise ValidationError(f'Could not find resource "{arn}". Check the ResourceArn.')

    def add(self, arn: str, tags: builtins.list[dict[str, str]]) -> dict[str, Any]:
        store = self.ctx.store
        with store.transaction() as conn:
            self._require(conn, arn)
            store.put_tags(conn, arn, tags)
            if len(store.get_tags(conn, arn)) > MAX_TAGS:
                raise ValidationError(f"A resource can have at most {MAX_TAGS} tags; remove some first.")
            return {"Tags": tags}

    def list(self, arn: str, max_results: int = 50, next_token: str | None = None) -> dict[str, Any]:
        with self.ctx.store.reading() as conn:
            self._require(conn, arn)
            tags = self.ctx.store.get_tags(conn, arn)
        start = int(next_token) if next_token and next_token.isdigit() else 0
        page = tags[start : start + max_results]
        reply: dict[str, Any] = {"Tags": page}
        if start + max_results < len(tags):
            reply["NextToken"] = str(start + max_results)
        return reply

    def delete(self, arn: str, keys: builtins.list[str]) -> dict[str, Any]:
        with self.ctx.store.transaction() as conn:
            self._require(conn, arn)
            self.ctx.store.remove_tags(conn, arn, keys)
        return {}
