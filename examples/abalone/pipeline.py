"""The worked example's serial inference pipeline: a scikit-learn preprocessor in front of the XGBoost model.

The preprocessor is what a SageMaker scikit-learn container serves: a `model.joblib` (a `OneHotEncoder` fitted on
the `Sex` column) and a `code/inference.py` that reads raw abalone rows (`M,0.455,0.365,...`, the sex as a
letter), one-hot encodes the sex and answers CSV in the column order the XGBoost model was trained on. The model
has two `Containers`; each reply becomes the next container's request. The raw test rows are sent to an endpoint
and through a batch transform job, and both must give what the booster gives in-process.
"""

from __future__ import annotations

import contextlib
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import xgboost as xgb
from multi_model import SEXES, delete, sex_of
from run import BUCKET, IMAGE, INSTANCE_TYPE, LABEL, PREFIX, ROLE_ARN, predict_local
from sklearn.preprocessing import OneHotEncoder

SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"

PREPROCESSOR = '''
"""One-hot encode the abalone sex: `F|I|M,<7 measurements>` rows in, `<7 measurements>,F,I,M` rows out."""
import numpy as np


def input_fn(data, content_type):
    if not content_type.startswith("text/csv"):
        raise ValueError(f"send text/csv rows, not {content_type}")
    rows = [line.split(",") for line in data.strip().splitlines()]
    return [[row[0]] for row in rows], np.array([row[1:] for row in rows], dtype=np.float64)


def predict_fn(data, encoder):
    sex, measurements = data
    return np.hstack([measurements, encoder.transform(sex)])


def output_fn(rows, accept):
    return "\\n".join(",".join(repr(float(v)) for v in row) for row in rows), "text/csv"
'''


def raw_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows as the data set has them (the sex as a letter, then the measurements), from an encoded frame."""
    measurements = frame.drop(columns=[LABEL, *(f"Sex_{s}" for s in SEXES)])
    return pd.concat([sex_of(frame).rename("Sex"), measurements], axis=1)


def package_preprocessor(output_dir: Path) -> Path:
    encoder = OneHotEncoder(categories=[list(SEXES)], sparse_output=False, handle_unknown="ignore")
    encoder.fit(np.array(SEXES).reshape(-1, 1))
    model_dir = output_dir / "preprocessor"
    (model_dir / "code").mkdir(parents=True, exist_ok=True)
    joblib.dump(encoder, model_dir / "model.joblib")
    (model_dir / "code" / "inference.py").write_text(PREPROCESSOR)
    tarball = output_dir / "preprocessor.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        for item in sorted(model_dir.iterdir()):
            tar.add(item, item.name)
    return tarball


def upload_preprocessor(s3: Any) -> str:
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=BUCKET)
    key = f"{PREFIX}/preprocessor/preprocessor.tar.gz"
    with tempfile.TemporaryDirectory(prefix="abalone-preprocessor-") as tmp:
        s3.upload_file(str(package_preprocessor(Path(tmp))), BUCKET, key)
    return f"s3://{BUCKET}/{key}"


def create_pipeline_model(sm: Any, name: str, preprocessor_url: str, model_url: str) -> None:
    sm.create_model(
        ModelName=name,
        Containers=[
            {
                "Image": SKLEARN_IMAGE,
                "ModelDataUrl": preprocessor_url,
                "Environment": {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"},  # what XGBoost reads
            },
            {"Image": IMAGE, "ModelDataUrl": model_url},
        ],
        InferenceExecutionConfig={"Mode": "Serial"},
        ExecutionRoleArn=ROLE_ARN,
    )


def invoke_pipeline(sm: Any, runtime: Any, name: str, raw: pd.DataFrame) -> np.ndarray:
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": INSTANCE_TYPE}
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    started = time.monotonic()
    reply = runtime.invoke_endpoint(
        EndpointName=name, ContentType="text/csv", Body=raw.to_csv(header=False, index=False)
    )
    print(f"pipeline endpoint {name}: {len(raw)} raw rows in {time.monotonic() - started:.2f}s")
    return np.array(reply["Body"].read().decode().split(), dtype=np.float64)


def transform_pipeline(sm: Any, s3: Any, name: str, raw: pd.DataFrame) -> np.ndarray:
    key = f"{PREFIX}/pipeline-input/test-raw.csv"
    s3.put_object(Bucket=BUCKET, Key=key, Body=raw.to_csv(header=False, index=False).encode())
    sm.create_transform_job(
        TransformJobName=name,
        ModelName=name,
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{key}"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={"S3OutputPath": f"s3://{BUCKET}/{PREFIX}/pipeline-output/", "AssembleWith": "Line"},
        TransformResources={"InstanceType": INSTANCE_TYPE, "InstanceCount": 1},
    )
    sm.get_waiter("transform_job_completed_or_stopped").wait(
        TransformJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 600}
    )
    job = sm.describe_transform_job(TransformJobName=name)
    if job["TransformJobStatus"] != "Completed":
        raise RuntimeError(f"transform job {name}: {job['TransformJobStatus']}: {job.get('FailureReason')}")
    body = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/pipeline-output/test-raw.csv.out")["Body"].read()
    print(f"pipeline transform job {name} Completed")
    return np.array(body.decode().split(), dtype=np.float64)


def run_pipeline(
    sm: Any, runtime: Any, s3: Any, booster: xgb.Booster, test: pd.DataFrame, model_url: str, name: str, keep: bool
) -> float:
    """Deploy the pipeline, send it the raw test rows (endpoint and batch transform); the largest difference
    from the booster's in-process predictions."""
    raw = raw_rows(test)
    create_pipeline_model(sm, name, upload_preprocessor(s3), model_url)
    try:
        served = invoke_pipeline(sm, runtime, name, raw)
        batch = transform_pipeline(sm, s3, name, raw)
    finally:
        if not keep:
            delete(sm, name)
    local = predict_local(booster, test)
    return float(max(np.abs(served - local).max(), np.abs(batch - local).max()))
