"""Model quality, as Model Monitor's analyzer measures it (`analysis_type` MODEL_QUALITY): a model's predictions
against the true labels, as SageMaker's metrics per `problem_type`, suggested constraints on them, and the checks.

- Regression: `mae`, `mse`, `rmse`, `r2`.
- BinaryClassification: the confusion matrix, `recall`, `precision`, `accuracy`, the true and false positive and
  negative rates, `auc` with the ROC and precision-recall curves (given probabilities), `f0_5`, `f1`, `f2`, and
  the same of the best constant classifier (always the positive class; for accuracy, the majority class).
- MulticlassClassification: the confusion matrix, `accuracy`, `weighted_recall`, `weighted_precision`,
  `weighted_f0_5`, `weighted_f1`, `weighted_f2`, and the same of the best constant classifier (the majority class).

Each number is `{"value": v, "standard_deviation": s}`; with at least 200 rows, s is the spread of the metric over
five samples of 80 % of them (fewer rows: no standard deviation). Suggested constraints hold each metric to its
baseline value: error metrics and false rates must not rise above it, the others must not fall below it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

REGRESSION, BINARY, MULTICLASS = "Regression", "BinaryClassification", "MulticlassClassification"
SECTIONS = {REGRESSION: "regression", BINARY: "binary_classification", MULTICLASS: "multiclass_classification"}
HIGHER_IS_WORSE = {"mae", "mse", "rmse", "false_positive_rate", "false_negative_rate"}
SPREAD_MIN_ROWS, SPREAD_SAMPLES, SPREAD_SHARE = 200, 5, 0.8
CURVE_POINTS = 101  # thresholds on the ROC and precision-recall curves


class QualityError(ValueError):
    """The predictions and labels cannot be measured as asked; the message says why."""


def metrics(
    problem: str,
    truth: np.ndarray,
    predicted: np.ndarray | None,
    probability: np.ndarray | None = None,
    threshold: float = 0.5,
    seed: int = 0,
) -> dict[str, Any]:
    """The `<problem>_metrics` section of statistics.json."""
    if problem not in SECTIONS:
        raise QualityError(f"problem_type must be one of {', '.join(SECTIONS)}, not {problem!r}")
    if predicted is None:
        if probability is None or problem != BINARY:
            raise QualityError("give inference_attribute (the predicted label or value), or for BinaryClassification "
                               "probability_attribute")  # fmt: skip
        predicted = (probability >= threshold).astype(np.int64)
    if len(truth) == 0:
        raise QualityError("there are no rows with both a prediction and a label to measure")
    measure = {REGRESSION: _regression, BINARY: _binary, MULTICLASS: _multiclass}[problem]
    values, extra = measure(truth, predicted, probability)
    spread = _spread(measure, truth, predicted, probability, seed) if len(truth) >= SPREAD_MIN_ROWS else {}
    section: dict[str, Any] = dict(extra)
    for name, value in values.items():
        section[name] = {"value": value, **({"standard_deviation": spread[name]} if name in spread else {})}
    return section


def statistics(problem: str, section: dict[str, Any], rows: int) -> dict[str, Any]:
    return {"version": 0.0, "dataset": {"item_count": rows}, f"{SECTIONS[problem]}_metrics": section}


def constraints(problem: str, stats: dict[str, Any]) -> dict[str, Any]:
    """Each metric held to its baseline value."""
    section = stats[f"{SECTIONS[problem]}_metrics"]
    held = {
        name: {
            "threshold": entry["value"],
            "comparison_operator": "GreaterThanThreshold" if name in HIGHER_IS_WORSE else "LessThanThreshold",
        }
        for name, entry in section.items()
        if isinstance(entry, dict) and "value" in entry and not name.endswith("_best_constant_classifier")
    }
    return {"version": 0.0, f"{SECTIONS[problem]}_constraints": held}


def check(problem: str, held: dict[str, Any], stats: dict[str, Any]) -> list[dict[str, str]]:
    """The violations of the constraints by the current metrics."""
    section = stats[f"{SECTIONS[problem]}_metrics"]
    found = []
    for name, rule in held.get(f"{SECTIONS[problem]}_constraints", {}).items():
        entry = section.get(name)
        if not isinstance(entry, dict) or "value" not in entry:
            continue
        value, limit, operator = entry["value"], float(rule["threshold"]), rule["comparison_operator"]
        broken = {
            "GreaterThanThreshold": value > limit,
            "LessThanThreshold": value < limit,
            "GreaterThanOrEqualToThreshold": value >= limit,
            "LessThanOrEqualToThreshold": value <= limit,
        }.get(operator, False)
        if broken:
            spread = entry.get("standard_deviation")
            shown = f"{value}" if spread is None else f"{value} +/- {spread}"
            found.append(
                {
                    "constraint_check_type": operator,
                    "description": f"Metric {name} with {shown} was {operator} '{limit}'",
                    "metric_name": name,
                }
            )
    return found


Measure = Callable[[np.ndarray, np.ndarray, np.ndarray | None], tuple[dict[str, float], dict[str, Any]]]


def _spread(
    measure: Measure, truth: np.ndarray, predicted: np.ndarray, probability: np.ndarray | None, seed: int
) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    size = int(len(truth) * SPREAD_SHARE)
    samples: dict[str, list[float]] = {}
    for _ in range(SPREAD_SAMPLES):
        pick = rng.choice(len(truth), size=size, replace=False)
        values, _ = measure(truth[pick], predicted[pick], None if probability is None else probability[pick])
        for name, value in values.items():
            samples.setdefault(name, []).append(value)
    return {name: float(np.std(found)) for name, found in samples.items()}


def _regression(truth: np.ndarray, predicted: np.ndarray, _: np.ndarray | None) -> tuple[dict[str, float], dict]:
    y, p = truth.astype(np.float64), predicted.astype(np.float64)
    errors = p - y
    mse = float(np.mean(errors**2))
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(errors**2)) / total if total else 0.0
    return {"mae": float(np.mean(np.abs(errors))), "mse": mse, "rmse": mse**0.5, "r2": r2}, {}


def _binary(truth: np.ndarray, predicted: np.ndarray, probability: np.ndarray | None) -> tuple[dict[str, float], dict]:
    y, p = truth.astype(np.int64) == 1, predicted.astype(np.int64) == 1
    tp, fp = int(np.sum(y & p)), int(np.sum(~y & p))
    fn, tn = int(np.sum(y & ~p)), int(np.sum(~y & ~p))
    n, positives = len(y), tp + fn
    recall, precision = _ratio(tp, tp + fn), _ratio(tp, tp + fp)
    values = {
        "recall": recall,
        "precision": precision,
        "accuracy": _ratio(tp + tn, n),
        "recall_best_constant_classifier": 1.0 if positives else 0.0,
        "precision_best_constant_classifier": _ratio(positives, n),
        "accuracy_best_constant_classifier": _ratio(max(positives, n - positives), n),
        "true_positive_rate": recall,
        "true_negative_rate": _ratio(tn, tn + fp),
        "false_positive_rate": _ratio(fp, tn + fp),
        "false_negative_rate": _ratio(fn, tp + fn),
    }
    constant_precision = _ratio(positives, n)
    for beta, name in ((0.5, "f0_5"), (1.0, "f1"), (2.0, "f2")):
        values[name] = _f(precision, recall, beta)
        values[f"{name}_best_constant_classifier"] = _f(constant_precision, 1.0 if positives else 0.0, beta)
    extra: dict[str, Any] = {"confusion_matrix": {"0": {"0": tn, "1": fp}, "1": {"0": fn, "1": tp}}}
    if probability is not None:
        values["auc"] = _auc(y, probability.astype(np.float64))
        extra.update(_curves(y, probability.astype(np.float64)))
    return values, extra


def _multiclass(truth: np.ndarray, predicted: np.ndarray, _: np.ndarray | None) -> tuple[dict[str, float], dict]:
    y, p = truth.astype(str), predicted.astype(str)
    labels = sorted(set(y) | set(p))
    counts = {a: {b: int(np.sum((y == a) & (p == b))) for b in labels} for a in labels}
    support = {a: int(np.sum(y == a)) for a in labels}
    n = len(y)
    majority = max(labels, key=lambda a: (support[a], a))
    values = {"accuracy": float(np.mean(y == p)), "accuracy_best_constant_classifier": _ratio(support[majority], n)}
    for suffix, mine in (("", p), ("_best_constant_classifier", np.full(n, majority))):
        for name, value in _weighted(y, mine, labels, support).items():
            values[f"weighted_{name}{suffix}"] = value
    return values, {"confusion_matrix": counts}


def _weighted(y: np.ndarray, mine: np.ndarray, labels: list[str], support: dict[str, int]) -> dict[str, float]:
    """Recall, precision and F-scores per class, weighted by each class's share of the true labels."""
    out = dict.fromkeys(("recall", "precision", "f0_5", "f1", "f2"), 0.0)
    for a in labels:
        weight = support[a] / len(y)
        hits = int(np.sum((y == a) & (mine == a)))
        recall, precision = _ratio(hits, support[a]), _ratio(hits, int(np.sum(mine == a)))
        out["recall"] += weight * recall
        out["precision"] += weight * precision
        for beta, name in ((0.5, "f0_5"), (1.0, "f1"), (2.0, "f2")):
            out[name] += weight * _f(precision, recall, beta)
    return out


