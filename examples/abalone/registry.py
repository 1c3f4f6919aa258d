"""The abalone model through the model registry and `homeport apply`: register, approve, deploy, retrain, roll out.

1. Register the model trained in `run.py` as version 1 of a model package group, with its validation RMSE as a
   model-quality statistics report, and approve it.
2. Deploy it with `homeport apply -f stack.yaml`: the model (from the registered version), its endpoint config,
   the endpoint with its blue/green deployment, autoscaling and a 5XX alarm, declared in one file.
3. Retrain with twice the rounds and register that as version 2. The server deploys only approved versions
   (HOMEPORT_REQUIRE_APPROVED_MODELS), so applying the file with version 2 is refused until it is approved;
   then `homeport plan` shows the rollout and `homeport apply` makes it: a new model and endpoint config and an
   UpdateEndpoint with the file's blue/green deployment, after which the version-1 model and config are deleted.
4. The endpoint's answers are version 2's, row for row. Unless kept, an empty stack file deletes it all.

`run.py` calls `run_registry`; the CLI commands it runs are printed, to be copied into a CI pipeline
(`ci-workflow.yml` next to this file is one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from run import (
    BUCKET,
    IMAGE,
    INSTANCE_TYPE,
    LABEL,
    NUM_ROUND,
    Splits,
    Target,
    invoke_csv,
    package_model,
    predict_local,
    train,
)

HERE = Path(__file__).resolve().parent
STACK_FILE = HERE / "stack.yaml"


def register(sm: Any, s3: Any, group: str, tarball: Path, version: int, validation_rmse: float) -> str:
    """Upload a model and its quality report, register it as the group's next version; its ARN."""
    key = f"registry/{group}/v{version}"
    s3.upload_file(str(tarball), BUCKET, f"{key}/model.tar.gz")
    report = {"regression_metrics": {"rmse": {"value": validation_rmse, "standard_deviation": 0.0}}}
    s3.put_object(Bucket=BUCKET, Key=f"{key}/statistics.json", Body=json.dumps(report).encode())
    arn: str = sm.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription=f"XGBoost, validation RMSE {validation_rmse:.4f}",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/{key}/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
            "SupportedRealtimeInferenceInstanceTypes": [INSTANCE_TYPE],
        },
        ModelMetrics={
            "ModelQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/{key}/statistics.json"}
            }
        },
        ModelApprovalStatus="PendingManualApproval",
    )["ModelPackageArn"]
    print(f"registered version {version} of {group}: {arn}")
    return arn


def approve(sm: Any, arn: str, why: str) -> None:
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription=why)
    print(f"approved {arn}: {why}")


def homeport(target: Target, command: str, stack_file: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """`homeport plan|apply -f FILE --var NAME=VALUE …` against `target`, printed as a CI step would run it."""
    args = [command, "-f", str(stack_file), *[a for k, v in variables.items() for a in ("--var", f"{k}={v}")]]
    print(f"$ homeport {' '.join(args)}")
    env = {**os.environ, "HOMEPORT_ENDPOINT_URL": target.url}
    if target.access_key_id and target.secret_access_key:
        env |= {"HOMEPORT_ACCESS_KEY_ID": target.access_key_id, "HOMEPORT_SECRET_ACCESS_KEY": target.secret_access_key}
    done = subprocess.run(
        [sys.executable, "-m", "homeport", *args], env=env, capture_output=True, text=True, timeout=900, check=False
    )
    for line in (done.stdout + done.stderr).splitlines():
        print(f"  {line}")
    return done


def run_registry(
    target: Target,
    clients: tuple[Any, Any, Any],
    splits: Splits,
    tarball: Path,
    v1_rmse: float,
    name: str,
    keep: bool = False,
) -> float:
    """Steps 1-4 above for endpoint `name`, from `run.py`'s model (`tarball`, its validation RMSE `v1_rmse`);
    the largest per-row difference between the endpoint's answers after the rollout and version 2's in-process
    predictions (infinite if a step did not go as described)."""
    sm, runtime, s3 = clients
    group = f"{name}-models"
    sm.create_model_package_group(ModelPackageGroupName=group, ModelPackageGroupDescription="Abalone age (rings)")
    features = splits.test.drop(columns=[LABEL])
    try:
        v1 = register(sm, s3, group, tarball, 1, v1_rmse)
        approve(sm, v1, "first version")
        if homeport(target, "apply", STACK_FILE, ENDPOINT=name, MODEL_PACKAGE_ARN=v1).returncode != 0:
            return float("inf")

        booster_v2, v2_rmse = train(splits, num_round=2 * NUM_ROUND)
        print(f"retrained XGBoost ({2 * NUM_ROUND} rounds): validation RMSE {v2_rmse:.4f} (was {v1_rmse:.4f})")
        with tempfile.TemporaryDirectory(prefix="abalone-v2-") as tmp:
            v2 = register(sm, s3, group, package_model(booster_v2, Path(tmp)), 2, v2_rmse)
        refused = homeport(target, "apply", STACK_FILE, ENDPOINT=name, MODEL_PACKAGE_ARN=v2)
        if refused.returncode == 0 or "PendingManualApproval" not in refused.stderr:
            print("FAIL: the server deployed a version that was not approved", file=sys.stderr)
            return float("inf")
        approve(sm, v2, f"validation RMSE {v2_rmse:.4f} (version 1: {v1_rmse:.4f})")
        homeport(target, "plan", STACK_FILE, ENDPOINT=name, MODEL_PACKAGE_ARN=v2)
        if homeport(target, "apply", STACK_FILE, ENDPOINT=name, MODEL_PACKAGE_ARN=v2).returncode != 0:
            return float("inf")
        served = invoke_csv(runtime, name, features)
        described = sm.describe_endpoint(EndpointName=name)
        model = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
        serving = sm.describe_model(ModelName=model["ProductionVariants"][0]["ModelName"])
        print(f"endpoint {name} serves {serving['PrimaryContainer']['ModelPackageName']} from {serving['ModelName']}")
        if serving["PrimaryContainer"]["ModelPackageName"] != v2:
            return float("inf")
        return float(np.abs(served - predict_local(booster_v2, splits.test)).max())
    finally:
        if keep:
            print(f"kept endpoint {name} (stack {name}) and model package group {group}")
        else:
            with tempfile.TemporaryDirectory(prefix="abalone-stack-") as tmp:
                empty = Path(tmp) / "empty.yaml"
                empty.write_text(f"Stack: {name}\n")  # nothing declared: apply deletes what the stack made
                homeport(target, "apply", empty)
            for package in sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]:
                sm.delete_model_package(ModelPackageName=package["ModelPackageArn"])
            sm.delete_model_package_group(ModelPackageGroupName=group)
