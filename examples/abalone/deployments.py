#!/usr/bin/env python3
"""Safe deployments of the abalone model: a canary that completes, and a bad model that an alarm rolls back.

    .venv/bin/python examples/abalone/deployments.py          # starts its own homeport serve; about a minute

1. Train the model of `run.py` and serve it from an endpoint of two instances.
2. Retrain it (more rounds) and deploy that with a blue/green CANARY update: one instance of the new fleet
   takes half the traffic for a bake, then all of it for a final bake, while a CloudWatch alarm watches the
   new fleet's latency (the `EndpointConfigName` dimension). It completes.
3. Deploy a bad model, one that answers correctly but takes 200 ms more for every request, the same way. The
   alarm goes into ALARM during the canary bake, and homeport puts all the traffic back on the old fleet.

A client thread invokes the endpoint throughout. The script exits 1 unless both deployments end as described
and no request failed. Nothing here is homeport's own API: the same boto3 calls work against SageMaker.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from run import (
    BUCKET,
    IMAGE,
    INSTANCE_TYPE,
    LABEL,
    NUM_ROUND,
    REGION,
    ROLE_ARN,
    Names,
    clients,
    package_model,
    prepare,
    server_url,
    to_csv_body,
    train,
)

# A model that answers as the good one does, slowly: the kind of regression a canary should catch.
SLOW_INFERENCE = """
import time

import xgboost as xgb


def predict_fn(data, model):
    time.sleep(0.2)
    return model.predict(data) if isinstance(data, xgb.DMatrix) else model.inplace_predict(data)
