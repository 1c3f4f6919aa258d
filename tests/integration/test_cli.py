"""The homeport CLI against a real server: tables for people, --json for scripts, errors on stderr."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from tests.conftest import KEYS, XGBOOST_IMAGE, csv_rows, deploy, unique


def homeport(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    """`homeport ARGS --endpoint-url URL` as a command line runs it (its exit status, stdout and stderr), but in
    this process: a new interpreter per command would spend a second importing boto3 and reading the service
    models, dozens of times per suite. `python -m homeport` itself runs as a process in tests/integration/test_auth.py
    and test_model_registry.py (`events --follow`)."""
    from homeport.cli.main import main

    argv = [*args, "--endpoint-url", url]
    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    os.environ.update(KEYS)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exit_:  # argparse's refusals, --help, SystemExit("message"): as Python ends
                code = exit_.code if isinstance(exit_.code, int) else 1
                if isinstance(exit_.code, str):
                    print(exit_.code, file=sys.stderr)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


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


def test_describe_and_invoke_a_serverless_endpoint(server: Any, sm: Any, xgb_model: dict[str, Any]) -> None:
    from tests.integration.test_serverless import deploy_serverless
    from tests.integration.test_transform_jobs import create_model

    endpoint = deploy_serverless(sm, create_model(sm, xgb_model["url"], image=XGBOOST_IMAGE), ProvisionedConcurrency=2)
    described = homeport("describe", endpoint, url=server.url)
    assert described.returncode == 0
    words = described.stdout.split()  # the table wraps its cells
    assert all(w in words for w in ("warm", "(serverless:", "2048", "provisioned)"))
    doc = json.loads(homeport("describe", endpoint, "--json", url=server.url).stdout)
    assert doc["ProductionVariants"][0]["DesiredServerlessConfig"]["ProvisionedConcurrency"] == 2
    out = homeport("invoke", endpoint, "--content-type", "text/csv", "--body", "1,2,3,4", url=server.url)
    assert out.returncode == 0 and float(out.stdout)


def test_cli_errors_are_one_line_on_stderr(server: Any) -> None:
    missing = homeport("describe", "no-such-endpoint", url=server.url)
    assert missing.returncode == 1
    assert 'Could not find endpoint "no-such-endpoint"' in missing.stderr
    bad = homeport("invoke", "no-such-endpoint", "--body", "1,2", url=server.url)
    assert bad.returncode == 1 and "not found" in bad.stderr


def test_jobs_list_watch_and_stop(server: Any, sm: Any, s3: Any, bucket: str, probe: str) -> None:
    from tests.integration.test_transform_jobs import create_model, id_rows, run_job, wait_done

    s3.put_object(Bucket=bucket, Key="in/w.csv", Body=id_rows(0, 30_000))
    model = create_model(sm, probe)
    name = run_job(sm, model, f"s3://{bucket}/in/", f"s3://{bucket}/out/", wait=False, MaxPayloadInMB=1)[
        "TransformJobName"
    ]
    watched = homeport("jobs", "watch", name, "--json", "--interval", "0.1", url=server.url)
    assert watched.returncode == 0, watched.stderr
    snapshots = [json.loads(line) for line in watched.stdout.splitlines()]
    final = snapshots[-1]
    assert final["TransformJobStatus"] == "Completed"
    assert final["RecordsDone"] == 30_000 and final["BytesDone"] == final["BytesTotal"] == 30_000 * 60
    assert (final["Files"], final["FilesDone"], final["FilesFailed"]) == (1, 1, 0)
    assert all(a["BytesDone"] <= b["BytesDone"] for a, b in itertools.pairwise(snapshots))

    bar = homeport("jobs", "watch", name, url=server.url)
    assert bar.returncode == 0 and f"{name}: Completed" in bar.stdout and "30,000 records" in bar.stdout
    table = homeport("jobs", url=server.url)
    assert table.returncode == 0 and name in table.stdout and "Completed" in table.stdout
    assert any(j["TransformJobName"] == name for j in json.loads(homeport("jobs", "--json", url=server.url).stdout))

    slow = create_model(sm, probe, env={"PROBE_MODE": "sleep", "PROBE_SLEEP": "0.5"})
    stopped = run_job(sm, slow, f"s3://{bucket}/in/", f"s3://{bucket}/out2/", wait=False, BatchStrategy="SingleRecord")[
        "TransformJobName"
    ]
    assert homeport("jobs", "stop", stopped, url=server.url).returncode == 0
    assert wait_done(sm, stopped)["TransformJobStatus"] == "Stopped"
    failed = homeport("jobs", "watch", stopped, url=server.url)
    assert failed.returncode == 1 and "Stopped" in failed.stdout
    missing = homeport("jobs", "watch", "no-such-job", url=server.url)
    assert missing.returncode == 1 and "ResourceNotFound" in missing.stderr
    for action in ("watch", "stop"):
        unnamed = homeport("jobs", action, url=server.url)
        assert unnamed.returncode == 1 and f"name the job to {action}" in unnamed.stderr


def test_invoke_async_queues_and_waits_for_the_result(
    server: Any, sm: Any, s3: Any, bucket: str, xgb_model: dict[str, Any]
) -> None:
    from tests.conftest import XGBOOST_IMAGE
    from tests.integration.test_async_inference import deploy_async

    endpoint = deploy_async(sm, xgb_model["url"], bucket, image=XGBOOST_IMAGE)
    x = xgb_model["x"][:4]
    s3.put_object(Bucket=bucket, Key="cli/rows.csv", Body=csv_rows(x))
    source = f"s3://{bucket}/cli/rows.csv"
    queued = json.loads(
        homeport(
            "invoke-async", endpoint, "--input", source, "--content-type", "text/csv", "--json", url=server.url
        ).stdout
    )
    assert queued["OutputLocation"].startswith(f"s3://{bucket}/results/") and queued["InferenceId"]
    waited = homeport(
        "invoke-async", endpoint, "--input", source, "--content-type", "text/csv", "--wait", url=server.url
    )
    assert waited.returncode == 0, waited.stderr
    np.testing.assert_allclose(
        [float(v) for v in waited.stdout.split()], xgb_model["booster"].inplace_predict(x), rtol=1e-6
    )
    s3.put_object(Bucket=bucket, Key="cli/wide.csv", Body=b"1,2,3,4,5,6,7\n")
    failed = homeport(
        "invoke-async",
        endpoint,
        "--input",
        f"s3://{bucket}/cli/wide.csv",
        "--content-type",
        "text/csv",
        "--wait",
        "--json",
        url=server.url,
    )
    assert failed.returncode == 1
    result = json.loads(failed.stdout)
    assert result["Result"] == "failure" and json.loads(result["Body"])["StatusCode"] == 400
    missing = homeport("invoke-async", endpoint, "--input", f"s3://{bucket}/cli/absent.csv", url=server.url)
    assert missing.returncode == 1 and "ValidationError" in missing.stderr
    queue = json.loads(homeport("queue", endpoint, "--json", url=server.url).stdout)["Queue"]
    assert queue["Completed"] >= 2 and queue["Failed"] == 1 and queue["ApproximateBacklogSize"] >= 0
    shown = homeport("queue", endpoint, url=server.url)
    assert shown.returncode == 0 and "ApproximateBacklogSizePerInstance" in shown.stdout
    realtime = deploy(sm, xgb_model["url"])["endpoint"]
    refused = homeport("queue", realtime, url=server.url)
    assert refused.returncode == 1 and "not an asynchronous endpoint" in refused.stderr
    unknown = homeport("queue", "no-such-endpoint", url=server.url)
    assert unknown.returncode == 1 and "no-such-endpoint" in unknown.stderr and unknown.stdout == ""


def test_invoke_a_multi_model_endpoint(server: Any, sm: Any, s3: Any, xgb_model: dict[str, Any]) -> None:
    bucket = unique("bucket")
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(xgb_model["path"]), bucket, "models/a.tar.gz")
    endpoint = deploy(sm, f"s3://{bucket}/models/", Mode="MultiModel")["endpoint"]
    body = csv_rows(xgb_model["x"][:2]).decode()
    out = homeport("invoke", endpoint, "--body", body, "--target-model", "a.tar.gz", url=server.url)
    assert out.returncode == 0, out.stderr
    np.testing.assert_allclose(
        [float(v) for v in out.stdout.split()], xgb_model["booster"].inplace_predict(xgb_model["x"][:2]), rtol=1e-6
    )
    missing = homeport("invoke", endpoint, "--body", body, url=server.url)
    assert missing.returncode != 0 and "missing a target model header" in missing.stderr
    sm.delete_endpoint(EndpointName=endpoint)
