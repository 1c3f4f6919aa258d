"""CloudWatch Logs: the groups and streams SageMaker writes its containers' output to (see `log_tailer`), read the
way the SageMaker SDK (`logs=True`), the AWS CLI (`aws logs tail --follow`) and `homeport logs` read them, and
written with PutLogEvents like any Logs API. Times are epoch milliseconds."""

from __future__ import annotations

import base64
import itertools
import json
import re
from typing import Any

from sqlalchemy import Connection

from homeport.errors import InvalidParameterException, LogResourceNotFound, ResourceAlreadyExists
from homeport.services.context import Context
from homeport.services.log_filter import matcher
from homeport.services.log_tailer import LogTailer
from homeport.store import log_events
from homeport.store.log_events import Event, Position

# PutRetentionPolicy's allowed values (CloudWatch's; the service model leaves them to the documentation).
RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
PAGE_BYTES = 1_048_576  # a page of events, and a PutLogEvents batch, holds at most this much
DAY_MS = 86_400_000
FILTER_SCAN = 10_000  # events one FilterLogEvents call reads at most; past it, the page ends with a nextToken
_EVENT_TOKEN = re.compile(r"([fb])/(-?\d{1,19})/(-?\d{1,19})")

GroupNotFound = "The specified log group does not exist."
StreamNotFound = "The specified log stream does not exist."


