"""Alarms: every metric alarm with its state, and each one's state history."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from homeport.console.context import Console
from homeport.console.pages import attempt, failure, render, signed_in
from homeport.console.session import Viewer

PAGE_SIZE = 100
STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
HISTORY = 50


def routes() -> list[Route]:
    return [
        Route("/console/alarms", signed_in(_list)),
        Route("/console/alarms/{name:path}", signed_in(_page)),  # names may hold "/" (a scaling policy's do)
    ]


async def _list(request: Request, console: Console, who: Viewer) -> Response:
    params: dict[str, Any] = {"MaxRecords": PAGE_SIZE, "AlarmTypes": ["MetricAlarm"]}
    state = request.query_params.get("state", "")
    if state in STATES:
        params["StateValue"] = state
    if prefix := request.query_params.get("prefix", "").strip():
        params["AlarmNamePrefix"] = prefix
    if token := request.query_params.get("next"):
        params["NextToken"] = token
    reply, error = attempt(console, "cloudwatch", "DescribeAlarms", params)
    return render(
        request,
        "alarms.html",
        who=who,
        alarms=reply.get("MetricAlarms", []),
        next=reply.get("NextToken"),
        state=state,
        states=STATES,
        prefix=prefix,
        error=error,
    )


async def _page(request: Request, console: Console, who: Viewer) -> Response:
    name = request.path_params["name"]
    found, error = attempt(console, "cloudwatch", "DescribeAlarms", {"AlarmNames": [name]})
    alarms = found.get("MetricAlarms", [])
    if error is not None or not alarms:
        return failure(request, who, 404, "No such alarm", error or f"There is no metric alarm named {name}.")
    history, _ = attempt(
        console,
        "cloudwatch",
        "DescribeAlarmHistory",
        {"AlarmName": name, "HistoryItemType": "StateUpdate", "MaxRecords": HISTORY, "ScanBy": "TimestampDescending"},
    )
    return render(
        request,
        "alarm.html",
        who=who,
        alarm=alarms[0],
        history=[_item(i) for i in history.get("AlarmHistoryItems", [])],
    )


def _item(item: dict[str, Any]) -> dict[str, Any]:
    """A history item, with the old and new states read from its JSON data."""
    try:
        data = json.loads(item.get("HistoryData") or "{}")
    except ValueError:
        data = {}
    old, new = data.get("oldState") or {}, data.get("newState") or {}
    return {**item, "old": old.get("stateValue", ""), "new": new.get("stateValue", "")}
