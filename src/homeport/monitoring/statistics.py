"""A data set's statistics and suggested constraints, in SageMaker's `statistics.json` and `constraints.json` formats.

Per column:
- an inferred type (Integral, Fractional, String, or Unknown for a column with no values);
- its counts present and missing.

A numeric column adds its mean, sum, population standard deviation, min and max, and its distribution. The
distribution is a KLL sketch (Apache DataSketches, k=2048, mergeable) with SageMaker's 10 equal-width buckets
between min and max. Each bucket's count is a difference of the sketch's ranks, as Deequ counts them.

A string column adds its distinct count and its values' counts.

The sketch is written as SageMaker writes Deequ's: its items grouped by level, an item at level i standing for
2^i values. With up to k values they all sit at level 0, exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SKETCH_K = 2048
SKETCH_C = 2 / 3  # DataSketches' KLL compaction factor (SageMaker's Deequ sketch writes 0.64)
BUCKETS = 10  # "By default, the distribution is materialized in 10 buckets. You can't change this."
DOMAIN_MAX = 20  # a string column with at most this many distinct values gets them as its suggested domain
CATEGORIES_MAX = 1000  # values listed in a string column's distribution, most frequent first

INTEGRAL, FRACTIONAL, STRING, UNKNOWN = "Integral", "Fractional", "String", "Unknown"


def inferred_type(column: pa.ChunkedArray) -> str:
    kind = column.type
    if pa.types.is_integer(kind):
        return INTEGRAL
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return FRACTIONAL
    if pa.types.is_null(kind):
        return UNKNOWN
    return STRING


def statistics(table: pa.Table) -> dict[str, Any]:
    """`statistics.json` for the table."""
    features = [feature(name, table.column(name), table.num_rows) for name in table.column_names]
    return {"version": 0.0, "dataset": {"item_count": float(table.num_rows)}, "features": features}


def feature(name: str, column: pa.ChunkedArray, rows: int) -> dict[str, Any]:
    kind = inferred_type(column)
    present = rows - column.null_count
    common = {"num_present": float(present), "num_missing": float(column.null_count)}
    out: dict[str, Any] = {"name": name, "inferred_type": kind}
    if kind in (INTEGRAL, FRACTIONAL):
        out["numerical_statistics"] = {"common": common, **numerical(column)}
    elif kind == STRING:
        out["string_statistics"] = {"common": common, **strings(column)}
    return out


def numerical(column: pa.ChunkedArray) -> dict[str, Any]:
    values = column.drop_null().to_numpy(zero_copy_only=False).astype(np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {"mean": 0.0, "sum": 0.0, "std_dev": 0.0, "min": 0.0, "max": 0.0, "distribution": {"kll": None}}
    from datasketches import kll_doubles_sketch

    sketch = kll_doubles_sketch(SKETCH_K)
    sketch.update(values)  # the whole array at once, in C
    low, high = float(values.min()), float(values.max())
    return {
        "mean": float(values.mean()),
        "sum": float(values.sum()),
        "std_dev": float(values.std()),
        "min": low,
        "max": high,
        "distribution": {"kll": {"buckets": buckets(sketch, low, high), "sketch": sketch_json(sketch)}},
    }


def buckets(sketch: Any, low: float, high: float) -> list[dict[str, float]]:
    """10 equal-width buckets over [low, high], counted from the sketch's ranks (the last one closed)."""
    n = sketch.n
    width = (high - low) / BUCKETS
    edges = [low + i * width for i in range(BUCKETS)] + [high]
    out = []
    for i in range(BUCKETS):
        lower, upper = edges[i], edges[i + 1]
        last = i == BUCKETS - 1
        below_upper = sketch.get_rank(upper, inclusive=last)
        below_lower = sketch.get_rank(lower, inclusive=False)
        out.append({"lower_bound": lower, "upper_bound": upper, "count": round((below_upper - below_lower) * n, 6)})
    return out


def sketch_json(sketch: Any) -> dict[str, Any]:
    """The sketch as SageMaker writes it: its parameters, and its items grouped by level (weight 2^level)."""
    levels: dict[int, list[float]] = {}
    for item, weight in sketch:
        levels.setdefault(int(math.log2(weight)), []).append(float(item))
    data = [levels.get(level, []) for level in range(max(levels) + 1)] if levels else [[]]
    return {"parameters": {"c": SKETCH_C, "k": float(SKETCH_K)}, "data": data}


def strings(column: pa.ChunkedArray) -> dict[str, Any]:
    counted = pc.value_counts(pc.cast(column.drop_null(), pa.string()))
    pairs = sorted(
        zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True),
        key=lambda pair: (-pair[1], pair[0]),
    )
    top = pairs[:CATEGORIES_MAX]
    return {
        "distinct_count": float(len(pairs)),
        "distribution": {"categorical": {"buckets": [{"value": value, "count": float(n)} for value, n in top]}},
    }


def constraints(stats: dict[str, Any]) -> dict[str, Any]:
    """`constraints.json` suggested from the statistics: each feature's type and completeness, non-negativity where
    it held, and the values of a string column with few of them; the analyzer's default monitoring settings."""
    items = stats["dataset"]["item_count"] or 1.0
    features = []
    for f in stats["features"]:
        kind = f["inferred_type"]
        details = f.get("numerical_statistics") or f.get("string_statistics") or {"common": {"num_present": 0.0}}
        suggestion: dict[str, Any] = {
            "name": f["name"],
            "inferred_type": kind,
            "completeness": details["common"]["num_present"] / items,
        }
        if "numerical_statistics" in f:
            suggestion["num_constraints"] = {"is_non_negative": f["numerical_statistics"]["min"] >= 0}
        elif "string_statistics" in f and f["string_statistics"]["distinct_count"] <= DOMAIN_MAX:
            values = f["string_statistics"]["distribution"]["categorical"]["buckets"]
            suggestion["string_constraints"] = {"domains": sorted(b["value"] for b in values)}
        features.append(suggestion)
    return {
        "version": 0.0,
        "features": features,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": 1.0,
            "domain_content_threshold": 1.0,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": 0.1,
                "comparison_method": "Robust",
                "categorical_comparison_threshold": 0.1,
                "categorical_drift_method": "LInfinity",
            },
        },
    }
