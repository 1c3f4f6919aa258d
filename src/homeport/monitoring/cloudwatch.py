"""The metrics a monitoring execution publishes, in the file format Model Monitor's containers use: JSON Lines of
PutMetricData's MetricDatum (`MetricName`, `Timestamp`, `Dimensions`, and `Value` or `StatisticValues`) under
`/opt/ml/output/metrics/cloudwatch`. The platform publishes them to CloudWatch after the job.

Per feature, as SageMaker names them: `feature_data_<name>` (the window's values: SampleCount, Sum, Minimum and
Maximum, so Average too), `feature_non_null_<name>` (completeness) and `feature_baseline_drift_<name>` (the
distance from the baseline's distribution). Model quality publishes each of its metrics under its own name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from homeport.monitoring.violations import FeatureValues

FILE = "data-quality-metrics.json"


def records(
    features: Mapping[str, FeatureValues], dimensions: list[dict[str, str]], timestamp: str
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def add(name: str, **value: Any) -> None:
        found.append(
            {"MetricName": name, "Timestamp": timestamp, "Dimensions": dimensions, "StorageResolution": 1, **value}
        )

    for name, values in features.items():
        if values.data:
            add(f"feature_data_{name}", StatisticValues=values.data)
        add(f"feature_non_null_{name}", Value=values.completeness)
        if values.drift is not None:
            add(f"feature_baseline_drift_{name}", Value=values.drift)
    return found


def metric_records(
    values: Mapping[str, float], dimensions: list[dict[str, str]], timestamp: str
) -> list[dict[str, Any]]:
    """Model quality's: each metric (`mae`, `auc`, …) under its own name."""
    return [
        {"MetricName": name, "Timestamp": timestamp, "Dimensions": dimensions, "StorageResolution": 1, "Value": value}
        for name, value in values.items()
    ]


def write(folder: Path, found: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FILE).write_text("".join(json.dumps(r) + "\n" for r in found))
