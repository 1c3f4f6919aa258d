"""Drift distances as Deequ measures them, and a monitoring execution's checks, on small data sets."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from homeport.monitoring.drift import Cdf, categorical_distance, linf_simple, numeric_distance
from homeport.monitoring.statistics import constraints, statistics
from homeport.monitoring.violations import check, domain_share, type_share


def test_a_sketch_as_a_cumulative_distribution() -> None:
    cdf = Cdf([[3.0, 1.0], [2.0]])  # 2.0 sits at level 1: it stands for two values
    assert (cdf.total, cdf(0.5), cdf(1.0), cdf(2.0), cdf(3.0)) == (4, 0.0, 0.25, 0.75, 1.0)


def test_the_kolmogorov_smirnov_distance_and_its_robust_correction() -> None:
    baseline = [[float(i) for i in range(1000)]]
    shifted = [[float(i) for i in range(200, 300)]]  # 100 values, all in the baseline's 20-30 % band
    simple = linf_simple(Cdf(baseline), Cdf(shifted))
    assert simple == pytest.approx(0.7)  # at 299: 30 % of the baseline is at or below it, and all of the current
    assert numeric_distance(baseline, shifted, "Simple") == simple
    assert numeric_distance(baseline, shifted, "Robust") == pytest.approx(simple - 1.8 * math.sqrt(1100 / 100_000))
    assert numeric_distance(baseline, baseline, "Robust") == 0.0
    assert numeric_distance(baseline, [[]], "Robust") == 0.0


def test_the_categorical_distance() -> None:
    assert categorical_distance({"a": 50, "b": 50}, {"a": 90, "b": 10}) == pytest.approx(0.4)
    assert categorical_distance({"a": 1}, {"c": 1}) == 1.0
    assert categorical_distance({}, {"a": 1}) == 0.0


def table(**columns: list[object]) -> pa.Table:
    return pa.table(columns)


def baseline_files(data: pa.Table) -> tuple[dict[str, object], dict[str, object]]:
    stats = statistics(data)
    return stats, constraints(stats)


def test_no_violation_against_itself() -> None:
    data = table(x=[float(i) for i in range(100)], kind=["a", "b"] * 50)
    stats, suggested = baseline_files(data)
    outcome = check(suggested, stats, data, stats)
    assert outcome.document() == {"violations": []}
    assert outcome.features["x"].drift == 0.0 and outcome.features["x"].completeness == 1.0
    assert outcome.features["x"].data == {"Sum": 4950.0, "SampleCount": 100.0, "Minimum": 0.0, "Maximum": 99.0}


def test_each_violation_type() -> None:
    base = table(x=[float(i) for i in range(1000)], n=list(range(1000)), kind=["a", "b"] * 500, gone=[1] * 1000)
    stats, suggested = baseline_files(base)
    current = table(
        x=[float(i) + 800 for i in range(200)],  # drifted
        n=["7", "eight"] * 100,  # half of them not integers
        kind=["a", "c", None, "a"] * 50,  # an unknown value, and a quarter missing
        new=[1] * 200,
    )
    outcome = check(suggested, stats, current, statistics(current))
    kinds = {(v["feature_name"], v["constraint_check_type"]) for v in outcome.violations}
    assert kinds == {
        ("gone", "missing_column_check"),
        ("new", "extra_column_check"),
        ("x", "baseline_drift_check"),
        ("n", "data_type_check"),
        ("kind", "completeness_check"),
        ("kind", "categorical_values_check"),
        ("kind", "baseline_drift_check"),
    }
    by_kind = {(v["feature_name"], v["constraint_check_type"]): v["description"] for v in outcome.violations}
    assert by_kind["n", "data_type_check"] == "Value: 0.5 does not meet the constraint requirement! "
    assert by_kind["kind", "completeness_check"] == "Value: 0.75 does not meet the constraint requirement! "
    assert by_kind["x", "baseline_drift_check"].startswith("Baseline drift distance: 0.")
    assert "exceeds threshold: 0.1" in by_kind["x", "baseline_drift_check"]


def test_disabled_evaluation_and_comparison() -> None:
    base = table(x=[float(i) for i in range(100)])
    stats, suggested = baseline_files(base)
    moved = table(x=[float(i) + 1000 for i in range(100)])
    suggested["monitoring_config"]["distribution_constraints"]["perform_comparison"] = "Disabled"  # type: ignore[index]
    assert check(suggested, stats, moved, statistics(moved)).features["x"].drift is None
    suggested["monitoring_config"]["distribution_constraints"]["perform_comparison"] = "Enabled"  # type: ignore[index]
    suggested["monitoring_config"]["evaluate_constraints"] = "Disabled"  # type: ignore[index]
    outcome = check(suggested, stats, moved, statistics(moved))
    assert outcome.violations == [] and outcome.features["x"].drift == 1.0 - 1.8 * math.sqrt(200 / 10_000)


def test_type_and_domain_shares() -> None:
    assert type_share(pa.chunked_array([["1", "2.5", "x", None]]), "Fractional") == pytest.approx(2 / 3)
    assert type_share(pa.chunked_array([[1.5, 2.0]]), "Integral") == 0.0
    assert type_share(pa.chunked_array([[1, 2]]), "Fractional") == 1.0
    assert type_share(pa.chunked_array([[None, None]], pa.string()), "Integral") == 1.0
    assert domain_share(pa.chunked_array([["a", "b", "z", None]]), ["a", "b"]) == pytest.approx(2 / 3)


def test_a_features_overrides_apply_to_it_alone() -> None:
    base = table(x=[float(i) for i in range(1000)], y=[float(i) for i in range(1000)])
    stats, suggested = baseline_files(base)
    moved = table(x=[float(i) + 300 for i in range(1000)], y=[float(i) + 300 for i in range(1000)])
    features = suggested["features"]  # type: ignore[index]
    features[0]["monitoringConfigOverrides"] = {"comparison_threshold": 0.5}  # x tolerates more drift
    features[1]["string_constraints"] = {"monitoring_config_overrides": {"perform_comparison": "Disabled"}}
    outcome = check(suggested, stats, moved, statistics(moved))
    assert outcome.violations == []
    assert outcome.features["x"].drift is not None and 0.0 < outcome.features["x"].drift < 0.5
    assert outcome.features["y"].drift is None
    del features[0]["monitoringConfigOverrides"]
    assert {v["feature_name"] for v in check(suggested, stats, moved, statistics(moved)).violations} == {"x"}
