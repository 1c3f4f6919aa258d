"""The Schedule expressions of PutScheduledAction: parsing them, and when they next run.

`parse` reads the three forms Application Auto Scaling takes, and raises `ScheduleError` saying what to fix:

- at(yyyy-mm-ddThh:mm:ss): once, at that wall-clock time in the action's time zone;
- rate(value unit): every value minutes, hours or days (singular unit for 1, plural otherwise), counted from the
  action's StartTime, or from when it was created;
- cron(Minutes Hours Day-of-month Month Day-of-week Year): EventBridge's six-field syntax with , - * / ? L W #,
  JAN-DEC and SUN-SAT (1 = SUN ... 7 = SAT); exactly one of Day-of-month and Day-of-week is ?.

`next_run` gives the first run strictly after a moment, inside an optional StartTime / EndTime window. Time zones
are IANA names. Daylight saving follows EventBridge Scheduler: a cron time a spring-forward skips does not run that
day, a cron time a fall-back repeats runs once (its first occurrence), and rates count elapsed time.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SYNTAX = "at(yyyy-mm-ddThh:mm:ss), rate(value unit) or cron(Minutes Hours Day-of-month Month Day-of-week Year)"


class ScheduleError(ValueError):
    """A schedule expression or time zone that Application Auto Scaling would refuse; the message says why."""


@dataclass(frozen=True)
class At:
    when: datetime  # naive: a wall-clock time in the action's time zone


@dataclass(frozen=True)
class Rate:
    every: timedelta


@dataclass(frozen=True)
class MonthDays:
    """A Day-of-month field: listed days, L (the last day), LW (the last weekday) or nW (the weekday nearest n)."""

    days: tuple[int, ...] = ()
    last: bool = False
    last_weekday: bool = False
    nearest_weekday: int | None = None

    def days_in(self, year: int, month: int) -> list[int]:
        last = calendar.monthrange(year, month)[1]
        if self.last:
            return [last]
        if self.last_weekday:
            return [_nearest_weekday(year, month, last)]
        if self.nearest_weekday is not None:
            # A day the month lacks (31W in April) has no weekday nearest to it that month.
            return [_nearest_weekday(year, month, self.nearest_weekday)] if self.nearest_weekday <= last else []
        return [d for d in self.days if d <= last]


@dataclass(frozen=True)
class WeekDays:
    """A Day-of-week field (1 = SUN ... 7 = SAT): listed days, dL (the month's last d) or d#n (its n-th d)."""

    days: tuple[int, ...] = ()
    last_of_month: int | None = None
    nth: tuple[int, int] | None = None

    def days_in(self, year: int, month: int) -> list[int]:
        if self.last_of_month is not None:
            return _dates_of(year, month, self.last_of_month)[-1:]
        if self.nth is not None:
            weekday, n = self.nth
            return _dates_of(year, month, weekday)[n - 1 : n]
        return sorted(d for weekday in self.days for d in _dates_of(year, month, weekday))


@dataclass(frozen=True)
class Cron:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: MonthDays | WeekDays
    months: tuple[int, ...]
    years: tuple[int, ...]


Schedule = At | Rate | Cron


def parse(expression: str) -> Schedule:
    match = re.fullmatch(r"(at|rate|cron)\((.*)\)", expression, re.DOTALL)
    if match is None:
        raise ScheduleError(f"Invalid schedule expression {expression!r}: use {SYNTAX}.")
    kind, body = match.groups()
    parsers: dict[str, Callable[[str], Schedule]] = {"at": _parse_at, "rate": _parse_rate, "cron": _parse_cron}
    try:
        return parsers[kind](body)
    except ScheduleError as e:
        raise ScheduleError(f"Invalid schedule expression {expression!r}: {e}") from None


def zone(name: str) -> ZoneInfo:
    """The time zone an action's Timezone names; ScheduleError when it names none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory of the tzdata package
        raise ScheduleError(
            f"Invalid time zone {name!r}: use a canonical IANA name such as UTC, Europe/Paris or America/New_York."
        ) from None


def next_run(
    schedule: Schedule,
    after: datetime,
    timezone: str = "UTC",
    start: datetime | None = None,
    end: datetime | None = None,
) -> datetime | None:
    """The first run strictly after `after`, no earlier than `start` and no later than `end`, in UTC; None when
    none remains. All three moments are aware datetimes; a rate counts from `start`, which it needs."""
    for moment in (after, start, end):
        if moment is not None and moment.utcoffset() is None:
            raise ValueError(f"next_run takes aware datetimes, got {moment!r}")
    first: datetime | None
    if isinstance(schedule, Rate):
        first = _next_rate(schedule, after, start)
    elif isinstance(schedule, At):
        first = _next_at(schedule, after, zone(timezone), start)
    else:
        first = _next_cron(schedule, after, zone(timezone), start)
    return first if first is None or end is None or first <= end else None


def _parse_at(body: str) -> At:
    fields = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})", body)
    if fields is None:
        raise ScheduleError("at() takes a date and time as yyyy-mm-ddThh:mm:ss, for example at(2026-03-31T22:00:00).")
    year, month, day, hour, minute, second = (int(f) for f in fields.groups())
    try:
        return At(datetime(year, month, day, hour, minute, second))
    except ValueError as e:
        raise ScheduleError(f"{body} is not a date and time ({e}).") from None


_RATE_UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


def _parse_rate(body: str) -> Rate:
    parts = body.split(" ")
    if len(parts) != 2:
        raise ScheduleError("rate() takes a value and a unit separated by one space, for example rate(5 minutes).")
    value, unit = parts
    if re.fullmatch(r"[0-9]+", value) is None or int(value) == 0:
        raise ScheduleError(f"the value of a rate is a positive whole number, not {value!r}.")
    n = int(value)
    singular = unit.removesuffix("s")
    if singular not in _RATE_UNITS:
        raise ScheduleError(f"the unit of a rate is minute(s), hour(s) or day(s), not {unit!r}.")
    # AWS takes the singular unit for 1 and the plural for more: rate(1 minute), rate(5 minutes).
    if n == 1 and unit != singular:
        raise ScheduleError(f"a rate of 1 takes the singular unit: rate(1 {singular}).")
    if n > 1 and unit == singular:
        raise ScheduleError(f"a rate of {n} takes the plural unit: rate({n} {singular}s).")
    try:
        return Rate(n * _RATE_UNITS[singular])
    except OverflowError:  # timedelta's range ends at 999,999,999 days
        raise ScheduleError(f"a rate of {n} {unit} is longer than any schedule can run.") from None


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for low + i
    steps: bool = True  # whether / is allowed


_MINUTES = _Field("Minutes", 0, 59)
_HOURS = _Field("Hours", 0, 23)
_DAY_OF_MONTH = _Field("Day-of-month", 1, 31)
_MONTH = _Field("Month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"))
_DAY_OF_WEEK = _Field("Day-of-week", 1, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), steps=False)
_YEAR = _Field("Year", 1970, 2199)


def _parse_cron(body: str) -> Cron:
    fields = body.split()
    if len(fields) != 6:
        raise ScheduleError(
            "cron() takes six fields separated by spaces: Minutes Hours Day-of-month Month Day-of-week Year, "
            "for example cron(0 10 * * ? *)."
        )
    minutes, hours, day_of_month, month, day_of_week, year = (f.upper() for f in fields)
    return Cron(
        minutes=_values(minutes, _MINUTES),
        hours=_values(hours, _HOURS),
        days=_days(day_of_month, day_of_week),
        months=_values(month, _MONTH),
        years=_values(year, _YEAR),
    )


def _days(day_of_month: str, day_of_week: str) -> MonthDays | WeekDays:
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ScheduleError(
            "one of Day-of-month and Day-of-week must be ?, and only one: for example cron(0 10 * * ? *) "
            "or cron(0 10 ? * MON-FRI *)."
        )
    return _week_days(day_of_week) if day_of_month == "?" else _month_days(day_of_month)


def _month_days(text: str) -> MonthDays:
    if text == "L":
        return MonthDays(last=True)
    if text == "LW":
        return MonthDays(last_weekday=True)
    if text.endswith("W"):
        return MonthDays(nearest_weekday=_number(text.removesuffix("W"), _DAY_OF_MONTH))
    if "L" in text or "W" in text:
        raise ScheduleError("L and W stand alone in Day-of-month: L, LW, or a day and W such as 15W.")
    return MonthDays(days=_values(text, _DAY_OF_MONTH))


def _week_days(text: str) -> WeekDays:
    if text == "L":
        return WeekDays(days=(_DAY_OF_WEEK.high,))  # L alone is the last day of the week: Saturday
    if text.endswith("L"):
        return WeekDays(last_of_month=_number(text.removesuffix("L"), _DAY_OF_WEEK))
    if "#" in text:
        weekday, _, n = text.partition("#")
        if re.fullmatch(r"[1-5]", n) is None:
            raise ScheduleError(
                f"{text} in Day-of-week: # takes one day and its week in the month, 1 to 5, such as 3#2 for the "
                "second Tuesday; it cannot be part of a list."
            )
        return WeekDays(nth=(_number(weekday, _DAY_OF_WEEK), int(n)))
    return WeekDays(days=_values(text, _DAY_OF_WEEK))


def _values(text: str, field: _Field) -> tuple[int, ...]:
    """The values a comma-separated list of n, a-b, *, and (where allowed) x/step stands for."""
    values: set[int] = set()
    for part in text.split(","):
        values.update(_part(part, field))
    return tuple(sorted(values))


def _part(part: str, field: _Field) -> range:
    base, slash, step = part.partition("/")
    if slash and not field.steps:
        raise ScheduleError(f"{field.name} takes no / increments.")
    if slash and (re.fullmatch(r"[0-9]+", step) is None or int(step) == 0):
        raise ScheduleError(f"the increment after / in {field.name} is a positive whole number, not {step!r}.")
    if base == "*":
        first, last = field.low, field.high
    elif "-" in base:
        a, _, b = base.partition("-")
        first, last = _number(a, field), _number(b, field)
        if first > last:
            raise ScheduleError(f"the range {base} in {field.name} runs backwards: write it low-high.")
    else:
        first = _number(base, field)
        last = field.high if slash else first  # n/step: from n to the end of the field
    return range(first, last + 1, int(step) if slash else 1)


def _number(text: str, field: _Field) -> int:
    if text in field.names:
        return field.low + field.names.index(text)
    if re.fullmatch(r"[0-9]+", text) and field.low <= int(text) <= field.high:
        return int(text)
    names = f" or {field.names[0]}-{field.names[-1]}" if field.names else ""
    raise ScheduleError(f"{field.name} takes {field.low}-{field.high}{names}, not {text!r}.")


def _nearest_weekday(year: int, month: int, day: int) -> int:
    """The Monday-to-Friday day nearest `day`, without leaving the month (as W does)."""
    last = calendar.monthrange(year, month)[1]
    weekday = date(year, month, day).weekday()
    if weekday == calendar.SATURDAY:
        return day - 1 if day > 1 else day + 2
    if weekday == calendar.SUNDAY:
        return day + 1 if day < last else day - 2
    return day


def _dates_of(year: int, month: int, weekday: int) -> list[int]:
    """The days of the month falling on `weekday` (1 = SUN ... 7 = SAT)."""
    first = (date(year, month, 1).weekday() + 1) % 7 + 1  # Python counts Monday 0 ... Sunday 6
    return list(range(1 + (weekday - first) % 7, calendar.monthrange(year, month)[1] + 1, 7))


def _next_rate(rate: Rate, after: datetime, start: datetime | None) -> datetime:
    if start is None:
        raise ValueError("a rate schedule counts from its StartTime or its creation time: pass start")
    origin = start.astimezone(UTC)  # in UTC, adding a timedelta adds elapsed time, not wall-clock time
    if after < origin:
        return origin
    return origin + ((after - origin) // rate.every + 1) * rate.every


def _next_at(at: At, after: datetime, tz: ZoneInfo, start: datetime | None) -> datetime | None:
    # A wall time a spring-forward skips is read with the offset in force before the change (fold=0), so the
    # one-time action still runs, when the clock shows that time plus the gap.
    moment = at.when.replace(tzinfo=tz).astimezone(UTC)
    return moment if moment > after and (start is None or moment >= start) else None


def _next_cron(cron: Cron, after: datetime, tz: ZoneInfo, start: datetime | None) -> datetime | None:
    since = after if start is None or start <= after else start
    local_day = since.astimezone(tz).date()
    for day in _cron_days(cron, local_day):
        for moment in _cron_times(cron, day, tz):
            if moment > after and (start is None or moment >= start):
                return moment
    return None


def _cron_days(cron: Cron, first: date) -> Iterator[date]:
    """The days from `first` on that the cron's Year, Month and day fields allow, in order."""
    for year in cron.years:
        for month in cron.months:
            if (year, month) < (first.year, first.month):
                continue
            for day in cron.days.days_in(year, month):
                if date(year, month, day) >= first:
                    yield date(year, month, day)


def _cron_times(cron: Cron, day: date, tz: ZoneInfo) -> Iterator[datetime]:
    """The cron's times on `day` in `tz`, in UTC and in order, each wall time once."""
    for hour in cron.hours:
        for minute in cron.minutes:
            wall = datetime(day.year, day.month, day.day, hour, minute)
            # fold=0 picks a repeated wall time's first occurrence; a skipped one does not read back the same.
            moment = wall.replace(tzinfo=tz).astimezone(UTC)
            if moment.astimezone(tz).replace(tzinfo=None) == wall:
                yield moment