"""
LATENCY_LIMIT_US = 100_000  # the alarm: the new fleet's average ModelLatency over 100 ms


class SteadyClient:
    """Invokes the endpoint back to back from a thread, counting successes and failures."""

    def __init__(self, runtime: Any, endpoint: str, body: str) -> None:
        self.runtime, self.endpoint, self.body = runtime, endpoint, body
        self.ok, self.failed = 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.runtime.invoke_endpoint(EndpointName=self.endpoint, ContentType="text/csv", Body=self.body)
                self.ok += 1
            except ClientError as e:
                self.failed += 1
                print(f"  request failed: {e}", file=sys.stderr)

    def __enter__(self) -> SteadyClient:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)


def new_config(sm: Any, s3: Any, names: Names, tag: str, tarball: Path, environment: dict[str, str]) -> str:
    """Upload `tarball`, and make a model and a two-instance endpoint config of it, named with `tag`."""
    key = f"deployments/{tag}/model.tar.gz"
    s3.upload_file(str(tarball), BUCKET, key)
    model, config = f"{names.model}-{tag}", f"{names.endpoint_config}-{tag}"
    container = {"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/{key}", "Environment": environment}
    sm.create_model(ModelName=model, PrimaryContainer=container, ExecutionRoleArn=ROLE_ARN)
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": model,
        "InitialInstanceCount": 2,
        "InstanceType": INSTANCE_TYPE,
    }
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[variant])
    return config


def latency_alarm(cw: Any, names: Names, config: str) -> str:
    """An alarm on the new fleet alone: its requests are also counted under its endpoint config."""
    alarm = f"{config}-latency"
    cw.put_metric_alarm(
        AlarmName=alarm,
        Namespace="AWS/SageMaker",
        MetricName="ModelLatency",
        Dimensions=[
            {"Name": "EndpointConfigName", "Value": config},
            {"Name": "EndpointName", "Value": names.endpoint},
            {"Name": "VariantName", "Value": "AllTraffic"},
        ],
        Statistic="Average",
        Period=1,
        EvaluationPeriods=1,
        Threshold=LATENCY_LIMIT_US,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    return alarm


def canary(sm: Any, names: Names, config: str, alarm: str) -> dict[str, Any]:
    """UpdateEndpoint with a CANARY deployment watched by `alarm`; print each step; the final description."""
    sm.update_endpoint(
        EndpointName=names.endpoint,
        EndpointConfigName=config,
        DeploymentConfig={
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {
                    "Type": "CANARY",
                    "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
                    "WaitIntervalInSeconds": 5,
                },
                "TerminationWaitInSeconds": 3,
                "MaximumExecutionTimeoutInSeconds": 600,
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]},
        },
    )
    started, shown = time.monotonic(), None
    while True:
        desc = sm.describe_endpoint(EndpointName=names.endpoint)
        pending = desc.get("PendingDeploymentSummary", {}).get("ProductionVariants", [])
        step = pending[0]["VariantStatus"][0]["StatusMessage"] if pending else desc["EndpointStatus"]
        if step != shown:
            print(f"  {time.monotonic() - started:5.1f}s  {step}")
            shown = step
        if desc["EndpointStatus"] != "Updating":
            return dict(desc)
        time.sleep(0.2)


def slow_model(tarball: Path, output_dir: Path) -> Path:
    """The model of `tarball`, with user code that makes every prediction 200 ms slower."""
    slow = output_dir / "slow-model.tar.gz"
    with tempfile.TemporaryDirectory(prefix="abalone-slow-") as tmp:
        with tarfile.open(tarball) as tar:
            tar.extractall(tmp, filter="data")
        (Path(tmp) / "code").mkdir()
        (Path(tmp) / "code" / "inference.py").write_text(SLOW_INFERENCE)
        with tarfile.open(slow, "w:gz") as tar:
            for path in sorted(Path(tmp).rglob("*")):
                tar.add(path, arcname=str(path.relative_to(tmp)), recursive=False)
    return slow


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--endpoint-url", help="URL of a running `homeport serve` (default: start one for the run)")
    parser.add_argument("--output-dir", type=Path, default=Path(__file__).resolve().parent / "output")
    args = parser.parse_args(argv)
    os.environ.setdefault("HOMEPORT_METRIC_PERIOD_SECONDS", "1")  # a server started here: alarms act in seconds
    splits = prepare()
    first, _ = train(splits)
    second, validation_rmse = train(splits, num_round=NUM_ROUND * 2)
    print(f"trained the model twice ({NUM_ROUND} and {NUM_ROUND * 2} rounds; validation RMSE {validation_rmse:.4f})")
    body = to_csv_body(splits.test.drop(columns=[LABEL]).iloc[:1])
    names = Names.unique("homeport-deploy")
    with server_url(args.endpoint_url) as target:
        sm, runtime, s3 = clients(target)
        cw = boto3.client(
            "cloudwatch",
            endpoint_url=target.url,
            region_name=REGION,
            aws_access_key_id=target.access_key_id,
            aws_secret_access_key=target.secret_access_key,
        )
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=BUCKET)
        first_tarball = package_model(first, args.output_dir / "blue")
        blue = new_config(sm, s3, names, "blue", first_tarball, {})
        sm.create_endpoint(EndpointName=names.endpoint, EndpointConfigName=blue)
        sm.get_waiter("endpoint_in_service").wait(EndpointName=names.endpoint, WaiterConfig={"Delay": 1})
        print(f"endpoint {names.endpoint} serves the first model ({blue}) on 2 instances")
        retrained = new_config(sm, s3, names, "retrained", package_model(second, args.output_dir / "green"), {})
        slow_tarball = slow_model(first_tarball, args.output_dir)
        slow = new_config(sm, s3, names, "slow", slow_tarball, {"SAGEMAKER_PROGRAM": "inference.py"})
        with SteadyClient(runtime, names.endpoint, body) as client:
            print(f"canary deployment of the retrained model ({retrained}), watched by its fleet's latency:")
            done = canary(sm, names, retrained, latency_alarm(cw, names, retrained))
            completed = done["EndpointConfigName"] == retrained and "FailureReason" not in done
            print(f"  -> {done['EndpointStatus']} on {done['EndpointConfigName']}")
            print(f"canary deployment of a model 200 ms slower per request ({slow}):")
            undone = canary(sm, names, slow, latency_alarm(cw, names, slow))
            rolled_back = undone["EndpointConfigName"] == retrained and "rolled back" in undone.get("FailureReason", "")
            print(f"  -> {undone['EndpointStatus']} on {undone['EndpointConfigName']}: {undone.get('FailureReason')}")
        print(f"steady client: {client.ok} requests answered, {client.failed} failed")
        sm.delete_endpoint(EndpointName=names.endpoint)
    if completed and rolled_back and client.failed == 0:
        print("OK: the retrained model was deployed, the slow one rolled back, and no request failed")
        return 0
    print("FAIL: see above", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
