"""The worked example's multi-model endpoint: one XGBoost model per abalone sex, all behind one endpoint.

Each model is trained on the training rows of one sex and uploaded under one S3 prefix as `F.tar.gz`,
`I.tar.gz` and `M.tar.gz`. The endpoint's model is that prefix with `Mode: MultiModel`; each test row is sent
with `TargetModel` naming its sex's archive, and homeport loads that model on its first request. The same boto3
calls work against SageMaker.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from run import (
    BUCKET,
    IMAGE,
    INSTANCE_TYPE,
    LABEL,
    NUM_ROUND,
    PREFIX,
    ROLE_ARN,
    Splits,
    features_and_label,
    package_model,
    predict_local,
    to_csv_body,
    train,
)

SEXES = ("F", "I", "M")


def sex_of(frame: pd.DataFrame) -> pd.Series:
    """Each row's sex, from the one-hot columns `encode` made."""
    return frame[[f"Sex_{s}" for s in SEXES]].idxmax(axis=1).str[-1]


def by_sex(splits: Splits, sex: str) -> Splits:
    def rows(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[sex_of(frame) == sex].reset_index(drop=True)

    return Splits(rows(splits.train), rows(splits.validation), rows(splits.test))


def train_per_sex(splits: Splits, num_round: int = NUM_ROUND) -> dict[str, xgb.Booster]:
    return {sex: train(by_sex(splits, sex), num_round)[0] for sex in SEXES}


def upload_models(s3: Any, boosters: dict[str, xgb.Booster]) -> str:
    """Each booster as `<prefix>/<sex>.tar.gz`; the prefix's s3:// URI (the endpoint's ModelDataUrl)."""
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=BUCKET)
    prefix = f"{PREFIX}/by-sex/"
    with tempfile.TemporaryDirectory(prefix="abalone-by-sex-") as tmp:
        for sex, booster in boosters.items():
            tarball = package_model(booster, Path(tmp) / sex)
            s3.upload_file(str(tarball), BUCKET, f"{prefix}{sex}.tar.gz")
    return f"s3://{BUCKET}/{prefix}"


def deploy_multi_model(sm: Any, name: str, prefix: str) -> None:
    sm.create_model(
        ModelName=name,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": prefix, "Mode": "MultiModel"},
        ExecutionRoleArn=ROLE_ARN,
    )
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": INSTANCE_TYPE}
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    started = time.monotonic()
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    print(f"multi-model endpoint {name} ({prefix}) is InService after {time.monotonic() - started:.1f}s")


def invoke_by_sex(runtime: Any, endpoint: str, test: pd.DataFrame) -> np.ndarray:
    """Each test row's prediction, from the model of its sex (one request per sex)."""
    predicted = np.empty(len(test))
    sexes = sex_of(test)
    for sex in SEXES:
        rows = test[sexes == sex]
        started = time.monotonic()
        reply = runtime.invoke_endpoint(
            EndpointName=endpoint,
            TargetModel=f"{sex}.tar.gz",
            ContentType="text/csv",
            Body=to_csv_body(rows.drop(columns=[LABEL])),
        )
        values = np.array(reply["Body"].read().decode().split(), dtype=np.float64)
        predicted[rows.index.to_numpy()] = values
        print(f"TargetModel {sex}.tar.gz: {len(rows)} rows in {time.monotonic() - started:.2f}s (load included)")
    return predicted


def predict_by_sex(boosters: dict[str, xgb.Booster], test: pd.DataFrame) -> np.ndarray:
    predicted = np.empty(len(test))
    sexes = sex_of(test)
    for sex, booster in boosters.items():
        rows = test[sexes == sex]
        predicted[rows.index.to_numpy()] = predict_local(booster, rows)
    return predicted


def delete(sm: Any, name: str) -> None:
    with contextlib.suppress(Exception):
        sm.delete_endpoint(EndpointName=name)
        sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 120})
    for call, key in ((sm.delete_endpoint_config, "EndpointConfigName"), (sm.delete_model, "ModelName")):
        with contextlib.suppress(Exception):
            call(**{key: name})


def run_multi_model(sm: Any, runtime: Any, s3: Any, splits: Splits, name: str, keep: bool = False) -> float:
    """Train, upload, deploy and invoke; the largest per-row difference from the in-process models."""
    boosters = train_per_sex(splits)
    prefix = upload_models(s3, boosters)
    try:
        deploy_multi_model(sm, name, prefix)
        served = invoke_by_sex(runtime, name, splits.test)
    finally:
        if not keep:
            delete(sm, name)
    local = predict_by_sex(boosters, splits.test)
    actual = features_and_label(splits.test)[1]
    rmse = float(np.sqrt(np.mean((actual - served) ** 2)))
    print(f"test RMSE of the per-sex models from the multi-model endpoint: {rmse:.6f}")
    return float(np.abs(served - local).max())
