"""A monitoring schedule's times: its ScheduleExpression, when its executions are due, and the window of captured
data each one analyzes.

SageMaker takes `NOW` (one execution, at once) and hourly-aligned crons: `cron(0 H ? * * *)`, where H is `*`
(hourly), an hour (daily), or `start/step` (every step hours). Times are UTC.

An execution scheduled at T analyzes [T + DataAnalysisStartTime, T + DataAnalysisEndTime) when the ScheduleConfig
gives those offsets (`-PT5H`: ISO 8601 durations, negative), else the endpoint input's StartTimeOffset and
EndTimeOffset, else the time since the schedule's previous run: the last hour for an hourly schedule, the last day
for a daily one. A window spans at most 24 hours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from homeport.core.schedules import Cron, ScheduleError, next_run, parse

NOW = "NOW"
MAX_WINDOW_S = 24 * 3600
SUPPORTED = (
    "NOW, cron(0 * ? * * *) (hourly), cron(0 H ? * * *) (daily at hour H, UTC) or cron(0 H/N ? * * *) (every N "
    "hours from hour H)"
)
_CRON = re.compile(r"cron\(0 (\S+) \? \* \* \*\)")
_DURATION = re.compile(r"([-+])?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")


@dataclass(frozen=True)
class Window:
    start: float
    end: float


def parse_expression(expression: str) -> Cron | None:
    """The cron a ScheduleExpression runs on, or None for NOW; ScheduleError saying what SageMaker takes."""
    if expression == NOW:
        return None
    if _CRON.fullmatch(expression) is None:
        raise ScheduleError(f"The ScheduleExpression {expression!r} is not supported: use {SUPPORTED}.")
    try:
        schedule = parse(expression)
    except ScheduleError as exc:
        raise ScheduleError(f"{exc} Use {SUPPORTED}.") from None
    assert isinstance(schedule, Cron)  # the pattern above is a cron
    return schedule


def parse_offset(text: str, what: str) -> float:
    """An ISO 8601 duration as signed seconds: `-PT5H` is -18000."""
    match = _DURATION.fullmatch(text)
    if match is None or not any(match.groups()[1:]) or text.endswith("T"):
        raise ScheduleError(
            f"{what} {text!r} is not an ISO 8601 duration: write it as an offset such as -PT5H, -PT90M or -P1D."
        )
    sign, weeks, days, hours, minutes, seconds = match.groups()
    total = timedelta(
        weeks=int(weeks or 0), days=int(days or 0), hours=int(hours or 0), minutes=int(minutes or 0),
        seconds=int(seconds or 0),
    ).total_seconds()  # fmt: skip
    return -total if sign == "-" else total


def offsets(config: dict[str, Any], endpoint_input: dict[str, Any] | None) -> tuple[float, float] | None:
    """The window's (start, end) offsets from the scheduled time, if the schedule or its input (EndpointInput or
    BatchTransformInput) sets them; checked."""
    if "DataAnalysisStartTime" in config or "DataAnalysisEndTime" in config:
        pair = config.get("DataAnalysisStartTime"), config.get("DataAnalysisEndTime")
        names = "ScheduleConfig.DataAnalysisStartTime", "ScheduleConfig.DataAnalysisEndTime"
    elif endpoint_input and ("StartTimeOffset" in endpoint_input or "EndTimeOffset" in endpoint_input):
        pair = endpoint_input.get("StartTimeOffset"), endpoint_input.get("EndTimeOffset")
        names = "the input's StartTimeOffset", "EndTimeOffset"
    else:
        if config["ScheduleExpression"] == NOW:
            raise ScheduleError(
                "A ScheduleExpression of NOW needs ScheduleConfig.DataAnalysisStartTime and DataAnalysisEndTime: "
                "the window of captured data to analyze, such as -PT1H and -PT0H."
            )
        return None
    if pair[0] is None or pair[1] is None:
        raise ScheduleError(f"Give both {names[0]} and {names[1]}, or neither.")
    start, end = parse_offset(pair[0], names[0]), parse_offset(pair[1], names[1])
    if start > 0 or end > 0:
        raise ScheduleError(f"{names[0]} and {names[1]} are offsets into the past: write them negative, as -PT1H.")
    if start >= end:
        raise ScheduleError(f"{names[0]} ({pair[0]}) must come before {names[1]} ({pair[1]}).")
    if end - start > MAX_WINDOW_S:
        raise ScheduleError(f"{names[0]} must not precede {names[1]} by more than 24 hours.")
    return start, end


def latest_due(cron: Cron, after: float, now: float) -> float | None:
    """The latest run of `cron` in (after, now], or None. Runs missed while homeport was down are not made up: only
    the latest one runs."""
    moment = _utc(max(after, now - 2 * MAX_WINDOW_S))
    latest = None
    while (following := next_run(cron, moment)) is not None and following.timestamp() <= now:
        latest, moment = following.timestamp(), following
    return latest if latest is not None and latest > after else None


def next_due(cron: Cron, now: float) -> float | None:
    following = next_run(cron, _utc(now))
    return following.timestamp() if following is not None else None


def window(cron: Cron | None, scheduled: float, fixed: tuple[float, float] | None) -> Window:
    """The data an execution scheduled at `scheduled` analyzes."""
    if fixed is not None:
        return Window(scheduled + fixed[0], scheduled + fixed[1])
    assert cron is not None  # NOW always has fixed offsets (`offsets` insists)
    previous = latest_due(cron, scheduled - MAX_WINDOW_S - 1, scheduled - 1)
    return Window(previous if previous is not None else scheduled - MAX_WINDOW_S, scheduled)


def hours(span: Window) -> list[float]:
    """The start of each UTC hour the window touches: the capture folders (`yyyy/mm/dd/hh`) it reads."""
    first = span.start - span.start % 3600
    return [float(t) for t in range(int(first), int(span.end), 3600)] if span.end > span.start else []


def _utc(when: float) -> datetime:
    return datetime.fromtimestamp(when, UTC)
