"""The chapter's notebook (examples/chapter/chapter.py), written with the SageMaker Python SDK exactly as for AWS,
runs whole against a homeport it starts: fit, transform with its defaults, deploy, predict, async."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sagemaker")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)  # the whole notebook: fit, transform, deploy; over 120 s on a loaded two-worker run
def test_the_chapter_runs_end_to_end(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HOMEPORT_"))}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "chapter" / "run.py"), "--output", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = dict(line.split("=") for line in (tmp_path / "summary.txt").read_text().split())
    assert 1.5 < float(summary["batch_rmse"]) < 2.5  # the chapter's model: about two rings off
    assert float(summary["realtime_max_difference"]) == 0 and float(summary["async_max_difference"]) == 0
    assert (tmp_path / "actual_vs_predicted.png").stat().st_size > 10_000
    assert "[49]#011train-rmse:" in done.stdout  # fit followed the job's logs
    assert "Traceback" not in done.stderr
