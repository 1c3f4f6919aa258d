"""`python -m homeport.monitoring`: the Model Monitor analyzer's baseline job, as a processing job runs it.

The SDK's `DefaultModelMonitor.suggest_baseline` creates a processing job with the analyzer image and its settings in
the environment: `dataset_format`, `dataset_source` (a directory), `output_path`. homeport runs this module for that
image. It writes `statistics.json` and `constraints.json` to `output_path`.

Given `baseline_constraints` (and `baseline_statistics`), the paths of a baseline's files, it is a monitoring job
instead: it writes the current data's `statistics.json` and its `constraint_violations.json` against the baseline.
Data capture's records (`dataset_format` `{"sagemakerCaptureJson": …}`) are analyzed by their requests, whose
columns take the baseline's feature names. A scheduled execution (`sagemaker_endpoint_name` and
`sagemaker_monitoring_schedule_name` set) analyzes the records captured between `start_time` and `end_time`, and
writes SageMaker's per-feature metrics for CloudWatch (unless `publish_cloudwatch_metrics` is Disabled).

With `analysis_type` MODEL_QUALITY it measures a model instead: the data set's `inference_attribute` (or
`probability_attribute`) against its `ground_truth_attribute` (columns by name or index), as the `problem_type`'s
metrics in statistics.json, with suggested constraints, or checked against `baseline_constraints`. Over captured
data, the replies are measured against the labels in `ground_truth_source`, joined by inferenceId (or eventId); over
a transform job's outputs, by the inference id that its DataCaptureConfig GenerateInferenceId stamped them with.

If it cannot do any of these, it writes the reason to standard error (the job's FailureReason quotes it) and exits 255,
as the analyzer does.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from homeport.monitoring import METRICS_DIR, cloudwatch, quality
from homeport.monitoring.dataset import (
    GROUND_TRUTH,
    DatasetError,
    files,
    merged,
    parse_format,
    read,
    stamped_merged,
)
from homeport.monitoring.statistics import constraints, statistics
from homeport.monitoring.violations import check

FAILED = 255
METRICS_PATH = "/opt/ml/output/metrics/cloudwatch"  # where a monitoring container leaves its metrics


def main(environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    output = Path(env.get("output_path", "/opt/ml/processing/output"))
    try:
        analysis = env.get("analysis_type", "DATA_QUALITY")
        if analysis not in ("DATA_QUALITY", "MODEL_QUALITY"):
            raise DatasetError(f"homeport's analyzer runs DATA_QUALITY and MODEL_QUALITY analyses, not {analysis}")
        source = env.get("dataset_source")
        if not source:
            raise DatasetError("dataset_source is not set: the directory the baseline data set was downloaded to")
        window = (env["start_time"], env["end_time"]) if env.get("start_time") and env.get("end_time") else None
        dataset_format = parse_format(env.get("dataset_format"))
        if analysis == "MODEL_QUALITY" and "sagemakerCaptureJson" in dataset_format:
            labels = env.get("ground_truth_source")
            if not labels:
                raise DatasetError("ground_truth_source is not set: the directory the ground truth labels are in")
            table = merged(files(Path(source)), files(Path(labels)), window)
            defaults = {"ground_truth_attribute": GROUND_TRUTH}
            if not env.get("probability_attribute"):
                defaults["inference_attribute"] = "0"  # the reply's first column: the prediction
            env = {**defaults, **env}
            return model_quality(env, table, output)
        table = read(Path(source), dataset_format, window, env.get("features_attribute"))
        if analysis == "MODEL_QUALITY" and env.get("ground_truth_source"):  # a transform job's stamped outputs
            table = stamped_merged(table, files(Path(env["ground_truth_source"])))
            env = {"ground_truth_attribute": GROUND_TRUTH, "inference_attribute": "0", **env}
        if analysis == "MODEL_QUALITY":
            return model_quality(env, table, output)
        baseline = _load(env.get("baseline_constraints")), _load(env.get("baseline_statistics"))
        if baseline[0] is not None:
            table = named_like(table, baseline[0])
        stats = statistics(table)
        output.mkdir(parents=True, exist_ok=True)
        (output / "statistics.json").write_text(json.dumps(stats, indent=2))
        if baseline[0] is None:  # a baseline job: suggest the constraints
            (output / "constraints.json").write_text(json.dumps(constraints(stats), indent=2))
        else:  # a monitoring job: check the data against the baseline's
            outcome = check(baseline[0], baseline[1] or {"features": []}, table, stats)
            (output / "constraint_violations.json").write_text(json.dumps(outcome.document(), indent=2))
            if _publishing(env):
                folder = Path(env.get(METRICS_DIR, METRICS_PATH))
                cloudwatch.write(folder, cloudwatch.records(outcome.features, *_stamp(env)))
            print(f"homeport.monitoring: {len(outcome.violations)} violations")
    except (DatasetError, OSError) as exc:  # OSError: the output cannot be written
        print(f"homeport.monitoring: {exc}", file=sys.stderr)
        return FAILED
    print(f"homeport.monitoring: {table.num_rows} rows, {table.num_columns} features -> {output}")
    return 0


def model_quality(env: Mapping[str, str], table: pa.Table, output: Path) -> int:
    """A model quality baseline (statistics.json and constraints.json of the predictions against the labels in
    `table`), or with `baseline_constraints`, the check of them (constraint_violations.json)."""
    problem = env.get("problem_type", "")
    try:
        truth = _column(table, env.get("ground_truth_attribute"), "ground_truth_attribute")
        predicted = _column(table, env.get("inference_attribute"), "inference_attribute", required=False)
        probability = _column(table, env.get("probability_attribute"), "probability_attribute", required=False)
        kept = pc.is_valid(truth)
        for column in (predicted, probability):
            if column is not None:
                kept = pc.and_(kept, pc.is_valid(column))
        arrays = [None if c is None else _numpy(pc.filter(c, kept), problem) for c in (truth, predicted, probability)]
        threshold = float(env.get("probability_threshold_attribute") or 0.5)
        assert arrays[0] is not None
        section = quality.metrics(problem, arrays[0], arrays[1], arrays[2], threshold)
    except (quality.QualityError, ValueError, pa.ArrowInvalid) as exc:
        raise DatasetError(str(exc)) from None
    stats = quality.statistics(problem, section, len(arrays[0]))
    output.mkdir(parents=True, exist_ok=True)
    (output / "statistics.json").write_text(json.dumps(stats, indent=2))
    held = _load(env.get("baseline_constraints"))
    if held is None:
        (output / "constraints.json").write_text(json.dumps(quality.constraints(problem, stats), indent=2))
    else:
        found = quality.check(problem, held, stats)
        (output / "constraint_violations.json").write_text(json.dumps({"violations": found}, indent=2))
        if _publishing(env):
            values = {n: e["value"] for n, e in section.items() if isinstance(e, dict) and "value" in e}
            cloudwatch.write(Path(env.get(METRICS_DIR, METRICS_PATH)), cloudwatch.metric_records(values, *_stamp(env)))
        print(f"homeport.monitoring: {len(found)} violations")
    print(f"homeport.monitoring: model quality of {len(arrays[0])} rows ({problem}) -> {output}")
    return 0


def _column(table: pa.Table, attribute: str | None, what: str, required: bool = True) -> pa.ChunkedArray | None:
    """A column by its name, or by its index (CSV without a header)."""
    if not attribute:
        if required:
            raise ValueError(f"{what} is not set: the column that holds it")
        return None
    if attribute in table.column_names:
        return table.column(attribute)
    if attribute.isdigit() and int(attribute) < table.num_columns:
        return table.column(int(attribute))
    raise ValueError(f"{what} {attribute!r} names no column of the data set ({', '.join(table.column_names)})")


def _numpy(column: pa.ChunkedArray, problem: str) -> Any:
    """Labels of a multiclass problem as text; everything else as numbers."""
    if problem == quality.MULTICLASS:
        return np.asarray(pc.cast(column, pa.string()).to_pylist(), dtype=str)
    return column.to_numpy().astype(np.float64)


def _stamp(env: Mapping[str, str]) -> tuple[list[dict[str, str]], str]:
    """A scheduled execution's metrics' dimensions (an endpoint's, or a batch transform schedule's) and time (the end
    of its window)."""
    schedule = env["sagemaker_monitoring_schedule_name"]
    dimensions = [{"Name": "MonitoringSchedule", "Value": schedule}]
    if env.get("sagemaker_endpoint_name"):
        dimensions = [
            {"Name": "EndpointName", "Value": env["sagemaker_endpoint_name"]},
            {"Name": "ScheduleName", "Value": schedule},
        ]
    return dimensions, env.get("end_time") or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _publishing(env: Mapping[str, str]) -> bool:
    """Whether a scheduled execution publishes its metrics (as it does unless told not to)."""
    scheduled = env.get("sagemaker_monitoring_schedule_name")
    return bool(scheduled) and env.get("publish_cloudwatch_metrics", "Enabled") != "Disabled"


def _load(path: str | None) -> dict[str, Any] | None:
    """A baseline file the job was given (its path in the job's directory), or None."""
    if not path:
        return None
    try:
        loaded = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read the baseline file {path}: {exc}") from None
    if not isinstance(loaded, dict):
        raise DatasetError(f"the baseline file {path} is not a JSON object")
    return loaded


def named_like(table: pa.Table, baseline: dict[str, Any]) -> pa.Table:
    """Captured CSV has no header: its columns take the baseline's feature names, in order, when it has as many."""
    names = [f["name"] for f in baseline.get("features", [])]
    if table.column_names == [f"_c{i}" for i in range(table.num_columns)] and len(names) == table.num_columns:
        return table.rename_columns(names)
    return table


if __name__ == "__main__":
    sys.exit(main())