class LogService:
    def __init__(self, ctx: Context, tailer: LogTailer | None = None) -> None:
        self.ctx = ctx
        self.tailer = tailer  # shipped before each read, so that a reader sees every line already written

    def _now(self) -> int:
        return int(self.ctx.clock.now() * 1000)

    def _fresh(self) -> None:
        if self.tailer is not None:
            self.tailer.ingest()

    def _arn(self, group: str) -> str:
        return f"arn:aws:logs:{self.ctx.settings.region}:{self.ctx.settings.account_id}:log-group:{group}"

    # --- groups -------------------------------------------------------------------------------------

    def create_group(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.store.transaction() as conn:
            if not log_events.add_group(conn, p["logGroupName"], self._now()):
                raise ResourceAlreadyExists("The specified log group already exists")
        return {}

    def delete_group(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.store.transaction() as conn:
            self._group(conn, p["logGroupName"])
            log_events.delete_group(conn, p["logGroupName"])
        return {}

    def put_retention(self, p: dict[str, Any]) -> dict[str, Any]:
        days = p["retentionInDays"]
        if days not in RETENTION_DAYS:
            raise InvalidParameterException(
                f"retentionInDays {days} is not a period CloudWatch Logs keeps; use one of "
                f"{', '.join(map(str, RETENTION_DAYS))}."
            )
        with self.ctx.store.transaction() as conn:
            self._group(conn, p["logGroupName"])
            log_events.set_retention(conn, p["logGroupName"], days)
        return {}

    def delete_retention(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.store.transaction() as conn:
            self._group(conn, p["logGroupName"])
            log_events.set_retention(conn, p["logGroupName"], None)
        return {}

    def describe_groups(self, p: dict[str, Any]) -> dict[str, Any]:
        prefix, pattern = p.get("logGroupNamePrefix", ""), p.get("logGroupNamePattern", "")
        if prefix and pattern:
            raise InvalidParameterException("logGroupNamePrefix and logGroupNamePattern are mutually exclusive.")
        limit = p.get("limit", 50)
        after = _untoken(p["nextToken"], str) if "nextToken" in p else ""
        self._fresh()
        with self.ctx.store.reading() as conn:
            rows = log_events.groups(conn, prefix=prefix, contains=pattern, after=after, limit=limit + 1)
        page = [self._group_doc(row) for row in rows[:limit]]
        reply: dict[str, Any] = {"logGroups": page}
        if len(rows) > limit:
            reply["nextToken"] = _token(page[-1]["logGroupName"])
        return reply

    def _group_doc(self, row: dict[str, Any]) -> dict[str, Any]:
        doc = {
            "logGroupName": row["name"],
            "creationTime": row["created"],
            "retentionInDays": row["retention_days"],
            "metricFilterCount": 0,
            "arn": self._arn(row["name"]) + ":*",
            "storedBytes": row["stored_bytes"],
            "logGroupClass": "STANDARD",
            "logGroupArn": self._arn(row["name"]),
        }
        return {k: v for k, v in doc.items() if v is not None}

    def _group(self, conn: Connection, name: str) -> dict[str, Any]:
        found = log_events.group(conn, name)
        if found is None:
            raise LogResourceNotFound(GroupNotFound)
        return found

    def _group_name(self, p: dict[str, Any]) -> str:
        """The group a read names, by logGroupName or logGroupIdentifier (a name or an ARN): exactly one."""
        name, identifier = p.get("logGroupName"), p.get("logGroupIdentifier")
        if (name is None) == (identifier is None):
            raise InvalidParameterException("Give exactly one of logGroupName and logGroupIdentifier.")
        if name is not None:
            return str(name)
        assert identifier is not None
        if identifier.startswith("arn:"):
            _, found, rest = identifier.partition(":log-group:")
            if not found or not rest:
                raise InvalidParameterException(f"logGroupIdentifier {identifier!r} is not a log group's ARN.")
            return rest.removesuffix(":*")
        return str(identifier)

    # --- streams ------------------------------------------------------------------------------------

    def create_stream(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.store.transaction() as conn:
            self._group(conn, p["logGroupName"])
            if log_events.stream(conn, p["logGroupName"], p["logStreamName"]) is not None:
                raise ResourceAlreadyExists("The specified log stream already exists")
            log_events.add_stream(conn, p["logGroupName"], p["logStreamName"], self._now())
        return {}

    def delete_stream(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.store.transaction() as conn:
            log_events.delete_stream(conn, self._stream(conn, p["logGroupName"], p["logStreamName"])["id"])
        return {}

    def _stream(self, conn: Connection, group: str, name: str) -> dict[str, Any]:
        self._group(conn, group)
        found = log_events.stream(conn, group, name)
        if found is None:
            raise LogResourceNotFound(StreamNotFound)
        return found

    def describe_streams(self, p: dict[str, Any]) -> dict[str, Any]:
        group = self._group_name(p)
        by_last_event = p.get("orderBy") == "LastEventTime"
        if by_last_event and "logStreamNamePrefix" in p:
            raise InvalidParameterException("Cannot order by LastEventTime with a logStreamNamePrefix.")
        limit, offset = p.get("limit", 50), _untoken(p["nextToken"], int) if "nextToken" in p else 0
        self._fresh()
        with self.ctx.store.reading() as conn:
            self._group(conn, group)
            rows = log_events.streams(
                conn,
                group,
                prefix=p.get("logStreamNamePrefix", ""),
                by_last_event=by_last_event,
                descending=p.get("descending", False),
                offset=offset,
                limit=limit + 1,
            )
        reply: dict[str, Any] = {"logStreams": [self._stream_doc(group, row) for row in rows[:limit]]}
        if len(rows) > limit:  # only then: the SDK's own paging loops for as long as a nextToken comes back
            reply["nextToken"] = _token(offset + limit)
        return reply

    def _stream_doc(self, group: str, row: dict[str, Any]) -> dict[str, Any]:
        doc = {
            "logStreamName": row["name"],
            "creationTime": row["created"],
            "firstEventTimestamp": row["first_event"],
            "lastEventTimestamp": row["last_event"],
            "lastIngestionTime": row["last_ingestion"],
            "uploadSequenceToken": str(row["id"]),
            "arn": f"{self._arn(group)}:log-stream:{row['name']}",
            "storedBytes": 0,  # as CloudWatch: deprecated, always 0 (the group's storedBytes counts)
        }
        return {k: v for k, v in doc.items() if v is not None}

    # --- events -------------------------------------------------------------------------------------

    def put_events(self, p: dict[str, Any]) -> dict[str, Any]:
        batch = p["logEvents"]
        stamps = [e["timestamp"] for e in batch]
        if any(b < a for a, b in itertools.pairwise(stamps)):
            raise InvalidParameterException(
                "Log events in a single PutLogEvents request must be in chronological order."
            )
        if stamps[-1] - stamps[0] > DAY_MS:
            raise InvalidParameterException(
                "The log events in a single PutLogEvents request cannot span more than 24 hours."
            )
        size = sum(log_events.message_bytes(e["message"]) for e in batch)
        if size > PAGE_BYTES:
            raise InvalidParameterException(f"The batch is {size} bytes; PutLogEvents takes at most {PAGE_BYTES}.")
        now = self._now()
        with self.ctx.store.transaction() as conn:
            stream = self._stream(conn, p["logGroupName"], p["logStreamName"])
            days = log_events.group(conn, p["logGroupName"])
            retention = (days or {}).get("retention_days") or self.ctx.settings.log_retention_days
            too_new = [i for i, ts in enumerate(stamps) if ts > now + 2 * 3_600_000]
            too_old = [i for i, ts in enumerate(stamps) if ts < now - 14 * DAY_MS]
            expired = [i for i, ts in enumerate(stamps) if ts < now - retention * DAY_MS]
            kept = [
                (e["timestamp"], e["message"]) for i, e in enumerate(batch) if i not in {*too_new, *too_old, *expired}
            ]
            log_events.append(conn, stream["id"], kept, now)
        reply: dict[str, Any] = {"nextSequenceToken": f"{stream['id']:016d}{now:020d}"}
        rejected = {
            "tooNewLogEventStartIndex": too_new[0] if too_new else None,
            "tooOldLogEventEndIndex": too_old[-1] if too_old else None,
            "expiredLogEventEndIndex": expired[-1] if expired else None,
        }
        if any(v is not None for v in rejected.values()):
            reply["rejectedLogEventsInfo"] = {k: v for k, v in rejected.items() if v is not None}
        return reply

    def get_events(self, p: dict[str, Any]) -> dict[str, Any]:
        group, limit = self._group_name(p), p.get("limit", 10_000)
        start, stop = p.get("startTime"), p.get("endTime")  # endTime is exclusive here
        token = _event_token(p["nextToken"]) if "nextToken" in p else None
        backward = token[0] == "b" if token else not p.get("startFromHead", False)
        self._fresh()
        with self.ctx.store.reading() as conn:
            stream = self._stream(conn, group, p["logStreamName"])
            names = {int(stream["id"]): str(stream["name"])}
            kwargs: dict[str, Any] = {"start": start, "stop": stop, "limit": limit}
            if backward:
                rows = log_events.events(conn, names, before=token[1] if token else None, newest_first=True, **kwargs)
                rows = _within_bytes(rows)[::-1]
            else:
                rows = _within_bytes(log_events.events(conn, names, after=token[1] if token else None, **kwargs))
        if rows:
            forward_at, backward_at = rows[-1].position, rows[0].position
        elif token:  # nothing further that way: the token comes back as it was
            forward_at = backward_at = token[1]
            if token[0] == "b":
                forward_at = (token[1][0], token[1][1] - 1)  # reading on from here finds the event the token is at
        else:
            forward_at = backward_at = (-1, -1)  # an empty stream: reading forward later finds everything
        return {
            "events": [{"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion} for e in rows],
            "nextForwardToken": f"f/{forward_at[0]}/{forward_at[1]}",
            "nextBackwardToken": f"b/{backward_at[0]}/{backward_at[1]}",
        }

    def filter_events(self, p: dict[str, Any]) -> dict[str, Any]:
        group, limit = self._group_name(p), p.get("limit", 10_000)
        if "logStreamNames" in p and "logStreamNamePrefix" in p:
            raise InvalidParameterException("logStreamNames and logStreamNamePrefix are mutually exclusive.")
        match = matcher(p.get("filterPattern", ""))
        stop = p["endTime"] + 1 if "endTime" in p else None  # endTime is inclusive here
        after: Position | None = None
        if "nextToken" in p:
            ts, id_ = _untoken(p["nextToken"], list, 2)
            after = (ts, id_)
        self._fresh()
        found: list[Event] = []
        size = scanned = 0
        more = False
        with self.ctx.store.reading() as conn:
            self._group(conn, group)
            names = log_events.stream_ids(
                conn, group, names=p.get("logStreamNames", ()), prefix=p.get("logStreamNamePrefix", "")
            )
            while names and scanned < FILTER_SCAN and len(found) < limit and size < PAGE_BYTES:
                batch = log_events.events(conn, names, after=after, start=p.get("startTime"), stop=stop, limit=1000)
                for event in batch:
                    scanned += 1
                    after = event.position
                    if match(event.message):
                        found.append(event)
                        size += log_events.message_bytes(event.message)
                    if scanned >= FILTER_SCAN or len(found) >= limit or size >= PAGE_BYTES:
                        break
                if len(batch) < 1000:
                    break
            if names and after is not None:
                more = bool(log_events.events(conn, names, after=after, start=p.get("startTime"), stop=stop, limit=1))
        reply: dict[str, Any] = {
            "events": [
                {
                    "logStreamName": e.stream,
                    "timestamp": e.timestamp,
                    "message": e.message,
                    "ingestionTime": e.ingestion,
                    "eventId": f"{e.id:020d}",
                }
                for e in found
            ],
            "searchedLogStreams": [],
        }
        if more:  # absent when caught up: `aws logs tail --follow` then waits and asks again from its newest event
            reply["nextToken"] = _token(list(after or ()))
        return reply


def _within_bytes(rows: list[Event]) -> list[Event]:
    """The leading events that fit in one page's bytes."""
    size = 0
    for i, event in enumerate(rows):
        size += log_events.message_bytes(event.message)
        if size > PAGE_BYTES:
            return rows[:i]
    return rows


def _token(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def _untoken(token: str, kind: type, length: int = 0) -> Any:
    """The value `_token` encoded, if it is a `kind` (a list: of `length` integers); else the token is refused."""
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        value = None
    if isinstance(value, list):
        good = kind is list and len(value) == length and all(type(v) is int for v in value)
    else:
        good = type(value) is kind and not (isinstance(value, int) and value < 0)
    if not good:
        raise InvalidParameterException("The specified nextToken is invalid.")
    return value


def _event_token(token: str) -> tuple[str, Position]:
    found = _EVENT_TOKEN.fullmatch(token)
    if found is None:
        raise InvalidParameterException("The specified nextToken is invalid.")
    return found[1], (int(found[2]), int(found[3]))
