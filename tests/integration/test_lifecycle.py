"""Endpoint lifecycle with real instances: updates without a failed request, crashes, restarts, shutdown."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from homeport.server.process import ServerProcess
from tests.conftest import KEYS, ROLE, XGBOOST_IMAGE, boto_client, csv_rows, deploy, unique, wait_in_service


def runtime_children(server: ServerProcess) -> list[int]:
    return server.instance_pids()


def until(condition: Any, timeout: float = 60.0) -> None:
    """Poll a condition with a bounded loop; the work itself is what we wait for, not a fixed time."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


class Traffic:
    """Threads invoking an endpoint without pause while the block runs: how many answered, what failed, and
    which replies differed from `want` (when given)."""

    def __init__(self, runtime: Any, endpoint: str, body: bytes, want: bytes | None = None, threads: int = 4) -> None:
        self.runtime, self.endpoint, self.body, self.want = runtime, endpoint, body, want
        self.count = 0
        self.failures: list[Exception] = []
        self.wrong: list[bytes] = []
        self._stop = threading.Event()
        self._workers = [threading.Thread(target=self._hammer) for _ in range(threads)]

    def _hammer(self) -> None:
        while not self._stop.is_set():
            try:
                reply = self.runtime.invoke_endpoint(EndpointName=self.endpoint, ContentType="text/csv", Body=self.body)
                answer = reply["Body"].read()
                if self.want is not None and answer != self.want:
                    self.wrong.append(answer)
                self.count += 1
            except Exception as exc:
                self.failures.append(exc)

    def more_than(self, n: int) -> None:
        """Wait until `n` more requests than now have been answered."""
        before = self.count
        until(lambda: self.count > before + n)

    def __enter__(self) -> Traffic:
        for w in self._workers:
            w.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for w in self._workers:
            w.join()


def test_update_endpoint_switches_config_without_one_failed_request(
    sm: Any, runtime: Any, xgb_model: dict[str, Any]
) -> None:
    names = deploy(sm, xgb_model["url"])
    endpoint = names["endpoint"]
    body = csv_rows(xgb_model["x"][:1])
    with Traffic(runtime, endpoint, body) as traffic:
        new_config = unique("config")
        sm.create_endpoint_config(
            EndpointConfigName=new_config,
            ProductionVariants=[
                {
                    "VariantName": "v1",
                    "ModelName": names["model"],
                    "InitialInstanceCount": 2,
                    "InstanceType": "ml.m5.xlarge",
                }
            ],
        )
        sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=new_config)
        assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Updating"
        described = wait_in_service(sm, endpoint)
        traffic.more_than(20)  # traffic keeps flowing on the new fleet
    assert traffic.failures == []
    assert described["EndpointConfigName"] == new_config
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    sm.delete_endpoint(EndpointName=endpoint)


def test_update_weights_and_capacities_scales_out(sm: Any, xgb_model: dict[str, Any]) -> None:
    names = deploy(sm, xgb_model["url"])
    sm.update_endpoint_weights_and_capacities(
        EndpointName=names["endpoint"], DesiredWeightsAndCapacities=[{"VariantName": "v1", "DesiredInstanceCount": 2}]
    )
    described = wait_in_service(sm, names["endpoint"])
    variant = described["ProductionVariants"][0]
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (2, 2)
    sm.delete_endpoint(EndpointName=names["endpoint"])


def test_crash_restart_and_shutdown(tmp_path: Path, xgb_model: dict[str, Any]) -> None:
    """A killed instance is replaced; a restarted server brings endpoints back; stopping stops every instance."""
    data_dir = tmp_path / "data"
    with ServerProcess(data_dir, env={"HOMEPORT_LOG_LEVEL": "warning", **KEYS}) as server:
        sm = boto_client("sagemaker", server.url)
        rt = boto_client("sagemaker-runtime", server.url)
        s3 = boto_client("s3", server.url)
        s3.create_bucket(Bucket="kept-models")
        s3.upload_file(str(xgb_model["path"]), "kept-models", "model.tar.gz")
        names = deploy(sm, "s3://kept-models/model.tar.gz")
        endpoint = names["endpoint"]
        body = csv_rows(xgb_model["x"][:5])
        first = rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)["Body"].read()
        (pid,) = runtime_children(server)
        os.kill(pid, signal.SIGKILL)
        until(lambda: runtime_children(server) not in ([], [pid]))
        until(lambda: sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"][0]["CurrentInstanceCount"] == 1)
        assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
        assert rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)["Body"].read() == first
        children = runtime_children(server)
    # uvicorn ends by re-raising the SIGTERM it handled, after the graceful shutdown.
    assert server.proc is not None and server.proc.returncode in (0, -signal.SIGTERM)
    for child in children:  # every instance stopped with the server
        assert not Path(f"/proc/{child}").exists() or "zombie" in Path(f"/proc/{child}/status").read_text()
    leftover = data_dir / "objects" / "tmp" / "interrupted-upload"
    leftover.write_bytes(b"half an object")  # what a crash mid-upload leaves

    with ServerProcess(data_dir, env={"HOMEPORT_LOG_LEVEL": "warning", **KEYS}) as server:
        sm = boto_client("sagemaker", server.url)
        rt = boto_client("sagemaker-runtime", server.url)
        assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] in ("SystemUpdating", "InService")
        wait_in_service(sm, endpoint)
        assert rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)["Body"].read() == first
        assert sm.describe_model(ModelName=names["model"])["PrimaryContainer"]["Image"] == XGBOOST_IMAGE
        assert sm.describe_model(ModelName=names["model"])["ExecutionRoleArn"] == ROLE
        np.testing.assert_equal(len(runtime_children(server)), 1)
        s3 = boto_client("s3", server.url)
        assert s3.get_object(Bucket="kept-models", Key="model.tar.gz")["Body"].read() == xgb_model["path"].read_bytes()
        assert not leftover.exists()  # swept at start, never visible


