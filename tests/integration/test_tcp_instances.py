"""Instances on TCP with a secret each (`homeport serve --instance-host`), driven with boto3 against a real server:
real-time, asynchronous (a payload that streams) and batch transform all reach their instances that way, and the
instances refuse whoever lacks the secret."""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from typing import Any

import pytest

from homeport.server.process import ServerProcess
from tests.conftest import KEYS, assert_scores, csv_rows, deploy
from tests.integration.test_async_inference import deploy_async, result
from tests.integration.test_transform_jobs import create_model, id_rows, read, run_job

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"HOMEPORT_LOG_LEVEL": "warning", "HOMEPORT_INSTANCE_HOST": "127.0.0.1", **KEYS}
    with ServerProcess(tmp_path_factory.mktemp("tcp-data"), env=env) as proc:
        yield proc


def listening(server: ServerProcess, endpoint: str) -> tuple[str, int]:
    """Where the endpoint's instance says it serves (its log's first line at INFO)."""
    logs = list((server.data_dir / "logs" / "endpoints" / endpoint).rglob("*.log"))
    found = re.search(r"runtime on (127\.0\.0\.1):(\d+)", "".join(p.read_text() for p in logs))
    assert found, "the instance does not serve on TCP"
    return found[1], int(found[2])


def test_a_real_time_endpoint_is_served_over_tcp_and_refuses_strangers(
    sm: Any, runtime: Any, server: ServerProcess, xgb_model: dict[str, Any]
) -> None:
    names = deploy(sm, xgb_model["url"], environment={"SAGEMAKER_CONTAINER_LOG_LEVEL": "20"})
    x = xgb_model["x"][:5]
    reply = runtime.invoke_endpoint(EndpointName=names["endpoint"], ContentType="text/csv", Body=csv_rows(x))
    assert_scores(reply["Body"].read(), xgb_model, x)
    assert not list((server.data_dir / "run").rglob("*.sock"))  # no Unix socket besides
    host, port = listening(server, names["endpoint"])
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("POST", "/invocations", csv_rows(x), {"Content-Type": "text/csv"})
        refused = conn.getresponse()
        assert refused.status == 403 and b"front doors only" in refused.read()
    finally:
        conn.close()


def test_an_async_payload_streams_to_an_instance_over_tcp(
    sm: Any, runtime: Any, s3: Any, bucket: str, probe: str
) -> None:
    from homeport.controllers.async_invocations import STREAM_ABOVE

    endpoint = deploy_async(sm, probe, bucket, env={"PROBE_MODE": "echo"})
    payload = id_rows(0, 150_000)  # ~9 MB: past the size that is streamed rather than read whole
    assert len(payload) > STREAM_ABOVE
    s3.put_object(Bucket=bucket, Key="large.csv", Body=payload)
    reply = runtime.invoke_endpoint_async(
        EndpointName=endpoint, InputLocation=f"s3://{bucket}/large.csv", ContentType="text/csv"
    )
    assert result(s3, reply) == ("output", payload)


def test_a_batch_transform_runs_on_instances_over_tcp(sm: Any, s3: Any, bucket: str, probe: str) -> None:
    s3.put_object(Bucket=bucket, Key="in/x.csv", Body=id_rows(0, 5000))
    job = run_job(sm, create_model(sm, probe), f"s3://{bucket}/in/", f"s3://{bucket}/out/", instances=2)
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    lines = read(s3, bucket, "out/x.csv.out").decode().splitlines()
    assert [int(line.split(",")[0]) for line in lines] == list(range(5000))
