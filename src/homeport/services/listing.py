"""The List* operations' shared filters, sort and pagination."""

from __future__ import annotations

from typing import Any

from homeport.errors import ValidationError
from homeport.store import Kind, Store
from homeport.store.db import BadToken, ListQuery, Page, decode_token, encode_token


def query_from(params: dict[str, Any], status_key: str | None = None) -> ListQuery:
    return ListQuery(
        name_contains=params.get("NameContains"),
        status=params.get(status_key) if status_key else None,
        created_after=params.get("CreationTimeAfter"),
        created_before=params.get("CreationTimeBefore"),
        modified_after=params.get("LastModifiedTimeAfter"),
        modified_before=params.get("LastModifiedTimeBefore"),
        sort_by=params.get("SortBy", "CreationTime"),
        sort_order=params.get("SortOrder", "Descending"),
        max_results=params.get("MaxResults", 10),
        next_token=params.get("NextToken"),
    )


def bad_token(token: str | None) -> ValidationError:
    return ValidationError(f"The NextToken '{token}' is not valid; pass the NextToken of a previous reply.")


def list_reply(
    store: Store,
    kind: Kind,
    params: dict[str, Any],
    reply_key: str,
    fields: tuple[str, ...],
    status_key: str | None = None,
) -> dict[str, Any]:
    """One List* reply: the filtered, sorted page of summaries under `reply_key`, and the NextToken."""
    query = query_from(params, status_key)
    with store.reading() as conn:
        try:
            page: Page = store.page(conn, kind, query)
        except BadToken:
            raise bad_token(query.next_token) from None
    reply: dict[str, Any] = {reply_key: [{k: d[k] for k in fields if k in d} for d in page.items]}
    if page.next_token:
        reply["NextToken"] = page.next_token
    return reply


def filtered_reply(
    items: list[dict[str, Any]],
    params: dict[str, Any],
    reply_key: str,
    name_key: str,
    status_key: str | None = None,
) -> dict[str, Any]:
    """A List* reply over summaries already in memory (for filters the store's columns do not hold): NameContains,
    StatusEquals, the Creation/LastModified/Scheduled time bounds, SortBy and SortOrder, and a page of it."""
    wanted = params.get("NameContains", "").lower()
    kept = [i for i in items if wanted in i[name_key].lower()]
    if status_key and "StatusEquals" in params:
        kept = [i for i in kept if i.get(status_key) == params["StatusEquals"]]
    for field in ("CreationTime", "LastModifiedTime", "ScheduledTime"):
        if f"{field}After" in params:
            kept = [i for i in kept if i[field] > params[f"{field}After"]]
        if f"{field}Before" in params:
            kept = [i for i in kept if i[field] < params[f"{field}Before"]]
    by = params.get("SortBy", "CreationTime")
    sort_key: str = {"Name": name_key, "Status": status_key or name_key, "ScheduledTime": by}.get(by, "CreationTime")
    kept.sort(key=lambda i: i[name_key])
    kept.sort(key=lambda i: i[sort_key], reverse=params.get("SortOrder", "Descending") == "Descending")
    token = params.get("NextToken")
    try:
        offset = decode_token(token) if token else 0
    except BadToken:
        raise bad_token(token) from None
    size = params.get("MaxResults", 10)
    reply: dict[str, Any] = {reply_key: kept[offset : offset + size]}
    if offset + size < len(kept):
        reply["NextToken"] = encode_token(offset + size)
    return reply
