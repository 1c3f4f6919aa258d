"""PutScheduledAction's schedule expressions: what parses, what is refused and why, and when each runs next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from homeport.core.schedules import At, Cron, MonthDays, Rate, ScheduleError, WeekDays, next_run, parse, zone

NEW_YORK = ZoneInfo("America/New_York")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def runs(
    expression: str,
    after: datetime,
    count: int,
    timezone: str = "UTC",
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[str]:
    """The next `count` runs as wall-clock times in `timezone` (fewer when the schedule ends)."""
    schedule, tz = parse(expression), ZoneInfo(timezone)
    times: list[str] = []
    moment: datetime | None = after
    while moment is not None and len(times) < count:
        moment = next_run(schedule, moment, timezone, start, end)
        if moment is not None:
            assert moment.tzinfo is UTC
            times.append(moment.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z"))
    return times


def day_rule(expression: str) -> MonthDays | WeekDays:
    schedule = parse(expression)
    assert isinstance(schedule, Cron)
    return schedule.days


# at(...)


def test_at_runs_once_at_its_wall_clock_time_in_the_time_zone() -> None:
    schedule = parse("at(2026-03-31T22:00:00)")
    assert schedule == At(datetime(2026, 3, 31, 22))
    assert next_run(schedule, utc(2026, 1, 1)) == utc(2026, 3, 31, 22)
    assert next_run(schedule, utc(2026, 1, 1), "Asia/Tokyo") == utc(2026, 3, 31, 13)
    assert next_run(schedule, utc(2026, 3, 31, 22)) is None  # strictly after: it has run


def test_at_in_a_skipped_hour_still_runs() -> None:
    # 02:30 does not exist in New York on 10 March 2024; the clock shows 03:30 EDT at that instant.
    assert next_run(parse("at(2024-03-10T02:30:00)"), utc(2024, 3, 1), "America/New_York") == utc(2024, 3, 10, 7, 30)


def test_at_outside_the_window_never_runs() -> None:
    schedule = parse("at(2026-03-31T22:00:00)")
    assert next_run(schedule, utc(2026, 1, 1), start=utc(2026, 4, 1)) is None
    assert next_run(schedule, utc(2026, 1, 1), end=utc(2026, 3, 31, 21, 59)) is None
    assert next_run(schedule, utc(2026, 1, 1), start=utc(2026, 3, 31, 22), end=utc(2026, 3, 31, 22)) is not None


# rate(...)


def test_rate_units() -> None:
    assert parse("rate(1 minute)") == Rate(timedelta(minutes=1))
    assert parse("rate(5 minutes)") == Rate(timedelta(minutes=5))
    assert parse("rate(1 hour)") == Rate(timedelta(hours=1))
    assert parse("rate(12 hours)") == Rate(timedelta(hours=12))
    assert parse("rate(1 day)") == Rate(timedelta(days=1))
    assert parse("rate(7 days)") == Rate(timedelta(days=7))


def test_rate_runs_every_interval_from_its_start() -> None:
    start = utc(2026, 1, 30, 12)
    assert runs("rate(5 hours)", utc(2026, 1, 1), 3, start=start) == [
        "Fri 2026-01-30 12:00 UTC",
        "Fri 2026-01-30 17:00 UTC",
        "Fri 2026-01-30 22:00 UTC",
    ]
    # Asked mid-way, it keeps the start's phase; a run exactly at `after` is not the next one.
    assert next_run(parse("rate(5 hours)"), utc(2026, 1, 30, 14), start=start) == utc(2026, 1, 30, 17)
    assert next_run(parse("rate(5 hours)"), utc(2026, 1, 30, 17), start=start) == utc(2026, 1, 30, 22)


def test_rate_from_creation_first_runs_one_interval_later() -> None:
    created = utc(2026, 5, 1, 9, 0)
    assert next_run(parse("rate(10 minutes)"), created, start=created) == utc(2026, 5, 1, 9, 10)


def test_rate_stops_at_the_end_time() -> None:
    # Every 5 hours from 12:00 on the 30th: 12, 17, 22, then 03, 08, 13, 18; 23:00 on the 31st is past the end.
    times = runs("rate(5 hours)", utc(2026, 1, 1), 100, start=utc(2026, 1, 30, 12), end=utc(2026, 1, 31, 22))
    assert (len(times), times[-1]) == (7, "Sat 2026-01-31 18:00 UTC")


def test_rate_counts_elapsed_time_across_a_dst_change() -> None:
    # A day is 24 hours: after the spring-forward the runs read an hour later on New York clocks.
    start = datetime(2024, 3, 9, 9, 0, tzinfo=NEW_YORK)
    assert runs("rate(1 day)", start, 2, "America/New_York", start=start) == [
        "Sun 2024-03-10 10:00 EDT",
        "Mon 2024-03-11 10:00 EDT",
    ]


def test_rate_needs_a_start() -> None:
    with pytest.raises(ValueError, match="start"):
        next_run(parse("rate(5 minutes)"), utc(2026, 1, 1))


# cron(...)


def test_cron_every_weekday_morning_in_a_time_zone() -> None:
    assert runs("cron(30 6 ? * MON-FRI *)", utc(2026, 1, 2, 12), 3, "Europe/Paris") == [
        "Mon 2026-01-05 06:30 CET",
        "Tue 2026-01-06 06:30 CET",
        "Wed 2026-01-07 06:30 CET",
    ]


def test_cron_lists_ranges_increments_and_names() -> None:
    assert runs("cron(1/20 8-9 * * ? *)", utc(2026, 1, 1), 4) == [
        "Thu 2026-01-01 08:01 UTC",
        "Thu 2026-01-01 08:21 UTC",
        "Thu 2026-01-01 08:41 UTC",
        "Thu 2026-01-01 09:01 UTC",
    ]
    assert runs("cron(0 12 1 JAN,jul ? *)", utc(2026, 1, 2), 2) == [
        "Wed 2026-07-01 12:00 UTC",
        "Fri 2027-01-01 12:00 UTC",
    ]
    assert runs("cron(0 0 */10 * ? *)", utc(2026, 1, 1), 4) == [
        "Sun 2026-01-11 00:00 UTC",
        "Wed 2026-01-21 00:00 UTC",
        "Sat 2026-01-31 00:00 UTC",
        "Sun 2026-02-01 00:00 UTC",
    ]
    assert runs("cron(0 0 ? * 1,7 *)", utc(2026, 1, 1), 2) == ["Sat 2026-01-03 00:00 UTC", "Sun 2026-01-04 00:00 UTC"]


def test_cron_year_field_ends_the_schedule() -> None:
    assert runs("cron(0 0 1 1 ? 2027-2028)", utc(2026, 6, 1), 5) == [
        "Fri 2027-01-01 00:00 UTC",
        "Sat 2028-01-01 00:00 UTC",
    ]


def test_cron_day_that_a_month_lacks_is_skipped() -> None:
    assert runs("cron(0 0 31 * ? *)", utc(2026, 1, 31, 1), 2) == [
        "Tue 2026-03-31 00:00 UTC",
        "Sun 2026-05-31 00:00 UTC",
    ]
    assert runs("cron(0 0 29 2 ? *)", utc(2025, 1, 1), 1) == ["Tue 2028-02-29 00:00 UTC"]


def test_cron_last_day_of_month() -> None:
    assert day_rule("cron(0 0 L * ? *)") == MonthDays(last=True)
    assert runs("cron(0 0 L * ? *)", utc(2024, 1, 31, 1), 3) == [
        "Thu 2024-02-29 00:00 UTC",
        "Sun 2024-03-31 00:00 UTC",
        "Tue 2024-04-30 00:00 UTC",
    ]


def test_cron_last_weekday_of_month() -> None:
    # 31 March 2024 is a Sunday, 29 June a Saturday... and 30 June a Sunday: Friday the 28th.
    assert runs("cron(0 0 LW * ? *)", utc(2024, 3, 1), 4) == [
        "Fri 2024-03-29 00:00 UTC",
        "Tue 2024-04-30 00:00 UTC",
        "Fri 2024-05-31 00:00 UTC",
        "Fri 2024-06-28 00:00 UTC",
    ]


def test_cron_nearest_weekday_stays_in_the_month() -> None:
    # 1 June 2024 is a Saturday: the nearest weekday inside June is Monday the 3rd, not Friday 31 May.
    assert runs("cron(0 0 1W * ? *)", utc(2024, 5, 2), 2) == ["Mon 2024-06-03 00:00 UTC", "Mon 2024-07-01 00:00 UTC"]
    # 15 June 2024 is a Saturday (-> Friday 14th); 15 September a Sunday (-> Monday 16th).
    assert runs("cron(0 0 15W 6,9 ? *)", utc(2024, 1, 1), 2) == ["Fri 2024-06-14 00:00 UTC", "Mon 2024-09-16 00:00 UTC"]
    # 30 November 2024 is a Saturday, the month's last day: back to Friday the 29th.
    assert runs("cron(0 0 30W 11 ? 2024)", utc(2024, 1, 1), 1) == ["Fri 2024-11-29 00:00 UTC"]
    assert runs("cron(0 0 31W 2 ? *)", utc(2024, 1, 1), 1) == []


def test_cron_nth_weekday_of_month() -> None:
    assert day_rule("cron(0 0 ? * 3#2 *)") == WeekDays(nth=(3, 2))
    assert runs("cron(0 0 ? * 3#2 *)", utc(2024, 3, 1), 2) == ["Tue 2024-03-12 00:00 UTC", "Tue 2024-04-09 00:00 UTC"]
    # A fifth Friday exists only in some months.
    assert runs("cron(0 0 ? * FRI#5 2024)", utc(2024, 1, 1), 3) == [
        "Fri 2024-03-29 00:00 UTC",
        "Fri 2024-05-31 00:00 UTC",
        "Fri 2024-08-30 00:00 UTC",
    ]


def test_cron_last_weekday_of_that_kind_and_l_alone_in_day_of_week() -> None:
    assert runs("cron(0 0 ? * 6L *)", utc(2024, 3, 1), 2) == ["Fri 2024-03-29 00:00 UTC", "Fri 2024-04-26 00:00 UTC"]
    assert parse("cron(0 0 ? * FRIL *)") == parse("cron(0 0 ? * 6L *)")
    # L alone is the week's last day, Saturday, every week.
    assert runs("cron(0 0 ? * L *)", utc(2024, 3, 9, 1), 2) == ["Sat 2024-03-16 00:00 UTC", "Sat 2024-03-23 00:00 UTC"]


def test_cron_skips_a_time_the_spring_forward_removes() -> None:
    # New York, 10 March 2024: 02:00 EST jumps to 03:00 EDT, so 02:30 does not happen that day.
    assert runs("cron(30 2 * * ? *)", utc(2024, 3, 9, 12), 2, "America/New_York") == [
        "Mon 2024-03-11 02:30 EDT",
        "Tue 2024-03-12 02:30 EDT",
    ]
    assert runs("cron(30 1,3 * * ? *)", utc(2024, 3, 10, 5), 2, "America/New_York") == [
        "Sun 2024-03-10 01:30 EST",
        "Sun 2024-03-10 03:30 EDT",
    ]


def test_cron_runs_once_in_an_hour_the_fall_back_repeats() -> None:
    # New York, 3 November 2024: 02:00 EDT falls back to 01:00 EST; 01:00-01:59 happens twice.
    assert runs("cron(0/30 0-2 * * ? *)", utc(2024, 11, 3, 4), 5, "America/New_York") == [
        "Sun 2024-11-03 00:30 EDT",
        "Sun 2024-11-03 01:00 EDT",
        "Sun 2024-11-03 01:30 EDT",
        "Sun 2024-11-03 02:00 EST",
        "Sun 2024-11-03 02:30 EST",
    ]


def test_cron_start_and_end_window() -> None:
    window = {"start": utc(2026, 3, 2, 10), "end": utc(2026, 3, 4, 10)}
    assert runs("cron(0 10 * * ? *)", utc(2026, 1, 1), 10, "UTC", window["start"], window["end"]) == [
        "Mon 2026-03-02 10:00 UTC",  # the start is inclusive
        "Tue 2026-03-03 10:00 UTC",
        "Wed 2026-03-04 10:00 UTC",  # and so is the end
    ]


def test_cron_with_nothing_left_returns_none() -> None:
    assert next_run(parse("cron(0 0 1 1 ? 1999)"), utc(2026, 1, 1)) is None
    assert next_run(parse("cron(0 0 30 2 ? *)"), utc(2026, 1, 1)) is None


def test_cron_parses_into_sorted_values() -> None:
    assert parse("cron(15,0 23 ? dec SUN-TUE 2030)") == Cron(
        minutes=(0, 15), hours=(23,), days=WeekDays(days=(1, 2, 3)), months=(12,), years=(2030,)
    )


# Refusals, each saying what to fix.


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "use at(yyyy-mm-ddThh:mm:ss), rate(value unit) or cron("),
        ("every(5 minutes)", "use at("),
        ("rate(5 minutes", "use at("),
        ("at(2026-03-31 22:00:00)", "yyyy-mm-ddThh:mm:ss"),
        ("at(2026-03-31T22:00)", "yyyy-mm-ddThh:mm:ss"),
        ("at(2026-02-30T10:00:00)", "is not a date and time"),
        ("at(2026-03-31T24:00:00)", "is not a date and time"),
        ("rate(1 minutes)", "a rate of 1 takes the singular unit: rate(1 minute)"),
        ("rate(5 minute)", "a rate of 5 takes the plural unit: rate(5 minutes)"),
        ("rate(2 hour)", "rate(2 hours)"),
        ("rate(0 minutes)", "positive whole number"),
        ("rate(-5 minutes)", "positive whole number"),
        ("rate(1.5 hours)", "positive whole number"),
        ("rate(5 weeks)", "minute(s), hour(s) or day(s), not 'weeks'"),
        ("rate(5 Minutes)", "not 'Minutes'"),
        ("rate(5minutes)", "value and a unit"),
        ("rate(5  minutes)", "value and a unit"),
        ("cron(0 10 * * ?)", "six fields"),
        ("cron(0 10 * * ? * *)", "six fields"),
        ("cron(0 10 * * * *)", "one of Day-of-month and Day-of-week must be ?"),
        ("cron(0 10 ? * ? *)", "one of Day-of-month and Day-of-week must be ?"),
        ("cron(0 10 1 * MON *)", "one of Day-of-month and Day-of-week must be ?"),
        ("cron(60 10 * * ? *)", "Minutes takes 0-59, not '60'"),
        ("cron(0 24 * * ? *)", "Hours takes 0-23, not '24'"),
        ("cron(0 10 0 * ? *)", "Day-of-month takes 1-31, not '0'"),
        ("cron(0 10 32 * ? *)", "Day-of-month takes 1-31"),
        ("cron(0 10 * 13 ? *)", "Month takes 1-12 or JAN-DEC, not '13'"),
        ("cron(0 10 * JANUARY ? *)", "Month takes 1-12 or JAN-DEC, not 'JANUARY'"),
        ("cron(0 10 ? * 8 *)", "Day-of-week takes 1-7 or SUN-SAT, not '8'"),
        ("cron(0 10 ? * 0 *)", "Day-of-week takes 1-7"),
        ("cron(0 10 * * ? 1969)", "Year takes 1970-2199, not '1969'"),
        ("cron(0 10 * * ? 2200)", "Year takes 1970-2199"),
        ("cron(? 10 * * ? *)", "Minutes takes 0-59, not '?'"),
        ("cron(L 10 * * ? *)", "Minutes takes 0-59, not 'L'"),
        ("cron(0 10 * * ? L)", "Year takes 1970-2199, not 'L'"),
        ("cron(0 10 ? * MON/2 *)", "Day-of-week takes no / increments"),
        ("cron(0/0 10 * * ? *)", "increment after / in Minutes is a positive whole number"),
        ("cron(0/x 10 * * ? *)", "increment after / in Minutes"),
        ("cron(30-10 10 * * ? *)", "the range 30-10 in Minutes runs backwards"),
        ("cron(0 10 1,,2 * ? *)", "Day-of-month takes 1-31, not ''"),
        ("cron(0 10 L-2 * ? *)", "L and W stand alone in Day-of-month"),
        ("cron(0 10 1,L * ? *)", "L and W stand alone"),
        ("cron(0 10 32W * ? *)", "Day-of-month takes 1-31, not '32'"),
        ("cron(0 10 ? * 3#6 *)", "# takes one day and its week in the month, 1 to 5"),
        ("cron(0 10 ? * 3#1,6#3 *)", "cannot be part of a list"),
        ("cron(0 10 ? * 9#1 *)", "Day-of-week takes 1-7"),
        ("cron(0 10 ? * 9L *)", "Day-of-week takes 1-7"),
        ("cron(0 10 ? * 3W *)", "Day-of-week takes 1-7 or SUN-SAT, not '3W'"),
    ],
)
def test_invalid_expressions_say_what_to_fix(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError) as refused:
        parse(expression)
    assert message in str(refused.value)
    assert str(refused.value).startswith(f"Invalid schedule expression {expression!r}")


def test_time_zones_are_iana_names() -> None:
    assert zone("Pacific/Tahiti") == ZoneInfo("Pacific/Tahiti")
    assert zone("Etc/GMT+9") == ZoneInfo("Etc/GMT+9")
    for name in ("Mars/Olympus", "EST5EDT ", "", "../etc/passwd", "America", "zone.tab"):
        with pytest.raises(ScheduleError, match="Invalid time zone"):
            zone(name)
    with pytest.raises(ScheduleError, match="Invalid time zone 'Nowhere'"):
        next_run(parse("cron(0 10 * * ? *)"), utc(2026, 1, 1), "Nowhere")


def test_next_run_takes_aware_datetimes_only() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_run(parse("cron(0 10 * * ? *)"), datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="aware"):
        next_run(parse("rate(5 minutes)"), utc(2026, 1, 1), start=datetime(2026, 1, 1))


def test_a_rate_longer_than_any_date_is_refused_not_overflowed() -> None:
    with pytest.raises(ScheduleError, match="longer than any schedule can run"):
        parse("rate(99999999999999999999 days)")
