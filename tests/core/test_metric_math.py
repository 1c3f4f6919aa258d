"""CloudWatch metric math over series of {period start: value}."""

from __future__ import annotations

import pytest

from homeport.core.metric_math import MathError, Named, evaluate, references

A = Named("errors", "Errors", {0.0: 2.0, 60.0: 4.0, 120.0: 0.0}, 60)
B = Named("requests", "Requests", {0.0: 10.0, 60.0: 20.0, 180.0: 5.0}, 60)
RESULTS = {"errors": A, "requests": B}
METRICS = [A, B]


def ev(expression: str) -> dict[float, float]:
    series, _ = evaluate(expression, RESULTS, METRICS)
    return series


def test_arithmetic_keeps_the_timestamps_both_series_have() -> None:
    assert ev("errors / requests * 100") == {0.0: 20.0, 60.0: 20.0}
    assert ev("requests - errors") == {0.0: 8.0, 60.0: 16.0}
    assert ev("errors ^ 2 + 1") == {0.0: 5.0, 60.0: 17.0, 120.0: 1.0}  # ^ is a power, as in CloudWatch
    assert ev("-errors") == {0.0: -2.0, 60.0: -4.0, 120.0: -0.0}


def test_division_by_zero_drops_the_point() -> None:
    assert ev("requests / errors") == {0.0: 5.0, 60.0: 5.0}


def test_aggregates_across_an_array_point_by_point_and_over_one_series() -> None:
    assert ev("SUM(METRICS())") == {0.0: 12.0, 60.0: 24.0, 120.0: 0.0, 180.0: 5.0}
    assert ev("MAX([errors, requests])") == {0.0: 10.0, 60.0: 20.0, 120.0: 0.0, 180.0: 5.0}
    assert ev('AVG(METRICS("Err"))') == {0.0: 2.0, 60.0: 4.0, 120.0: 0.0}
    # One series' statistic over the range is one number, applied to every period of the request.
    assert ev("requests - AVG(requests)") == pytest.approx({0.0: -5 / 3, 60.0: 25 / 3, 180.0: -20 / 3})


def test_fill_and_functions_over_time() -> None:
    assert ev("FILL(requests, 0)") == {0.0: 10.0, 60.0: 20.0, 120.0: 0.0, 180.0: 5.0}
    assert ev("FILL(requests, REPEAT)") == {0.0: 10.0, 60.0: 20.0, 120.0: 20.0, 180.0: 5.0}
    assert ev("DIFF(errors)") == {60.0: 2.0, 120.0: -4.0}
    assert ev("RATE(errors)") == {60.0: 2.0 / 60, 120.0: -4.0 / 60}
    assert ev("RUNNING_SUM(errors)") == {0.0: 2.0, 60.0: 6.0, 120.0: 6.0}
    assert ev("PERIOD(errors)") == {0.0: 60.0, 60.0: 60.0, 120.0: 60.0}
    assert ev("ABS(0 - errors)") == {0.0: 2.0, 60.0: 4.0, 120.0: 0.0}
    assert evaluate("errors", RESULTS, METRICS)[1] == 60


def test_references_name_the_ids_an_expression_uses() -> None:
    assert references("SUM([a, b]) / c + FILL(d, REPEAT)") == {"a", "b", "c", "d"}


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("errors +", "Syntax error"),
        ("nope * 2", "no query Id"),
        ("__import__('os')", "Unknown function __import__"),
        ("errors.real", "Unsupported syntax"),
        ("errors ^ 'x'", "Unexpected value"),
        ("UNKNOWN(errors)", "Unknown function"),
        ("METRICS()", "not an array"),
        ("[errors] + [requests]", "two arrays"),
        ("FILL(errors)", "FILL takes"),
        ("'text'", "Unexpected value"),
        ("errors if errors else requests", "Unsupported syntax"),
        ("x" * 3000, "at most 2048"),
    ],
)
def test_bad_expressions_say_what_is_wrong(expression: str, problem: str) -> None:
    with pytest.raises(MathError, match=problem):
        evaluate(expression, RESULTS, METRICS)
