"""A monitoring execution's checks: the current data set's statistics against the baseline's constraints and
statistics, as `constraint_violations.json` and the per-feature values SageMaker publishes as metrics.

The checks and their `constraint_check_type`, as SageMaker names them:
- `missing_column_check`, `extra_column_check`: the current data has fewer or more columns than the baseline.
- `data_type_check`: the share of a feature's values of the baseline's type is below `datatype_check_threshold`.
- `completeness_check`: the share of a feature's values present is below the baseline's `completeness`.
- `categorical_values_check`: the share of a string feature's values in its `domains` is below
  `domain_content_threshold`.
- `baseline_drift_check`: the distance between the baseline's distribution and the current one (`drift`) is over
  `comparison_threshold` (numeric features) or `categorical_comparison_threshold` (string ones).

With `evaluate_constraints` Disabled nothing is a violation; with `perform_comparison` Disabled there is no drift check.
A feature's `monitoringConfigOverrides` (thresholds, comparison method, perform_comparison) apply to it alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from homeport.monitoring.drift import categorical_distance, numeric_distance
from homeport.monitoring.statistics import FRACTIONAL, INTEGRAL, STRING

INTEGER = re.compile(r"^\s*[-+]?\d+\s*$")
NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


@dataclass
class FeatureValues:
    """What is published for one feature: `feature_baseline_drift_<name>`, `feature_non_null_<name>`, and the
    current values' sum, count, min and max (`feature_data_<name>`)."""

    completeness: float
    drift: float | None = None
    data: dict[str, float] = field(default_factory=dict)


@dataclass
class Outcome:
    violations: list[dict[str, str]]
    features: dict[str, FeatureValues]

    def document(self) -> dict[str, Any]:
        return {"violations": self.violations}


def check(
    constraints: dict[str, Any], baseline: dict[str, Any], current: pa.Table, statistics: dict[str, Any]
) -> Outcome:
    config = constraints.get("monitoring_config", {})
    evaluate = config.get("evaluate_constraints", "Enabled") == "Enabled"
    comparison = config.get("distribution_constraints", {})
    wanted = {f["name"]: f for f in constraints.get("features", [])}
    base = {f["name"]: f for f in baseline.get("features", [])}
    now = {f["name"]: f for f in statistics.get("features", [])}
    found: list[dict[str, str]] = []

    def violation(name: str, kind: str, description: str) -> None:
        if evaluate:
            found.append({"feature_name": name, "constraint_check_type": kind, "description": description})

    counts = (
        f"Number of columns in current dataset: {len(now)}, Number of columns in baseline constraints: {len(wanted)}"
    )
    for name in wanted:
        if name not in now:
            violation(name, "missing_column_check", f"There are missing columns in current dataset. {counts}")
    for name in now:
        if name not in wanted:
            violation(name, "extra_column_check", f"There are extra columns in current dataset. {counts}")

    features: dict[str, FeatureValues] = {}
    items = statistics["dataset"]["item_count"] or 1.0
    for name, constraint in wanted.items():
        if name not in now:
            continue
        current_stats = now[name]
        details = current_stats.get("numerical_statistics") or current_stats.get("string_statistics") or {}
        present = details.get("common", {}).get("num_present", 0.0)
        values = FeatureValues(completeness=present / items)
        features[name] = values
        column = current.column(name)
        overrides = _overrides(constraint)
        feature_config = {**config, **overrides}
        feature_comparison = {**comparison, **{k: v for k, v in overrides.items() if k in DISTRIBUTION}}
        share = type_share(column, constraint["inferred_type"])
        if share < feature_config.get("datatype_check_threshold", 1.0):
            violation(name, "data_type_check", _unmet(share))
        if values.completeness < constraint.get("completeness", 0.0):
            violation(name, "completeness_check", _unmet(values.completeness))
        domains = constraint.get("string_constraints", {}).get("domains")
        if domains is not None:
            inside = domain_share(column, domains)
            if inside < feature_config.get("domain_content_threshold", 1.0):
                violation(name, "categorical_values_check", _unmet(inside))
        numbers = current_stats.get("numerical_statistics")
        if numbers is not None:
            values.data = {
                "Sum": numbers["sum"],
                "SampleCount": present,
                "Minimum": numbers["min"],
                "Maximum": numbers["max"],
            }
        if feature_comparison.get("perform_comparison", "Enabled") != "Enabled" or name not in base:
            continue
        distance, threshold = drift(base[name], current_stats, feature_comparison)
        if distance is None:
            continue
        values.drift = distance
        if distance > threshold:
            violation(
                name, "baseline_drift_check", f"Baseline drift distance: {distance} exceeds threshold: {threshold}"
            )
    return Outcome(found, features)


DISTRIBUTION = ("perform_comparison", "comparison_threshold", "comparison_method", "categorical_comparison_threshold")


def _overrides(constraint: dict[str, Any]) -> dict[str, Any]:
    """A feature's own monitoring settings: `monitoringConfigOverrides` (as the guide writes it), or
    `monitoring_config_overrides` inside its string constraints (as an SDK fixture does)."""
    found = constraint.get("monitoringConfigOverrides") or constraint.get("string_constraints", {}).get(
        "monitoring_config_overrides"
    )
    return found if isinstance(found, dict) else {}


def _unmet(value: float) -> str:
    return f"Value: {value} does not meet the constraint requirement! "


def drift(baseline: dict[str, Any], current: dict[str, Any], comparison: dict[str, Any]) -> tuple[float | None, float]:
    """The distance between the two distributions of a feature (statistics.json's entries), and the threshold it is
    held to (the constraints' `distribution_constraints`)."""
    old, new = baseline.get("numerical_statistics"), current.get("numerical_statistics")
    if old is not None and new is not None:
        old_kll, new_kll = old["distribution"]["kll"], new["distribution"]["kll"]
        if not old_kll or not new_kll:
            return None, 0.0
        method = comparison.get("comparison_method", "Robust")
        distance = numeric_distance(old_kll["sketch"]["data"], new_kll["sketch"]["data"], method)
        return distance, float(comparison.get("comparison_threshold", 0.1))
    old, new = baseline.get("string_statistics"), current.get("string_statistics")
    if old is not None and new is not None:
        tables = [{b["value"]: b["count"] for b in s["distribution"]["categorical"]["buckets"]} for s in (old, new)]
        threshold = comparison.get("categorical_comparison_threshold", comparison.get("comparison_threshold", 0.1))
        return categorical_distance(tables[0], tables[1]), float(threshold)
    return None, 0.0


def type_share(column: pa.ChunkedArray, expected: str) -> float:
    """The share of a column's values that are of the baseline's type (1.0 for a column with none)."""
    present = len(column) - column.null_count
    if not present or expected == STRING:
        return 1.0
    kind = column.type
    if pa.types.is_integer(kind):
        return 1.0
    if pa.types.is_floating(kind):
        return 1.0 if expected == FRACTIONAL else 0.0
    if expected not in (INTEGRAL, FRACTIONAL):
        return 1.0
    pattern = INTEGER if expected == INTEGRAL else NUMBER
    texts = pc.cast(column.drop_null(), pa.string()).to_pylist()
    return sum(1 for t in texts if pattern.match(t)) / present


def domain_share(column: pa.ChunkedArray, domains: list[str]) -> float:
    present = column.drop_null()
    if not len(present):
        return 1.0
    inside = pc.is_in(pc.cast(present, pa.string()), value_set=pa.array(domains, pa.string()))
    return pc.sum(inside).as_py() / len(present)