def _ratio(a: float, b: float) -> float:
    return float(a) / b if b else 0.0


def _f(precision: float, recall: float, beta: float) -> float:
    b2 = beta * beta
    denominator = b2 * precision + recall
    return (1 + b2) * precision * recall / denominator if denominator else 0.0


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """The area under the ROC curve: the chance a positive scores above a negative (ties count half)."""
    positives, negatives = int(np.sum(y)), int(np.sum(~y))
    if not positives or not negatives:
        return 0.0
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    for start, count in zip(first, counts, strict=True):
        ranks[order[start : start + count]] = start + (count + 1) / 2
    return float((np.sum(ranks[y]) - positives * (positives + 1) / 2) / (positives * negatives))


def _curves(y: np.ndarray, score: np.ndarray) -> dict[str, Any]:
    """The ROC and precision-recall curves at evenly spaced thresholds."""
    fprs, tprs, precisions, recalls = [], [], [], []
    positives, negatives = max(int(np.sum(y)), 1), max(int(np.sum(~y)), 1)
    for t in np.linspace(1.0, 0.0, CURVE_POINTS):
        chosen = score >= t
        tp, fp = int(np.sum(chosen & y)), int(np.sum(chosen & ~y))
        fprs.append(fp / negatives)
        tprs.append(tp / positives)
        recalls.append(tp / positives)
        precisions.append(tp / (tp + fp) if tp + fp else 1.0)
    return {
        "receiver_operating_characteristic_curve": {"false_positive_rates": fprs, "true_positive_rates": tprs},
        "precision_recall_curve": {"precisions": precisions, "recalls": recalls},
    }
