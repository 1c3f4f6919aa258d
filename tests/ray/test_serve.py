"""`homeport serve --engine ray` on a real cluster of three zones, driven with boto3: an endpoint's instances spread
over the zones, a node lost under load costs no client a request and its instances come back on the zones left,
a batch transform's ranges run on instances on different nodes, and training and processing jobs run on nodes."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from homeport.server.process import ServerProcess
from tests.conftest import KEYS, assert_scores, boto_client, csv_rows, deploy, synthetic_regression
from tests.engines.conftest import until
from tests.integration import test_processing_jobs as processing
from tests.integration import test_training_jobs as training
from tests.integration.test_transform_jobs import create_model, id_rows, read, run_job
from tests.ray.conftest import ENV, Cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {
        **ENV,
        "HOMEPORT_LOG_LEVEL": "warning",
        "HOMEPORT_ENGINE": "ray",
        "HOMEPORT_RAY_ADDRESS": cluster.address,
        **KEYS,
    }
    with ServerProcess(tmp_path_factory.mktemp("ray-data"), env=env, startup_timeout_s=120) as proc:
        yield proc


def nodes_of(logs: Path) -> dict[str, str]:
    """Each instance's node address, from the line its model server logs when it listens (instance id → IP)."""
    found = {}
    for log in logs.rglob("*.log"):
        listening = re.findall(r"runtime on (127\.0\.0\.\d+):\d+", log.read_text())
        if listening:
            found[log.stem] = listening[-1]
    return found


def test_an_endpoints_instances_spread_over_the_zones_and_a_lost_node_costs_no_request(
    sm: Any, runtime: Any, server: ServerProcess, cluster: Cluster, xgb_model: dict[str, Any]
) -> None:
    names = deploy(sm, xgb_model["url"], count=3, environment={"SAGEMAKER_CONTAINER_LOG_LEVEL": "20"})
    logs = server.data_dir / "logs" / "endpoints" / names["endpoint"]
    until(lambda: len(nodes_of(logs)) == 3)  # each node's output reaches the front door's log within 0.5 s
    placed = nodes_of(logs)
    assert sorted(placed.values()) == sorted(cluster.nodes.values())  # one instance per zone

    x = xgb_model["x"][:4]
    errors: list[Exception] = []
    answered = [0]
    done = threading.Event()

    def load() -> None:
        client = boto_client("sagemaker-runtime", server.url)
        while not done.is_set():
            try:
                reply = client.invoke_endpoint(EndpointName=names["endpoint"], ContentType="text/csv", Body=csv_rows(x))
                assert_scores(reply["Body"].read(), xgb_model, x)
                answered[0] += 1
            except Exception as exc:  # every failure counts: none may reach a client
                errors.append(exc)

    workers = [threading.Thread(target=load) for _ in range(4)]
    for w in workers:
        w.start()
    try:
        until(lambda: answered[0] >= 20)
        lost_ip = cluster.nodes["c"]
        cluster.kill("c")
        # The lost instance is replaced, on a node of a zone that is left.
        until(lambda: len(nodes_of(logs)) == 4, timeout=90)
        before = answered[0]
        until(lambda: answered[0] >= before + 20)
    finally:
        done.set()
        for w in workers:
            w.join(30)
    assert errors == []
    now = nodes_of(logs)
    (replacement,) = set(now) - set(placed)
    assert now[replacement] != lost_ip and now[replacement] in cluster.nodes.values()
    assert sm.describe_endpoint(EndpointName=names["endpoint"])["EndpointStatus"] == "InService"
    sm.delete_endpoint(EndpointName=names["endpoint"])  # its instances' room, for the tests after
    cluster.add("c")


def test_a_batch_transforms_ranges_run_on_instances_on_different_nodes(
    sm: Any, s3: Any, bucket: str, server: ServerProcess, probe: str
) -> None:
    s3.put_object(Bucket=bucket, Key="big/data.csv", Body=id_rows(0, 60_000))  # 3.6 MB: four 1 MB ranges
    # Each range takes a second: the instance that is ready first cannot take them all.
    env = {"SAGEMAKER_CONTAINER_LOG_LEVEL": "20", "PROBE_MODE": "sleep", "PROBE_SLEEP": "1"}
    job = run_job(
        sm, create_model(sm, probe, env=env), f"s3://{bucket}/big/data.csv", f"s3://{bucket}/out/", instances=2,
        MaxPayloadInMB=1, MaxConcurrentTransforms=1,
    )  # fmt: skip
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    lines = read(s3, bucket, "out/data.csv.out").decode().splitlines()
    assert [int(line.split(",")[0]) for line in lines] == list(range(60_000))
    assert len({line.split(",")[1] for line in lines}) == 2  # both instances worked on the one file
    logs = server.data_dir / "logs" / "transform-jobs" / job["TransformJobName"]
    until(lambda: len(nodes_of(logs)) == 2)  # their output copied from the nodes
    placed = nodes_of(logs)
    assert len(set(placed.values())) == 2  # on two nodes


def test_training_and_processing_jobs_run_on_the_nodes_and_leave_their_output(
    sm: Any, s3: Any, bucket: str, server: ServerProcess, cluster: Cluster
) -> None:
    def node(kind: str, name: str) -> str:
        log = (server.data_dir / "logs" / kind / name / "algo-1.log").read_text()
        found = re.search(r"homeport: on node (127\.0\.0\.\d+) ", log)
        assert found, log
        return found.group(1)

    x, y = synthetic_regression(rows=200, features=4)
    s3.put_object(Bucket=bucket, Key="train/part-1.csv", Body=csv_rows(np.column_stack([y, x])))
    job = training.wait(sm, training.create(sm, bucket))
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert [m["MetricName"] for m in job["FinalMetricDataList"]] == ["train:rmse"]  # read from its output
    assert list(training.untar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])) == ["xgboost-model"]
    assert node("training-jobs", job["TrainingJobName"]) in cluster.nodes.values()

    done = processing.wait(sm, processing.create(sm, s3, bucket))
    assert done["ProcessingJobStatus"] == "Completed", done.get("FailureReason")
    assert s3.get_object(Bucket=bucket, Key="processed/train/nested/count.txt")["Body"].read() == b"3"
    assert node("processing-jobs", done["ProcessingJobName"]) in cluster.nodes.values()
