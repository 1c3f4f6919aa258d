"""The metric alarm's decisions, tick by tick, against the CloudWatch User Guide's tables and published reasons."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from homeport.controllers.alarm_plan import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    Datapoint,
    Rule,
    evaluate,
    evaluation_range,
)

RETAIN = "retain current state"
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, ms: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, ms * 1000, tzinfo=UTC).timestamp()


def rule(**overrides: Any) -> Rule:
    fields: dict[str, Any] = {
        "comparison": "GreaterThanThreshold",
        "threshold": 1.0,
        "evaluation_periods": 3,
        "datapoints_to_alarm": 3,
        "period": 300,
        "statistic": "Average",
    }
    return Rule(**(fields | overrides))


def from_pattern(r: Rule, pattern: str, now: float) -> list[Datapoint]:
    """The guide's notation over the evaluation range, oldest first: 0 good, X breaching, - missing."""
    start, _ = evaluation_range(r, now)
    values = {"0": 0.0, "X": 5.0}
    return [Datapoint(start + i * r.period, values[c], 1.0) for i, c in enumerate(pattern.split()) if c != "-"]


# "Configuring how CloudWatch alarms treat missing data", its two tables: Evaluation Periods 3, an evaluation
# range of 5, Datapoints to Alarm 3 and then 2. Columns: MISSING, IGNORE, BREACHING, NOT BREACHING.
DOC_TABLES = [
    (3, "0 - X - X", OK, OK, OK, OK),
    (3, "0 - - - -", OK, OK, OK, OK),
    (3, "- - - - -", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
    (3, "0 X X - X", ALARM, ALARM, ALARM, ALARM),
    (3, "- - X - -", ALARM, RETAIN, ALARM, OK),
    (2, "0 - X - X", ALARM, ALARM, ALARM, ALARM),
    (2, "0 0 X 0 X", ALARM, ALARM, ALARM, ALARM),
    (2, "0 - X - -", OK, OK, ALARM, OK),
    (2, "- - - - 0", OK, OK, ALARM, OK),
    (2, "- - - X -", ALARM, RETAIN, ALARM, OK),
    # Rows an earlier revision of the page also had: a breach too recent to alarm on, and one old enough to.
    (3, "- - - - X", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
    (3, "X - - - -", ALARM, RETAIN, ALARM, OK),
    (2, "- - - - X", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
]


@pytest.mark.parametrize("current", [OK, ALARM, INSUFFICIENT_DATA])
@pytest.mark.parametrize(
    ("m", "pattern", "treat", "expected"),
    [
        (m, pattern, treat, expected)
        for m, pattern, *cells in DOC_TABLES
        for treat, expected in zip(TREATMENTS, cells, strict=True)
    ],
)
def test_the_guides_missing_data_tables(m: int, pattern: str, treat: str, expected: str, current: str) -> None:
    r = rule(datapoints_to_alarm=m, treat_missing=treat)
    now = at(2026, 11, 25, 16, 0, 42)
    result = evaluate(r, from_pattern(r, pattern, now), current, now)
    want = current if expected == RETAIN else expected
    assert result.state == want
    assert result.changed == (want != current)


@pytest.mark.parametrize(
    ("comparison", "words", "below", "at_threshold", "above"),
    [
        ("GreaterThanOrEqualToThreshold", "greater than or equal to", False, True, True),
        ("GreaterThanThreshold", "greater than", False, False, True),
        ("LessThanThreshold", "less than", True, False, False),
        ("LessThanOrEqualToThreshold", "less than or equal to", True, True, False),
    ],
)
def test_each_comparison_below_at_and_above_the_threshold(
    comparison: str, words: str, below: bool, at_threshold: bool, above: bool
) -> None:
    r = rule(comparison=comparison, threshold=10.0, evaluation_periods=1, datapoints_to_alarm=1, period=60)
    now = at(2022, 8, 1, 15, 6, 30)
    for value, breaching in ((9.5, below), (10.0, at_threshold), (10.5, above)):
        result = evaluate(r, [Datapoint(at(2022, 8, 1, 15, 5), value, 1.0)], OK, now)
        assert result.state == (ALARM if breaching else OK)
        verdict = f"was {words}" if breaching else f"was not {words}"
        transition = "OK -> ALARM" if breaching else "ALARM -> OK"
        assert result.reason == (
            f"Threshold Crossed: 1 out of the last 1 datapoints [{value} (01/08/22 15:05:00)] {verdict} the threshold"
            f" (10.0) (minimum 1 datapoint for {transition} transition)."
        )


def test_alarm_reason_and_reason_data_as_cloudwatch_writes_them() -> None:
    r = rule(period=60, statistic="Average")
    points = [
        Datapoint(at(2026, 11, 25, 16, 0), 6.0, 3.0),
        Datapoint(at(2026, 11, 25, 16, 1), 4.0, 2.0),
        Datapoint(at(2026, 11, 25, 16, 2), 5.0, 1.0),
    ]
    result = evaluate(r, points, OK, at(2026, 11, 25, 16, 3, 7, ms=250))
    assert (result.state, result.changed) == (ALARM, True)
    assert result.reason == (
        "Threshold Crossed: 3 out of the last 3 datapoints [5.0 (25/11/26 16:02:00), 4.0 (25/11/26 16:01:00), "
        "6.0 (25/11/26 16:00:00)] were greater than the threshold (1.0) (minimum 3 datapoints for OK -> ALARM "
        "transition)."
    )
    assert json.dumps(result.reason_data, separators=(",", ":")) == (
        '{"version":"1.0","queryDate":"2026-11-25T16:03:07.250+0000","startDate":"2026-11-25T16:00:00.000+0000",'
        '"statistic":"Average","period":60,"recentDatapoints":[6.0,4.0,5.0],"threshold":1.0,"evaluatedDatapoints":['
        '{"timestamp":"2026-11-25T16:02:00.000+0000","sampleCount":1.0,"value":5.0},'
        '{"timestamp":"2026-11-25T16:01:00.000+0000","sampleCount":2.0,"value":4.0},'
        '{"timestamp":"2026-11-25T16:00:00.000+0000","sampleCount":3.0,"value":6.0}]}'
    )


def test_m_out_of_n_lists_only_the_breaching_datapoints() -> None:
    # Published: "2 out of the last 4 datapoints [10.708333333333332 (08/11/22 02:40:00), 10.791661891275925
    # (08/11/22 02:30:00)] were greater than the threshold (10.7) (minimum 2 datapoints for OK -> ALARM transition)."
    r = rule(threshold=10.7, evaluation_periods=4, datapoints_to_alarm=2, period=600)
    values = {(2, 10): 10.5, (2, 20): 10.0, (2, 30): 10.791661891275925, (2, 40): 10.708333333333332}
    points = [Datapoint(at(2022, 11, 8, h, mi), v, 1.0) for (h, mi), v in values.items()]
    result = evaluate(r, points, OK, at(2022, 11, 8, 2, 51, 18))
    assert result.state == ALARM
    assert result.reason == (
        "Threshold Crossed: 2 out of the last 4 datapoints [10.708333333333332 (08/11/22 02:40:00), "
        "10.791661891275925 (08/11/22 02:30:00)] were greater than the threshold (10.7) (minimum 2 datapoints for "
        "OK -> ALARM transition)."
    )
    # M breaching datapoints carry the transition, so those are the ones evaluatedDatapoints names.
    assert [p["value"] for p in result.reason_data["evaluatedDatapoints"]] == [10.708333333333332, 10.791661891275925]
    assert result.reason_data["recentDatapoints"] == [10.5, 10.0, 10.791661891275925, 10.708333333333332]


def test_m_out_of_n_goes_ok_when_fewer_than_m_breach() -> None:
    # Published: "3 out of the last 5 datapoints [0.0 (21/12/21 06:45:00), 0.0 (21/12/21 06:44:00), 0.0 (21/12/21
    # 06:42:00)] were not greater than the threshold (0.0) (minimum 3 datapoints for ALARM -> OK transition)."
    r = rule(threshold=0.0, evaluation_periods=5, datapoints_to_alarm=3, period=60)
    values = {41: 2.0, 42: 0.0, 43: 1.0, 44: 0.0, 45: 0.0}
    points = [Datapoint(at(2021, 12, 21, 6, minute), v, 1.0) for minute, v in values.items()]
    result = evaluate(r, points, ALARM, at(2021, 12, 21, 6, 46, 11))
    assert (result.state, result.changed) == (OK, True)
    assert result.reason == (
        "Threshold Crossed: 3 out of the last 5 datapoints [0.0 (21/12/21 06:45:00), 0.0 (21/12/21 06:44:00), "
        "0.0 (21/12/21 06:42:00)] were not greater than the threshold (0.0) (minimum 3 datapoints for ALARM -> OK "
        "transition)."
    )
    assert len(result.reason_data["evaluatedDatapoints"]) == 3  # N-M+1 good datapoints settle OK


def test_many_breaching_datapoints_name_the_count_and_the_latest_five() -> None:
    r = rule(comparison="LessThanOrEqualToThreshold", threshold=0.0, evaluation_periods=6, datapoints_to_alarm=6)
    points = [Datapoint(at(2022, 9, 29, 21, 40) + i * 300, 0.0, 5.0) for i in range(6)]
    result = evaluate(r, points, OK, at(2022, 9, 29, 22, 10, 4))
    assert result.reason == (
        "Threshold Crossed: 6 out of the last 6 datapoints were less than or equal to the threshold (0.0). The most "
        "recent datapoints which crossed the threshold: [0.0 (29/09/22 22:05:00), 0.0 (29/09/22 22:00:00), "
        "0.0 (29/09/22 21:55:00), 0.0 (29/09/22 21:50:00), 0.0 (29/09/22 21:45:00)] (minimum 6 datapoints for "
        "OK -> ALARM transition)."
    )
    assert len(result.reason_data["evaluatedDatapoints"]) == 6


def test_insufficient_data_reason_and_reason_data() -> None:
    # Published reasonData for "Insufficient Data: 5 datapoints were unknown.", word for word.
    r = rule(threshold=5.0, evaluation_periods=5, datapoints_to_alarm=5, period=60)
    result = evaluate(r, [], OK, at(2023, 8, 4, 12, 31, 29, ms=591))
    assert (result.state, result.changed) == (INSUFFICIENT_DATA, True)
    assert result.reason == "Insufficient Data: 5 datapoints were unknown."
    assert json.dumps(result.reason_data, separators=(",", ":")) == (
        '{"version":"1.0","queryDate":"2023-08-04T12:31:29.591+0000","statistic":"Average","period":60,'
        '"recentDatapoints":[],"threshold":5.0,"evaluatedDatapoints":[{"timestamp":"2023-08-04T12:30:00.000+0000"},'
        '{"timestamp":"2023-08-04T12:29:00.000+0000"},{"timestamp":"2023-08-04T12:28:00.000+0000"},'
        '{"timestamp":"2023-08-04T12:27:00.000+0000"},{"timestamp":"2023-08-04T12:26:00.000+0000"}]}'
    )
    one = evaluate(rule(evaluation_periods=1, datapoints_to_alarm=1), [], ALARM, at(2023, 8, 4, 12, 31))
    assert one.reason == "Insufficient Data: 1 datapoint was unknown."


def test_missing_data_treated_as_not_breaching_says_so() -> None:
    r = rule(
        comparison="GreaterThanOrEqualToThreshold",
        threshold=0.0,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        period=60,
        statistic="Sum",
        treat_missing="notBreaching",
        unit="Count",
    )
    result = evaluate(r, [], ALARM, at(2018, 9, 16, 0, 22, 56, ms=53))
    assert (result.state, result.changed) == (OK, True)
    assert result.reason == (
        "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as "
        "[NonBreaching]."
    )
    assert list(result.reason_data) == [
        "version",
        "queryDate",
        "unit",
        "statistic",
        "period",
        "recentDatapoints",
        "threshold",
        "evaluatedDatapoints",
    ]
    assert result.reason_data["evaluatedDatapoints"] == [{"timestamp": "2018-09-16T00:21:00.000+0000"}]


def test_missing_data_treated_as_breaching_fills_only_what_real_data_cannot() -> None:
    r = rule(evaluation_periods=3, datapoints_to_alarm=2, period=900, treat_missing="breaching")
    now = at(2026, 9, 5, 12, 0, 30)
    _, end = evaluation_range(r, now)
    # One good datapoint, the newest; the two newest gaps fill in as breaching and make 2 of 3.
    result = evaluate(r, [Datapoint(end - 900, 0.0, 1.0)], OK, now)
    assert result.state == ALARM
    assert result.reason == (
        "Threshold Crossed: 1 datapoint was received for 3 periods and 2 missing datapoints were treated as "
        "[Breaching]."
    )
    assert result.reason_data["evaluatedDatapoints"] == [
        {"timestamp": "2026-09-05T11:30:00.000+0000"},
        {"timestamp": "2026-09-05T11:15:00.000+0000"},
    ]
    nothing = evaluate(r, [], OK, now)
    assert nothing.reason == (
        "Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints were treated as "
        "[Breaching]."
    )


def test_a_good_datapoint_outweighs_one_missing_period_treated_as_breaching() -> None:
    r = rule(comparison="LessThanThreshold", evaluation_periods=2, datapoints_to_alarm=2, treat_missing="breaching")
    now = at(2026, 9, 25, 21, 56, 48)
    result = evaluate(r, [Datapoint(at(2026, 9, 25, 21, 50), 1.0, 1.0)], ALARM, now)
    assert (result.state, result.changed) == (OK, True)
    assert result.reason == (
        "Threshold Crossed: 1 out of the last 2 datapoints [1.0 (25/09/26 21:50:00)] was not less than the threshold "
        "(1.0) and 1 missing datapoint was treated as [Breaching] (minimum 1 datapoint for ALARM -> OK transition)."
    )
    assert result.reason_data["evaluatedDatapoints"] == [
        {"timestamp": "2026-09-25T21:50:00.000+0000", "sampleCount": 1.0, "value": 1.0}
    ]


def test_numbers_print_as_cloudwatch_prints_them() -> None:
    r = rule(threshold=1e7, evaluation_periods=1, datapoints_to_alarm=1, period=60)
    now = at(2025, 1, 2, 3, 5, 1)
    result = evaluate(r, [Datapoint(at(2025, 1, 2, 3, 4), 12345678.0, 1.0)], OK, now)
    assert "[1.2345678E7 (02/01/25 03:04:00)] was greater than the threshold (1.0E7)" in result.reason
    small = rule(comparison="LessThanThreshold", threshold=0.5, evaluation_periods=1, datapoints_to_alarm=1, period=60)
    result = evaluate(small, [Datapoint(at(2025, 1, 2, 3, 4), 0.0001, 1.0)], OK, now)
    assert "[1.0E-4 (02/01/25 03:04:00)] was less than the threshold (0.5)" in result.reason


def test_ok_alarm_ok_tick_by_tick_then_the_metric_stops() -> None:
    """2 out of 3, one-minute periods: each tick the caller fetches the range and hands over what it found."""
    r = rule(threshold=50.0, evaluation_periods=3, datapoints_to_alarm=2, period=60)
    base = at(2026, 1, 1, 0, 0)
    store: dict[float, float] = {}
    state = INSUFFICIENT_DATA
    ticks = [
        (10.0, OK, True),  # one good datapoint, the rest unknown: OK
        (60.0, OK, False),  # 1 of 2 breaching
        (70.0, ALARM, True),  # 2 of 3
        (20.0, ALARM, False),  # 60 and 70 still 2 of the last 3
        (10.0, OK, True),
        (10.0, OK, False),
        # The metric stops: the range keeps real datapoints for two more periods before all five are missing.
        (None, OK, False),
        (None, OK, False),
        (None, OK, False),
        (None, OK, False),
        (None, INSUFFICIENT_DATA, True),
    ]
    for tick, (value, want, changed) in enumerate(ticks):
        completed = base + tick * 60
        if value is not None:
            store[completed] = value
        now = completed + 60 + 5
        start, end = evaluation_range(r, now)
        fetched = [Datapoint(s, v, 1.0) for s, v in store.items() if start <= s < end]
        result = evaluate(r, fetched, state, now)
        assert (tick, result.state, result.changed) == (tick, want, changed)
        state = result.state


@pytest.mark.parametrize(
    ("statistic", "needed"),
    [("p99", 1000), ("p99.9", 10000), ("p90", 100), ("p50", 20), ("p25", 40), ("p10", 100)],
)
def test_percentile_with_too_few_samples_keeps_the_state_when_told_to_ignore(statistic: str, needed: int) -> None:
    r = rule(
        statistic=statistic,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        period=60,
        evaluate_low_sample_count_percentile="ignore",
    )
    now = at(2026, 3, 1, 10, 1, 3)
    scarce = evaluate(r, [Datapoint(at(2026, 3, 1, 10, 0), 9.0, needed - 1)], OK, now)
    assert (scarce.state, scarce.changed) == (OK, False)
    assert scarce.reason == f"State unchanged: 1 of the last 1 datapoints had too few samples for {statistic}."
    enough = evaluate(r, [Datapoint(at(2026, 3, 1, 10, 0), 9.0, needed)], OK, now)
    assert (enough.state, enough.changed) == (ALARM, True)


@pytest.mark.parametrize(
    ("statistic", "setting"),
    [("p99", "evaluate"), ("p99", ""), ("Average", "ignore"), ("p100", "ignore"), ("tm90", "ignore")],
)
def test_low_sample_counts_are_evaluated_otherwise(statistic: str, setting: str) -> None:
    r = rule(
        statistic=statistic,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        period=60,
        evaluate_low_sample_count_percentile=setting,
    )
    result = evaluate(r, [Datapoint(at(2026, 3, 1, 10, 0), 9.0, 1.0)], OK, at(2026, 3, 1, 10, 1, 3))
    assert result.state == ALARM


def test_ignore_keeps_the_state_with_homeports_own_reason() -> None:
    r = rule(treat_missing="ignore")
    result = evaluate(r, [], ALARM, at(2026, 3, 1, 10, 1, 3))
    assert (result.state, result.changed) == (ALARM, False)
    assert result.reason == "State unchanged: missing data is ignored, and 3 of the last 3 datapoints were missing."


def test_evaluation_range_covers_complete_periods_aligned_to_the_period() -> None:
    r = rule(period=300, evaluation_periods=3)
    assert evaluation_range(r, 900_017.5) == (898_500, 900_000)
    assert evaluation_range(r, 900_000) == (898_500, 900_000)  # the period starting now is not complete
    day = rule(period=86_400, evaluation_periods=1)
    assert evaluation_range(day, at(2026, 5, 4, 13, 0)) == (at(2026, 5, 1), at(2026, 5, 4))


def test_datapoints_outside_the_range_are_not_evaluated() -> None:
    r = rule(evaluation_periods=1, datapoints_to_alarm=1, period=60)
    now = at(2026, 3, 1, 10, 1, 30)
    unfinished = Datapoint(at(2026, 3, 1, 10, 1), 99.0, 1.0)  # the period still running
    too_old = Datapoint(at(2026, 3, 1, 9, 57), 99.0, 1.0)  # before the range's three periods
    assert evaluate(r, [unfinished, Datapoint(at(2026, 3, 1, 10, 0), 0.0, 1.0), too_old], ALARM, now).state == OK
    assert evaluate(r, [unfinished, too_old], OK, now).state == INSUFFICIENT_DATA


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="LessThanLowerOrGreaterThanUpperThreshold"):
        evaluate(rule(comparison="LessThanLowerOrGreaterThanUpperThreshold"), [], OK, 0.0)
    with pytest.raises(ValueError, match="sometimes"):
        evaluate(rule(treat_missing="sometimes"), [], OK, 0.0)