def test_killing_one_of_two_instances_under_load_fails_no_request(tmp_path: Path, xgb_model: dict[str, Any]) -> None:
    """SIGKILL of an instance mid-traffic: requests it had not answered go to the other one; nothing fails
    for a client that never retries; the replacement comes up and serves."""
    import boto3
    from botocore.config import Config

    with ServerProcess(tmp_path / "data", env={"HOMEPORT_LOG_LEVEL": "warning", **KEYS}) as server:
        sm = boto_client("sagemaker", server.url)
        s3 = boto_client("s3", server.url)
        s3.create_bucket(Bucket="ha-models")
        s3.upload_file(str(xgb_model["path"]), "ha-models", "model.tar.gz")
        endpoint = deploy(sm, "s3://ha-models/model.tar.gz", count=2)["endpoint"]
        runtime = boto3.client(
            "sagemaker-runtime",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id=KEYS["HOMEPORT_ACCESS_KEY_ID"],
            aws_secret_access_key=KEYS["HOMEPORT_SECRET_ACCESS_KEY"],
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=8),
        )
        body = csv_rows(xgb_model["x"][:3])
        want = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)["Body"].read()
        with Traffic(runtime, endpoint, body, want) as traffic:
            traffic.more_than(50)
            victim, survivor = runtime_children(server)
            os.kill(victim, signal.SIGKILL)
            until(lambda: len(set(runtime_children(server)) - {victim, survivor}) == 1)  # the replacement
            until(
                lambda: (
                    sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"][0]["CurrentInstanceCount"] == 2
                )
            )
            traffic.more_than(50)
        assert traffic.failures == [] and traffic.wrong == []


def test_a_multi_model_endpoint_loads_its_models_again_after_a_crash_and_a_restart(
    tmp_path: Path, xgb_model: dict[str, Any]
) -> None:
    """The loaded models live in the instance: a replaced instance, or a restarted server, loads each again on its
    next request (from the files already on disk), and answers as before."""
    data_dir = tmp_path / "data"
    body = csv_rows(xgb_model["x"][:3])

    def invoke(server: ServerProcess, endpoint: str) -> bytes:
        rt = boto_client("sagemaker-runtime", server.url)
        reply = rt.invoke_endpoint(EndpointName=endpoint, TargetModel="a.tar.gz", ContentType="text/csv", Body=body)
        answer: bytes = reply["Body"].read()
        return answer

    with ServerProcess(data_dir, env={"HOMEPORT_LOG_LEVEL": "warning", **KEYS}) as server:
        sm, s3 = boto_client("sagemaker", server.url), boto_client("s3", server.url)
        s3.create_bucket(Bucket="mme-models")
        s3.upload_file(str(xgb_model["path"]), "mme-models", "prefix/a.tar.gz")
        endpoint = deploy(sm, "s3://mme-models/prefix/", Mode="MultiModel")["endpoint"]
        first = invoke(server, endpoint)
        (pid,) = runtime_children(server)
        os.kill(pid, signal.SIGKILL)
        until(lambda: runtime_children(server) not in ([], [pid]))
        wait_in_service(sm, endpoint)
        until(lambda: sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"][0]["CurrentInstanceCount"] == 1)
        assert invoke(server, endpoint) == first  # the replacement has no model loaded: loaded again
    with ServerProcess(data_dir, env={"HOMEPORT_LOG_LEVEL": "warning", **KEYS}) as server:
        wait_in_service(boto_client("sagemaker", server.url), endpoint)
        assert invoke(server, endpoint) == first
