"""`HOMEPORT_INSTANCE_MODE=inline` against a real server: endpoints and a transform job served from the server's
own process, with the same answers as instance processes give, and no instance process started."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost
from botocore.exceptions import WaiterError

from homeport.server.process import ServerProcess
from tests.conftest import KEYS, ROLE, XGBOOST_IMAGE, boto_client, csv_rows, deploy, unique, wait_in_service
from tests.integration.test_pipelines import deploy_model
from tests.integration.test_transform_jobs import read, run_job


@pytest.fixture(scope="module")
def inline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"HOMEPORT_LOG_LEVEL": "warning", "HOMEPORT_INSTANCE_MODE": "inline", **KEYS}
    with ServerProcess(tmp_path_factory.mktemp("inline-data"), env=env) as proc:
        yield proc


def test_an_endpoint_answers_from_the_servers_own_process(inline: ServerProcess, xgb_model: dict[str, Any]) -> None:
    sm, runtime = boto_client("sagemaker", inline.url), boto_client("sagemaker-runtime", inline.url)
    names = deploy(sm, xgb_model["url"], count=2)
    rows = xgb_model["x"][:20]
    reply = runtime.invoke_endpoint(EndpointName=names["endpoint"], ContentType="text/csv", Body=csv_rows(rows))
    got = np.array([float(v) for v in reply["Body"].read().decode().split()])
    want = xgb_model["booster"].predict(xgboost.DMatrix(rows))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert inline.instance_pids() == []  # no instance process: the server serves the model itself
    desc = sm.describe_endpoint(EndpointName=names["endpoint"])
    assert desc["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    # Updates and deletes work as with processes.
    sm.update_endpoint(EndpointName=names["endpoint"], EndpointConfigName=names["config"])
    wait_in_service(sm, names["endpoint"])
    runtime.invoke_endpoint(EndpointName=names["endpoint"], ContentType="text/csv", Body=csv_rows(rows[:1]))
    sm.delete_endpoint(EndpointName=names["endpoint"])


def test_a_model_that_cannot_load_fails_its_endpoint_and_the_server_lives_on(
    inline: ServerProcess, tmp_path: Path
) -> None:
    sm = boto_client("sagemaker", inline.url)
    bogus = tmp_path / "model"
    bogus.mkdir()
    (bogus / "xgboost-model").write_bytes(b"not a model")
    archive = tmp_path / "model.tar.gz"
    subprocess.run(["tar", "-czf", str(archive), "-C", str(bogus), "xgboost-model"], check=True)
    names = deploy(sm, archive.as_uri(), wait=False)
    with pytest.raises(WaiterError):
        sm.get_waiter("endpoint_in_service").wait(EndpointName=names["endpoint"], WaiterConfig={"Delay": 0.2})
    desc = sm.describe_endpoint(EndpointName=names["endpoint"])
    assert desc["EndpointStatus"] == "Failed" and "XGBoost" in desc["FailureReason"]
    assert sm.list_endpoints()["Endpoints"]  # still serving the API


def test_a_transform_job_runs_on_inline_instances(inline: ServerProcess, xgb_model: dict[str, Any]) -> None:
    sm, s3 = boto_client("sagemaker", inline.url), boto_client("s3", inline.url)
    bucket = unique("inline-batch")
    s3.create_bucket(Bucket=bucket)
    rows = xgb_model["x"][:200]
    s3.put_object(Bucket=bucket, Key="in/rows.csv", Body=csv_rows(rows))
    model = unique("model")
    sm.create_model(
        ModelName=model,
        PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": xgb_model["url"]},
        ExecutionRoleArn=ROLE,
    )
    job = run_job(sm, model, f"s3://{bucket}/in/", f"s3://{bucket}/out/")
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    got = np.array([float(v) for v in read(s3, bucket, "out/rows.csv.out").decode().split()])
    np.testing.assert_allclose(got, xgb_model["booster"].predict(xgboost.DMatrix(rows)), rtol=1e-5)


def test_an_unknown_instance_mode_stops_the_server_with_what_to_set(tmp_path: Path) -> None:
    env = {"HOMEPORT_INSTANCE_MODE": "threads", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "homeport", "serve", "--port", "0", "--data-dir", str(tmp_path / "data")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "HOMEPORT_INSTANCE_MODE must be process or inline" in done.stderr


def test_async_requests_small_and_streamed_reach_an_inline_instance(
    inline: ServerProcess, xgb_model: dict[str, Any]
) -> None:
    from tests.integration.test_async_inference import deploy_async, result

    sm, s3 = boto_client("sagemaker", inline.url), boto_client("s3", inline.url)
    runtime = boto_client("sagemaker-runtime", inline.url)
    bucket = unique("inline-async")
    s3.create_bucket(Bucket=bucket)
    endpoint = deploy_async(sm, xgb_model["url"], bucket, image=XGBOOST_IMAGE)
    for rows in (xgb_model["x"][:5], np.tile(xgb_model["x"], (400, 1))):  # the second, ~9 MB, streams
        body = csv_rows(rows)
        s3.put_object(Bucket=bucket, Key="in.csv", Body=body)
        reply = runtime.invoke_endpoint_async(
            EndpointName=endpoint, InputLocation=f"s3://{bucket}/in.csv", ContentType="text/csv"
        )
        kind, out = result(s3, reply)
        assert kind == "output"
        got = np.array([float(v) for v in out.decode().split()])
        np.testing.assert_allclose(got, xgb_model["booster"].predict(xgboost.DMatrix(rows)), rtol=1e-5)


def test_multi_model_and_multi_container_endpoints_served_inline(
    inline: ServerProcess, xgb_model: dict[str, Any], tmp_path: Path
) -> None:
    sm, runtime = boto_client("sagemaker", inline.url), boto_client("sagemaker-runtime", inline.url)
    prefix = tmp_path / "models"
    prefix.mkdir()
    (prefix / "a.tar.gz").write_bytes(Path(xgb_model["path"]).read_bytes())
    rows = xgb_model["x"][:5]
    want = xgb_model["booster"].inplace_predict(rows)
    mme = deploy(sm, prefix.as_uri() + "/", Mode="MultiModel")["endpoint"]
    for _ in range(2):  # loaded through the multi-model API called in-process, then from the cache
        reply = runtime.invoke_endpoint(
            EndpointName=mme, TargetModel="a.tar.gz", ContentType="text/csv", Body=csv_rows(rows)
        )
        np.testing.assert_allclose(np.array(reply["Body"].read().split(), dtype=np.float32), want, rtol=1e-6)
    container = {"Image": XGBOOST_IMAGE, "ModelDataUrl": xgb_model["url"]}
    two = [{**container, "ContainerHostname": "one"}, {**container, "ContainerHostname": "two"}]
    direct = deploy_model(sm, two, "Direct")["endpoint"]
    reply = runtime.invoke_endpoint(
        EndpointName=direct, TargetContainerHostname="two", ContentType="text/csv", Body=csv_rows(rows)
    )
    np.testing.assert_allclose(np.array(reply["Body"].read().split(), dtype=np.float32), want, rtol=1e-6)
    assert inline.instance_pids() == []
    for endpoint in (mme, direct):
        sm.delete_endpoint(EndpointName=endpoint)
