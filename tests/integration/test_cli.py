"""The homeport CLI against a real server: tables for people, --json for scripts, errors on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from tests.conftest import KEYS, csv_rows, deploy


def homeport(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homeport", *args, "--endpoint-url", url],
        env={**os.environ, **KEYS},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_endpoints_describe_invoke(server: Any, sm: Any, xgb_model: dict[str, Any], tmp_path: Path) -> None:
    names = deploy(sm, xgb_model["url"])
    endpoint = names["endpoint"]

    table = homeport("endpoints", url=server.url)
    assert table.returncode == 0 and endpoint in table.stdout and "InService" in table.stdout
    listed = json.loads(homeport("endpoints", "--json", url=server.url).stdout)
    assert {"EndpointName": endpoint, "EndpointStatus": "InService"}.items() <= next(
        e for e in listed if e["EndpointName"] == endpoint
    ).items()

    described = homeport("describe", endpoint, url=server.url)
    assert described.returncode == 0 and names["config"] in described.stdout and "1/1" in described.stdout
    doc = json.loads(homeport("describe", endpoint, "--json", url=server.url).stdout)
    assert doc["EndpointConfigName"] == names["config"]

    rows = tmp_path / "rows.csv"
    rows.write_bytes(csv_rows(xgb_model["x"][:3]))
    out = homeport("invoke", endpoint, "--content-type", "text/csv", "--body", f"@{rows}", url=server.url)
    assert out.returncode == 0
    import xgboost

    want = xgb_model["booster"].predict(xgboost.DMatrix(xgb_model["x"][:3]))
    np.testing.assert_allclose([float(v) for v in out.stdout.split()], want, rtol=1e-6)
    as_json = json.loads(
        homeport(
            "invoke", endpoint, "--body", f"@{rows}", "--accept", "application/json", "--json", url=server.url
        ).stdout
    )
    assert as_json["InvokedProductionVariant"] == "v1"
    assert len(json.loads(as_json["Body"])["predictions"]) == 3


def test_cli_errors_are_one_line_on_stderr(server: Any) -> None:
    missing = homeport("describe", "no-such-endpoint", url=server.url)
    assert missing.returncode == 1
    assert 'Could not find endpoint "no-such-endpoint"' in missing.stderr
    bad = homeport("invoke", "no-such-endpoint", "--body", "1,2", url=server.url)
    assert bad.returncode == 1 and "not found" in bad.stderr
