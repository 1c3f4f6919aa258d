"""A monitoring schedule's times: the expressions SageMaker takes, ISO 8601 offsets, when runs are due and what
window each one analyzes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from homeport.core.monitoring_schedule import (
    Window,
    hours,
    latest_due,
    next_due,
    offsets,
    parse_expression,
    parse_offset,
    window,
)
from homeport.core.schedules import ScheduleError


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize("expression", ["cron(0 * ? * * *)", "cron(0 12 ? * * *)", "cron(0 17/12 ? * * *)"])
def test_sagemakers_hourly_aligned_crons_are_taken(expression: str) -> None:
    assert parse_expression(expression) is not None


def test_now_is_a_one_time_run() -> None:
    assert parse_expression("NOW") is None


@pytest.mark.parametrize(
    "expression", ["cron(5 * ? * * *)", "cron(0 * * * ? *)", "rate(1 hour)", "now", "cron(0 24 ? * * *)", ""]
)
def test_other_expressions_are_refused_naming_what_is_taken(expression: str) -> None:
    with pytest.raises(ScheduleError, match=r"cron\(0 \* \? \* \* \*\)"):
        parse_expression(expression)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("-PT5H", -18000), ("-PT90M", -5400), ("-P1D", -86400), ("-P1DT2H", -93600), ("PT0H", 0), ("-PT30S", -30)],
)
def test_iso_8601_offsets(text: str, seconds: float) -> None:
    assert parse_offset(text, "x") == seconds


@pytest.mark.parametrize("text", ["-PT", "P", "-5H", "-PT5X", "-P1DT", "PT-5H", "-pt5h"])
def test_what_is_not_an_iso_8601_duration_is_refused(text: str) -> None:
    with pytest.raises(ScheduleError, match="ISO 8601"):
        parse_offset(text, "DataAnalysisStartTime")


def test_offsets_come_from_the_schedule_then_the_endpoint_input() -> None:
    hourly = {"ScheduleExpression": "cron(0 * ? * * *)"}
    assert offsets(hourly, None) is None
    assert offsets(hourly, {"StartTimeOffset": "-PT3H", "EndTimeOffset": "-PT1H"}) == (-10800, -3600)
    own = {**hourly, "DataAnalysisStartTime": "-PT2H", "DataAnalysisEndTime": "-PT0H"}
    assert offsets(own, {"StartTimeOffset": "-PT3H", "EndTimeOffset": "-PT1H"}) == (-7200, 0)
    with pytest.raises(ScheduleError, match=r"needs ScheduleConfig\.DataAnalysisStartTime"):
        offsets({"ScheduleExpression": "NOW"}, None)
    with pytest.raises(ScheduleError, match="more than 24 hours"):
        offsets({**hourly, "DataAnalysisStartTime": "-P2D", "DataAnalysisEndTime": "-PT1H"}, None)


def test_only_the_latest_missed_run_is_due() -> None:
    hourly = parse_expression("cron(0 * ? * * *)")
    assert hourly is not None
    created = at("2026-12-05T10:30:00")
    assert latest_due(hourly, created, at("2026-12-05T10:59:59")) is None
    assert latest_due(hourly, created, at("2026-12-05T11:00:00")) == at("2026-12-05T11:00:00")
    # Down from 11:30 to 15:10: the 15:00 run is due, not the three before it.
    assert latest_due(hourly, at("2026-12-05T11:00:00"), at("2026-12-05T15:10:00")) == at("2026-12-05T15:00:00")
    assert latest_due(hourly, at("2026-12-05T15:00:00"), at("2026-12-05T15:10:00")) is None
    assert next_due(hourly, at("2026-12-05T15:10:00")) == at("2026-12-05T16:00:00")


def test_a_window_is_the_time_since_the_previous_run_unless_offsets_say_otherwise() -> None:
    hourly, daily = parse_expression("cron(0 * ? * * *)"), parse_expression("cron(0 5 ? * * *)")
    every_six = parse_expression("cron(0 0/6 ? * * *)")
    run = at("2026-12-05T06:00:00")
    assert window(hourly, run, None) == Window(at("2026-12-05T05:00:00"), run)
    assert window(every_six, run, None) == Window(at("2026-12-05T00:00:00"), run)
    assert window(daily, at("2026-12-05T05:00:00"), None) == Window(
        at("2026-12-04T05:00:00"), at("2026-12-05T05:00:00")
    )
    assert window(None, run, (-5400.0, -1800.0)) == Window(run - 5400, run - 1800)


def test_the_capture_hours_a_window_reads() -> None:
    span = Window(at("2026-12-05T04:30:00"), at("2026-12-05T06:00:00"))
    assert hours(span) == [at("2026-12-05T04:00:00"), at("2026-12-05T05:00:00")]
    assert hours(Window(at("2026-12-05T05:00:00"), at("2026-12-05T05:00:01"))) == [at("2026-12-05T05:00:00")]
    assert hours(Window(5.0, 5.0)) == []
