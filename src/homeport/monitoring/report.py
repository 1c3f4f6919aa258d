"""What `homeport monitor` shows of an execution: per feature, the baseline against the current data (their
summaries and distributions over the baseline's buckets), the drift distance with its threshold, and the checks
that failed. A pure function of the execution's four files."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from homeport.monitoring.drift import Cdf
from homeport.monitoring.violations import drift

Read = Callable[[str], dict[str, Any]]  # an S3 URI → the JSON document stored there


@dataclass
class FeatureReport:
    name: str
    kind: str  # the baseline's inferred_type
    baseline: str  # "mean 10.2 ± 1.9" or "top a (52%)"
    current: str
    completeness: float | None
    drift: float | None
    threshold: float
    violations: list[str] = field(default_factory=list)  # the constraint_check_types that failed
    labels: list[str] = field(default_factory=list)  # the buckets (numeric: the baseline's; string: its values)
    baseline_shares: list[float] = field(default_factory=list)
    current_shares: list[float] = field(default_factory=list)


def features(
    baseline: dict[str, Any], constraints: dict[str, Any], current: dict[str, Any], violations: dict[str, Any]
) -> list[FeatureReport]:
    comparison = constraints.get("monitoring_config", {}).get("distribution_constraints", {})
    now = {f["name"]: f for f in current.get("features", [])}
    failed: dict[str, list[str]] = {}
    for v in listed(violations):
        failed.setdefault(v.get("feature_name", ""), []).append(v.get("constraint_check_type", ""))
    items = (current.get("dataset") or {}).get("item_count") or 0.0
    reports = []
    for base in baseline.get("features", []):
        name = base["name"]
        mine = now.get(name, {})
        distance, threshold = drift(base, mine, comparison) if mine else (None, 0.0)
        details = mine.get("numerical_statistics") or mine.get("string_statistics") or {}
        present = details.get("common", {}).get("num_present")
        report = FeatureReport(
            name,
            base.get("inferred_type", ""),
            _summary(base),
            _summary(mine) if mine else "missing",
            present / items if present is not None and items else None,
            distance,
            threshold,
            failed.get(name, []),
        )
        _distributions(report, base, mine)
        reports.append(report)
    return reports


def _summary(feature: dict[str, Any]) -> str:
    numbers = feature.get("numerical_statistics")
    if numbers is not None:
        return f"mean {numbers['mean']:.4g} ± {numbers['std_dev']:.3g}"
    table = _categories(feature)
    if not table:
        return "no values"
    value, count = max(table.items(), key=lambda pair: pair[1])
    return f"top {value} ({count / sum(table.values()):.0%})"


def _categories(feature: dict[str, Any]) -> dict[str, float]:
    buckets = (feature.get("string_statistics") or {}).get("distribution", {}).get("categorical", {}).get("buckets")
    return {b["value"]: b["count"] for b in buckets or []}


def _distributions(report: FeatureReport, base: dict[str, Any], mine: dict[str, Any]) -> None:
    """Both distributions over the same buckets: the baseline's ten, which the current sketch is read over (what
    falls outside them is not drawn), or the baseline's string values."""
    kll = ((base.get("numerical_statistics") or {}).get("distribution") or {}).get("kll")
    if kll:
        buckets = kll["buckets"]
        total = sum(b["count"] for b in buckets) or 1.0
        report.labels = [f"{b['lower_bound']:.3g}" for b in buckets]
        report.baseline_shares = [b["count"] / total for b in buckets]
        sketch = (((mine.get("numerical_statistics") or {}).get("distribution") or {}).get("kll") or {}).get("sketch")
        if sketch:
            cdf = Cdf(sketch["data"])
            edges = [buckets[0]["lower_bound"]] + [b["upper_bound"] for b in buckets]
            ranks = [cdf.below(edges[0])] + [cdf(e) for e in edges[1:]]
            report.current_shares = [high - low for low, high in itertools.pairwise(ranks)]
        return
    base_table, current_table = _categories(base), _categories(mine)
    if base_table:
        report.labels = list(base_table)
        report.baseline_shares = [c / sum(base_table.values()) for c in base_table.values()]
        total = sum(current_table.values()) or 1.0
        report.current_shares = [current_table.get(v, 0.0) / total for v in base_table]


@dataclass
class MetricReport:
    """One model quality metric of an execution, against its constraint."""

    name: str
    value: float
    standard_deviation: float | None
    threshold: float | None
    operator: str  # the constraint's comparison_operator ("" without one)
    violated: bool


def model_metrics(
    current: dict[str, Any], constraints: dict[str, Any], violations: dict[str, Any]
) -> list[MetricReport]:
    section = next((v for k, v in current.items() if k.endswith("_metrics") and isinstance(v, dict)), {})
    held = next((v for k, v in constraints.items() if k.endswith("_constraints") and isinstance(v, dict)), {})
    broken = {v.get("metric_name") for v in listed(violations)}
    reports = []
    for name, entry in section.items():
        if not isinstance(entry, dict) or "value" not in entry:
            continue  # the confusion matrix and the curves
        rule = held.get(name, {})
        reports.append(
            MetricReport(
                name,
                float(entry["value"]),
                entry.get("standard_deviation"),
                rule.get("threshold"),
                rule.get("comparison_operator", ""),
                name in broken,
            )
        )
    return reports


def listed(violations: dict[str, Any]) -> list[dict[str, Any]]:
    """constraint_violations.json's entries (what a custom image wrote that is not one is left out)."""
    listed = violations.get("violations")
    return [v for v in listed if isinstance(v, dict)] if isinstance(listed, list) else []


def job_files(job: dict[str, Any]) -> tuple[dict[str, str], str]:
    """From an execution's DescribeProcessingJob: the S3 URIs of its inputs, by name, and of its report's folder."""
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in job.get("ProcessingInputs", []) if "S3Input" in i}
    return inputs, job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"].rstrip("/")


def execution_features(job: dict[str, Any], read: Read) -> list[FeatureReport]:
    """A data quality execution's report against its baseline, from the files its processing job read and wrote
    (none without a baseline's statistics)."""
    inputs, report = job_files(job)
    if "statistics" not in inputs:
        return []
    return features(
        read(inputs["statistics"]),
        read(inputs["constraints"]) if "constraints" in inputs else {},
        read(f"{report}/statistics.json"),
        read(f"{report}/constraint_violations.json"),
    )


def execution_metrics(job: dict[str, Any], read: Read) -> list[MetricReport]:
    """A model quality execution's metrics against its baseline's constraints."""
    inputs, report = job_files(job)
    return model_metrics(
        read(f"{report}/statistics.json"),
        read(inputs["constraints"]) if "constraints" in inputs else {},
        read(f"{report}/constraint_violations.json"),
    )
