"""`python -m homeport.monitoring`: the Model Monitor analyzer's baseline job, as a processing job runs it.

The SDK's `DefaultModelMonitor.suggest_baseline` creates a processing job with the analyzer image and its settings in
the environment: `dataset_format`, `dataset_source` (a directory), `output_path`. homeport runs this module for that
image. It writes `statistics.json` and `constraints.json` to `output_path`. If it cannot, it writes the reason to
standard error (the job's FailureReason quotes it) and exits 255, as the analyzer does.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from homeport.monitoring.dataset import DatasetError, parse_format, read
from homeport.monitoring.statistics import constraints, statistics

FAILED = 255


def main(environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    output = Path(env.get("output_path", "/opt/ml/processing/output"))
    try:
        if env.get("analysis_type", "DATA_QUALITY") != "DATA_QUALITY":
            raise DatasetError(f"homeport's analyzer runs DATA_QUALITY baselines, not {env['analysis_type']}")
        source = env.get("dataset_source")
        if not source:
            raise DatasetError("dataset_source is not set: the directory the baseline data set was downloaded to")
        table = read(Path(source), parse_format(env.get("dataset_format")))
        stats = statistics(table)
        output.mkdir(parents=True, exist_ok=True)
        (output / "statistics.json").write_text(json.dumps(stats, indent=2))
        (output / "constraints.json").write_text(json.dumps(constraints(stats), indent=2))
    except DatasetError as exc:
        print(f"homeport.monitoring: {exc}", file=sys.stderr)
        return FAILED
    print(f"homeport.monitoring: {table.num_rows} rows, {table.num_columns} features -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
