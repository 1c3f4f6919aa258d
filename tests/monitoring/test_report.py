"""What `homeport monitor` shows per feature, from an execution's files: summaries, both distributions over the
baseline's buckets, the drift and the failed checks."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from homeport.cli.monitor import bars
from homeport.monitoring.report import features
from homeport.monitoring.statistics import constraints, statistics


def test_a_shifted_numeric_feature_and_a_categorical_one() -> None:
    rng = np.random.default_rng(1)
    base = pa.table({"x": rng.normal(0, 1, 2000), "kind": ["a", "b"] * 1000})
    now = pa.table({"x": rng.normal(0.5, 1, 1000), "kind": ["a"] * 900 + ["c"] * 100})
    baseline, current = statistics(base), statistics(now)
    found = [{"feature_name": "x", "constraint_check_type": "baseline_drift_check", "description": "."}]
    x, kind = features(baseline, constraints(baseline), current, {"violations": found})

    assert x.name == "x" and x.kind == "Fractional" and x.baseline.startswith("mean ")
    assert x.violations == ["baseline_drift_check"] and x.completeness == 1.0
    assert x.drift is not None and 0.1 < x.drift < 0.3 and x.threshold == 0.1
    assert len(x.labels) == len(x.baseline_shares) == len(x.current_shares) == 10
    assert abs(sum(x.baseline_shares) - 1) < 1e-9
    assert 0.9 < sum(x.current_shares) <= 1.0  # a little of the shifted data lies beyond the baseline's maximum
    assert sum(x.current_shares[5:]) > sum(x.baseline_shares[5:])  # it moved right

    assert kind.kind == "String" and kind.baseline == "top a (50%)" and kind.current == "top a (90%)"
    assert kind.labels == ["a", "b"] and kind.current_shares == [0.9, 0.0]
    assert kind.drift is not None and abs(kind.drift - 0.5) < 1e-9 and kind.violations == []


def test_a_feature_missing_from_the_current_data() -> None:
    baseline = statistics(pa.table({"x": [1.0, 2.0, 3.0]}))
    current = statistics(pa.table({"y": [1.0]}))
    (x,) = features(baseline, {}, current, {"violations": []})
    assert x.current == "missing" and x.drift is None and x.current_shares == []


def test_two_distributions_share_one_scale() -> None:
    assert bars([0.5, 0.5], [1.0, 0.0]) == "▅▅ → █▁"
    assert bars([0.25, 0.75], []) == "▃█"


def test_model_metrics_beside_their_constraints() -> None:
    from homeport.monitoring.report import model_metrics

    current = {"regression_metrics": {"mae": {"value": 0.25, "standard_deviation": 0.01}, "r2": {"value": 0.9}}}
    held = {"regression_constraints": {"mae": {"threshold": 0.1, "comparison_operator": "GreaterThanThreshold"}}}
    mae, r2 = model_metrics(current, held, {"violations": [{"metric_name": "mae"}]})
    assert (mae.value, mae.standard_deviation, mae.threshold, mae.operator, mae.violated) == (
        0.25, 0.01, 0.1, "GreaterThanThreshold", True)  # fmt: skip
    assert (r2.threshold, r2.violated) == (None, False)
