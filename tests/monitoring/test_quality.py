"""Model quality metrics against scikit-learn's, the suggested constraints and their checks, and the analyzer's
MODEL_QUALITY baseline and check as a processing job runs them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as sk

from homeport.monitoring import __main__ as analyzer
from homeport.monitoring import quality


def test_regression_metrics() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(10, 2, 500)
    p = y + rng.normal(0, 0.5, 500)
    section = quality.metrics(quality.REGRESSION, y, p)
    assert section["mae"]["value"] == pytest.approx(sk.mean_absolute_error(y, p))
    assert section["rmse"]["value"] == pytest.approx(sk.mean_squared_error(y, p) ** 0.5)
    assert section["r2"]["value"] == pytest.approx(sk.r2_score(y, p))
    assert 0 < section["mae"]["standard_deviation"] < 0.05  # five samples of 80 %: close to one another


def test_binary_metrics_from_probabilities() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    score = np.clip(y * 0.3 + rng.uniform(0, 0.7, 300), 0, 1)
    section = quality.metrics(quality.BINARY, y, None, score, threshold=0.5)
    p = (score >= 0.5).astype(int)
    assert section["precision"]["value"] == pytest.approx(sk.precision_score(y, p))
    assert section["recall"]["value"] == pytest.approx(sk.recall_score(y, p))
    assert section["f2"]["value"] == pytest.approx(sk.fbeta_score(y, p, beta=2))
    assert section["auc"]["value"] == pytest.approx(sk.roc_auc_score(y, score))
    tn, fp, fn, tp = sk.confusion_matrix(y, p).ravel()
    assert section["confusion_matrix"] == {"0": {"0": tn, "1": fp}, "1": {"0": fn, "1": tp}}
    assert section["accuracy_best_constant_classifier"]["value"] == max(np.mean(y), 1 - np.mean(y))
    roc = section["receiver_operating_characteristic_curve"]
    assert roc["false_positive_rates"][0] == 0.0 and roc["true_positive_rates"][-1] == 1.0


def test_multiclass_metrics() -> None:
    y = np.array(["a", "a", "b", "b", "c", "c", "c", "a"])
    p = np.array(["a", "b", "b", "b", "c", "a", "c", "a"])
    section = quality.metrics(quality.MULTICLASS, y, p)
    assert section["accuracy"]["value"] == pytest.approx(sk.accuracy_score(y, p))
    assert section["weighted_f1"]["value"] == pytest.approx(sk.f1_score(y, p, average="weighted"))
    assert section["weighted_precision"]["value"] == pytest.approx(sk.precision_score(y, p, average="weighted"))
    assert section["accuracy_best_constant_classifier"]["value"] == pytest.approx(3 / 8)
    assert section["confusion_matrix"]["a"] == {"a": 2, "b": 1, "c": 0}
    assert "standard_deviation" not in section["accuracy"]  # fewer than 200 rows


def test_constraints_hold_metrics_to_the_baseline_and_the_check_reports_what_got_worse() -> None:
    stats = quality.statistics(quality.REGRESSION, {"mae": {"value": 1.0}, "r2": {"value": 0.8}}, 10)
    held = quality.constraints(quality.REGRESSION, stats)
    assert held["regression_constraints"] == {
        "mae": {"threshold": 1.0, "comparison_operator": "GreaterThanThreshold"},
        "r2": {"threshold": 0.8, "comparison_operator": "LessThanThreshold"},
    }
    worse = quality.statistics(
        quality.REGRESSION, {"mae": {"value": 1.5, "standard_deviation": 0.1}, "r2": {"value": 0.9}}, 10
    )
    (found,) = quality.check(quality.REGRESSION, held, worse)
    assert found == {
        "constraint_check_type": "GreaterThanThreshold",
        "description": "Metric mae with 1.5 +/- 0.1 was GreaterThanThreshold '1.0'",
        "metric_name": "mae",
    }


def test_what_cannot_be_measured_is_refused() -> None:
    with pytest.raises(quality.QualityError, match="problem_type"):
        quality.metrics("Ranking", np.zeros(3), np.zeros(3))
    with pytest.raises(quality.QualityError, match="inference_attribute"):
        quality.metrics(quality.REGRESSION, np.zeros(3), None, np.zeros(3))
    with pytest.raises(quality.QualityError, match="no rows"):
        quality.metrics(quality.REGRESSION, np.zeros(0), np.zeros(0))


def test_the_analyzer_baselines_a_model_and_checks_a_worse_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(0, 1, 300)
    for name, noise in (("good", 0.1), ("bad", 1.0)):
        folder = tmp_path / name
        folder.mkdir()
        rows = "".join(f"{t:.5f},{t + e:.5f}\n" for t, e in zip(y, rng.normal(0, noise, 300), strict=True))
        (folder / "data.csv").write_text("label,prediction\n" + rows)
    env = {
        "analysis_type": "MODEL_QUALITY",
        "problem_type": "Regression",
        "ground_truth_attribute": "label",
        "inference_attribute": "prediction",
        "dataset_format": '{"csv": {"header": true}}',
    }
    base = tmp_path / "baseline"
    assert analyzer.main({**env, "dataset_source": str(tmp_path / "good"), "output_path": str(base)}) == 0
    stats = json.loads((base / "statistics.json").read_text())
    assert stats["dataset"]["item_count"] == 300 and stats["regression_metrics"]["rmse"]["value"] < 0.15
    assert "regression_constraints" in json.loads((base / "constraints.json").read_text())

    out = tmp_path / "check"
    run = {**env, "dataset_source": str(tmp_path / "bad"), "output_path": str(out)}
    assert analyzer.main({**run, "baseline_constraints": str(base / "constraints.json")}) == 0
    broken = {v["metric_name"] for v in json.loads((out / "constraint_violations.json").read_text())["violations"]}
    assert broken == {"mae", "mse", "rmse", "r2"}

    assert analyzer.main({**run, "ground_truth_attribute": "nope"}) == analyzer.FAILED


def reply(
    event: str, data: str, when: str = "2026-12-05T10:10:00Z", inference: str | None = None, b64: bool = False
) -> str:
    import base64

    encoded = base64.b64encode(data.encode()).decode() if b64 else data
    output = {
        "observedContentType": "text/csv",
        "mode": "OUTPUT",
        "data": encoded,
        "encoding": "BASE64" if b64 else "CSV",
    }
    metadata = {"eventId": event, "inferenceTime": when, **({"inferenceId": inference} if inference else {})}
    return (
        json.dumps({"captureData": {"endpointOutput": output}, "eventMetadata": metadata, "eventVersion": "0"}) + "\n"
    )


def label(event: str, data: str) -> str:
    return (
        json.dumps({"groundTruthData": {"data": data, "encoding": "CSV"}, "eventMetadata": {"eventId": event}}) + "\n"
    )


def test_replies_are_joined_to_their_labels_by_inference_id_or_event_id(tmp_path: Path) -> None:
    from homeport.monitoring.dataset import DatasetError, merged

    captures, labels = tmp_path / "captures.jsonl", tmp_path / "labels.jsonl"
    captures.write_text(
        reply("e1", "0.5")
        + reply("e2", "0.7\n", inference="i2")  # joined by its inferenceId
        + reply("e3", "0.9", b64=True)  # CSV captured as base64
        + reply("e4", "0.1\n0.2")  # two rows: no one label
        + reply("e5", "0.3", when="2026-12-05T12:00:00Z")  # outside the window
        + reply("e6", "0.4")  # no label
    )
    labels.write_text(
        label("e1", "1") + label("i2", "0") + label("e3", "0") + label("e3", "1") + label("e4", "1") + label("e5", "1")
    )
    table = merged([captures], [labels], ("2026-12-05T10:00:00Z", "2026-12-05T11:00:00Z"))
    pairs = sorted(zip(table.column("_c0").to_pylist(), table.column("groundTruth").to_pylist(), strict=True))
    assert pairs == [(0.5, "1"), (0.7, "0"), (0.9, "1")]  # of two labels for e3, the last (as text: any label)

    labels.write_text(label("nobody", "1"))
    with pytest.raises(DatasetError, match="no captured reply has a ground truth label"):
        merged([captures], [labels])
    labels.write_text("not json\n")
    with pytest.raises(DatasetError, match="not ground truth's JSON Lines"):
        merged([captures], [labels])


def test_stamped_transform_outputs_are_joined_to_their_labels_by_their_inference_id(tmp_path: Path) -> None:
    from homeport.monitoring.dataset import DatasetError, parse_format, read, stamped_merged

    outputs, labels = tmp_path / "out", tmp_path / "labels.jsonl"
    outputs.mkdir()
    (outputs / "a.csv.out").write_text("0.5,id-1,2026-12-05T10:00:00Z\n0.7,id-2,2026-12-05T10:00:00Z\n")
    (outputs / "b.csv.out").write_text("0.9,id-3,2026-12-05T10:00:00Z\n")
    labels.write_text(label("id-1", "1") + label("id-3", "0") + label("id-3", "1") + label("other", "0"))
    table = stamped_merged(read(outputs, parse_format('{"csv": {"header": false}}')), [labels])
    assert table.column_names == ["_c0", "groundTruth"]
    assert sorted(zip(table.column("_c0").to_pylist(), table.column("groundTruth").to_pylist(), strict=True)) == [
        (0.5, "1"),
        (0.9, "1"),
    ]

    (outputs / "a.csv.out").unlink()
    (outputs / "b.csv.out").write_text(
        '{"score": 0.25, "SageMakerInferenceId": "id-1", "SageMakerInferenceTime": "2026-12-05T10:00:00Z"}\n'
    )
    table = stamped_merged(read(outputs, parse_format('{"json": {"lines": true}}')), [labels])
    assert table.column_names == ["score", "groundTruth"] and table.column("score").to_pylist() == [0.25]

    (outputs / "b.csv.out").write_text("0.5\n0.7\n")  # not stamped
    with pytest.raises(DatasetError, match="GenerateInferenceId"):
        stamped_merged(read(outputs, parse_format('{"csv": {"header": false}}')), [labels])
