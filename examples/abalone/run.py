#!/usr/bin/env python3
"""Worked example: train XGBoost on the UCI Abalone data, deploy it to homeport with boto3, invoke it, run a
batch transform over the test set, send the test rows through an asynchronous endpoint, serve one model per
abalone sex from a multi-model endpoint (`multi_model.py`), and send raw rows through an inference pipeline of a
scikit-learn preprocessor and the XGBoost model (`pipeline.py`).

The deployment half is plain SageMaker code: the same boto3 calls (create_model, create_endpoint_config,
create_endpoint, the waiters, invoke_endpoint, create_transform_job, invoke_endpoint_async, the deletes) that
you would make against AWS, pointed at homeport with `endpoint_url`. The model artefact is what SageMaker's
built-in XGBoost container expects: a `model.tar.gz` with a booster file named `xgboost-model` at its root,
trained on CSV rows whose first column is the label.

    python examples/abalone/run.py                      # starts a homeport server for the run
    python examples/abalone/run.py --endpoint-url http://127.0.0.1:8080   # uses one you started
    python examples/abalone/run.py --prepare-only       # data prep, training and the tarball only

The script's functions can be imported too (`prepare`, `train`, `package_model`, `deploy`, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

HERE = Path(__file__).resolve().parent
DATA_PATH = HERE / "data" / "abalone.data"
DEFAULT_OUTPUT_DIR = HERE / "output"

COLUMNS = [
    "Sex",
    "Length",
    "Diameter",
    "Height",
    "Whole_weight",
    "Shucked_weight",
    "Viscera_weight",
    "Shell_weight",
    "Rings",
]
LABEL = "Rings"
SEED = 42
SPLIT = (0.7, 0.2, 0.1)  # train, validation, test

# The hyperparameters of the chapter (the SageMaker built-in XGBoost abalone example).
HYPERPARAMETERS: dict[str, Any] = {
    "max_depth": 5,
    "eta": 0.2,
    "gamma": 4,
    "min_child_weight": 6,
    "subsample": 0.7,
    "objective": "reg:squarederror",
    "eval_metric": "rmse",
    "seed": SEED,
}
NUM_ROUND = 50

MODEL_FILE = "xgboost-model"  # the file name SageMaker's built-in XGBoost container loads
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE_ARN = "arn:aws:iam::000000000000:role/homeport-example"
REGION = "us-east-1"
BUCKET = "homeport-abalone"  # in homeport's object store, reached through its S3 face
PREFIX = "abalone-xgboost"
INSTANCE_TYPE = "ml.m5.large"
TOLERANCE = 1e-5  # how closely the server's test RMSE must match the in-process one


# --------------------------------------------------------------------------------------------------------
# Data preparation
# --------------------------------------------------------------------------------------------------------


@dataclass
class Splits:
    """Train/validation/test frames, label (`Rings`) first, then the features."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


def load(data_path: Path = DATA_PATH) -> pd.DataFrame:
    """The raw data set: 4,177 rows, the nine UCI columns."""
    return pd.read_csv(data_path, header=None, names=COLUMNS)


def encode(raw: pd.DataFrame) -> pd.DataFrame:
    """One-hot encode `Sex` (Sex_F, Sex_I, Sex_M) and move `Rings` to the first column."""
    encoded = pd.get_dummies(raw, columns=["Sex"], dtype=np.int64)
    features = [c for c in encoded.columns if c != LABEL]
    return encoded[[LABEL, *features]]


def split(frame: pd.DataFrame, seed: int = SEED) -> Splits:
    """Shuffle with a fixed seed and cut 70/20/10 into train, validation and test."""
    order = np.random.default_rng(seed).permutation(len(frame))
    shuffled = frame.iloc[order].reset_index(drop=True)
    n_train = int(SPLIT[0] * len(frame))
    n_validation = int(SPLIT[1] * len(frame))
    return Splits(
        train=shuffled.iloc[:n_train].reset_index(drop=True),
        validation=shuffled.iloc[n_train : n_train + n_validation].reset_index(drop=True),
        test=shuffled.iloc[n_train + n_validation :].reset_index(drop=True),
    )


def prepare(data_path: Path = DATA_PATH, seed: int = SEED) -> Splits:
    """Read, encode and split the data."""
    return split(encode(load(data_path)), seed)


def write_splits(splits: Splits, output_dir: Path) -> dict[str, Path]:
    """Write train.csv, validation.csv, test.csv (label first, no header: the built-in XGBoost format)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in ("train", "validation", "test"):
        path = output_dir / f"{name}.csv"
        getattr(splits, name).to_csv(path, header=False, index=False)
        paths[name] = path
    return paths


def features_and_label(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return frame.drop(columns=[LABEL]).to_numpy(dtype=np.float64), frame[LABEL].to_numpy(dtype=np.float64)


def to_csv_body(features: pd.DataFrame) -> str:
    """Rows of features (no label, no header) as one `text/csv` request body."""
    return str(features.to_csv(header=False, index=False))


# --------------------------------------------------------------------------------------------------------
# Training and packaging
# --------------------------------------------------------------------------------------------------------


def rmse(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(actual, np.float64) - np.asarray(predicted, np.float64)) ** 2)))


def train(splits: Splits, num_round: int = NUM_ROUND) -> tuple[xgb.Booster, float]:
    """Train on `train` with `validation` as the eval set; return the booster and the validation RMSE.

    The matrices are built from plain arrays (no feature names), as the built-in container builds them
    from CSV, so the saved booster predicts on any array with the same column order.
    """
    x_train, y_train = features_and_label(splits.train)
    x_val, y_val = features_and_label(splits.validation)
    dtrain = xgb.DMatrix(x_train, label=y_train)
    dval = xgb.DMatrix(x_val, label=y_val)
    booster = xgb.train(
        HYPERPARAMETERS,
        dtrain,
        num_boost_round=num_round,
        evals=[(dtrain, "train"), (dval, "validation")],
        verbose_eval=False,
    )
    return booster, rmse(y_val, booster.predict(dval))


def predict_local(booster: xgb.Booster, frame: pd.DataFrame) -> np.ndarray:
    """Predictions of the in-process booster for a label-first frame."""
    features, _ = features_and_label(frame)
    return np.asarray(booster.predict(xgb.DMatrix(features)), dtype=np.float64)


def package_model(booster: xgb.Booster, output_dir: Path) -> Path:
    """Save the booster as `xgboost-model` and pack `model.tar.gz` with just that file at its root.

    A name without an extension leaves xgboost guessing the format (it warns and picks UBJSON), so the
    model is saved as `model.ubj` and renamed; `Booster().load_model` reads it back (checked here).
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="abalone-model-") as tmp:
        ubj = Path(tmp) / "model.ubj"
        booster.save_model(str(ubj))
        model_file = ubj.rename(Path(tmp) / MODEL_FILE)
        check_round_trip(booster, model_file)
        tarball = output_dir / "model.tar.gz"
        with tarfile.open(tarball, "w:gz") as tar:
            tar.add(model_file, arcname=MODEL_FILE)
    return tarball


def load_booster(model_file: Path) -> xgb.Booster:
    """Load `xgboost-model` the way a server would, without xgboost's unknown-extension warning."""
    with open(model_file, "rb") as f:
        raw = bytearray(f.read())
    booster = xgb.Booster()
    booster.load_model(raw)
    return booster


def check_round_trip(booster: xgb.Booster, model_file: Path) -> None:
    """The saved file, loaded into a fresh Booster, must predict exactly what `booster` predicts."""
    probe = xgb.DMatrix(np.random.default_rng(0).random((16, booster.num_features())))
    if not np.array_equal(booster.predict(probe), load_booster(model_file).predict(probe)):
        raise RuntimeError(f"{model_file} does not load back into the same model")


def tarball_members(tarball: Path) -> list[str]:
    with tarfile.open(tarball, "r:gz") as tar:
        return tar.getnames()


# --------------------------------------------------------------------------------------------------------
# Deployment with boto3 (plain SageMaker API calls)
# --------------------------------------------------------------------------------------------------------


@dataclass
class Target:
    """A homeport server and the key pair its requests are signed with (None: boto3's own credential chain)."""

    url: str
    access_key_id: str | None = None
    secret_access_key: str | None = None


def client(target: Target, service: str) -> Any:
    """A boto3 client of `service`, pointed at homeport."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=target.url,
        region_name=REGION,
        aws_access_key_id=target.access_key_id,
        aws_secret_access_key=target.secret_access_key,
    )


def clients(target: Target) -> tuple[Any, Any, Any]:
    """The `sagemaker`, `sagemaker-runtime` and `s3` clients, pointed at homeport."""
    return client(target, "sagemaker"), client(target, "sagemaker-runtime"), client(target, "s3")


def upload(s3: Any, paths: dict[str, Path], tarball: Path) -> dict[str, str]:
    """The splits and the model archive into the bucket, as the chapter stages them in S3; their s3:// URIs."""
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=BUCKET)
    uris = {}
    for name, path in [*paths.items(), ("model", tarball)]:
        key = f"{PREFIX}/{'model' if name == 'model' else name}/{path.name}"
        s3.upload_file(str(path), BUCKET, key)
        uris[name] = f"s3://{BUCKET}/{key}"
        print(f"uploaded {path.name} to {uris[name]}")
    return uris


def read_csv_s3(s3: Any, uri: str) -> pd.DataFrame:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return pd.read_csv(s3.get_object(Bucket=bucket, Key=key)["Body"], header=None)


@dataclass
class Names:
    model: str
    endpoint_config: str
    endpoint: str
    transform_job: str
    async_config: str
    async_endpoint: str

    @classmethod
    def unique(cls, prefix: str = "homeport-abalone") -> Names:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return cls(
            model=f"{prefix}-model-{stamp}",
            endpoint_config=f"{prefix}-config-{stamp}",
            endpoint=f"{prefix}-{stamp}",
            transform_job=f"{prefix}-batch-{stamp}",
            async_config=f"{prefix}-async-config-{stamp}",
            async_endpoint=f"{prefix}-async-{stamp}",
        )


def deploy(sm: Any, names: Names, model_data_url: str) -> None:
    """create_model, create_endpoint_config, create_endpoint, then wait for InService."""
    sm.create_model(
        ModelName=names.model,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": model_data_url},
        ExecutionRoleArn=ROLE_ARN,
    )
    print(f"created model {names.model}")
    sm.create_endpoint_config(
        EndpointConfigName=names.endpoint_config,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": names.model,
                "InitialInstanceCount": 1,
                "InstanceType": INSTANCE_TYPE,
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    print(f"created endpoint config {names.endpoint_config}")
    sm.create_endpoint(EndpointName=names.endpoint, EndpointConfigName=names.endpoint_config)
    print(f"creating endpoint {names.endpoint} ...")
    started = time.monotonic()
    try:
        sm.get_waiter("endpoint_in_service").wait(
            EndpointName=names.endpoint, WaiterConfig={"Delay": 1, "MaxAttempts": 300}
        )
    except Exception:
        with contextlib.suppress(Exception):
            described = sm.describe_endpoint(EndpointName=names.endpoint)
            print(f"endpoint {described['EndpointStatus']}: {described.get('FailureReason', '')}", file=sys.stderr)
        raise
    print(f"endpoint {names.endpoint} is InService after {time.monotonic() - started:.1f}s")


def parse_csv_predictions(body: str) -> np.ndarray:
    """Predictions from a `text/csv` reply: one per line (a comma-separated line is accepted too)."""
    values = [v for line in body.strip().splitlines() for v in line.split(",") if v.strip()]
    return np.array([float(v) for v in values], dtype=np.float64)


def invoke_csv(runtime: Any, endpoint: str, features: pd.DataFrame) -> np.ndarray:
    """All rows in one `text/csv` request, predictions back as `text/csv`."""
    reply = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body=to_csv_body(features)
    )
    return parse_csv_predictions(reply["Body"].read().decode("utf-8"))


def invoke_json(runtime: Any, endpoint: str, features: pd.DataFrame) -> Any:
    """Rows as `text/csv`, the reply as `application/json` (the built-in container's JSON format)."""
    reply = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Accept="application/json", Body=to_csv_body(features)
    )
    return json.loads(reply["Body"].read())


def batch_transform(sm: Any, s3: Any, names: Names, test_uri: str) -> np.ndarray:
    """A batch transform over the test split as stored (label first): the label column is filtered out before
    the model sees a row and joined back after, so each output line is `actual,predicted` (SageMaker's
    DataProcessing: InputFilter, JoinSource, OutputFilter). Returns those pairs, in input order."""
    output = f"s3://{BUCKET}/{PREFIX}/batch-output/{names.transform_job}"
    sm.create_transform_job(
        TransformJobName=names.transform_job,
        ModelName=names.model,
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": test_uri}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={"S3OutputPath": output, "Accept": "text/csv", "AssembleWith": "Line"},
        TransformResources={"InstanceType": INSTANCE_TYPE, "InstanceCount": 1},
        DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"},
    )
    print(f"started transform job {names.transform_job} ...")
    started = time.monotonic()
    with contextlib.suppress(Exception):  # the waiter raises on Failed; the status below says why
        sm.get_waiter("transform_job_completed_or_stopped").wait(
            TransformJobName=names.transform_job, WaiterConfig={"Delay": 1, "MaxAttempts": 600}
        )
    job = sm.describe_transform_job(TransformJobName=names.transform_job)
    if job["TransformJobStatus"] != "Completed":
        raise RuntimeError(f"transform job {job['TransformJobStatus']}: {job.get('FailureReason', '')}")
    print(f"transform job {names.transform_job} Completed after {time.monotonic() - started:.1f}s")
    out_uri = f"{output}/{test_uri.rsplit('/', 1)[1]}.out"
    pairs = read_csv_s3(s3, out_uri).to_numpy(dtype=np.float64)
    print(f"read {len(pairs)} actual,predicted rows from {out_uri}")
    return pairs


def invoke_async(sm: Any, runtime: Any, s3: Any, names: Names, features: pd.DataFrame) -> np.ndarray:
    """The test rows through an asynchronous endpoint: stage them in S3, InvokeEndpointAsync, then read the
    result from the output location once it lands (the chapter's asynchronous inference)."""
    sm.create_endpoint_config(
        EndpointConfigName=names.async_config,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": names.model,
                "InitialInstanceCount": 1,
                "InstanceType": INSTANCE_TYPE,
            }
        ],
        AsyncInferenceConfig={
            "OutputConfig": {
                "S3OutputPath": f"s3://{BUCKET}/{PREFIX}/async-output/",
                "S3FailurePath": f"s3://{BUCKET}/{PREFIX}/async-failures/",
            }
        },
    )
    sm.create_endpoint(EndpointName=names.async_endpoint, EndpointConfigName=names.async_config)
    sm.get_waiter("endpoint_in_service").wait(
        EndpointName=names.async_endpoint, WaiterConfig={"Delay": 1, "MaxAttempts": 300}
    )
    key = f"{PREFIX}/async-input/test-features.csv"
    s3.put_object(Bucket=BUCKET, Key=key, Body=to_csv_body(features).encode())
    reply = runtime.invoke_endpoint_async(
        EndpointName=names.async_endpoint, InputLocation=f"s3://{BUCKET}/{key}", ContentType="text/csv"
    )
    print(
        f"queued {len(features)} rows on {names.async_endpoint}: InferenceId {reply['InferenceId']},"
        f" result at {reply['OutputLocation']}"
    )
    for _ in range(600):
        for location, failed in ((reply["OutputLocation"], False), (reply["FailureLocation"], True)):
            bucket, _, result_key = location[len("s3://") :].partition("/")
            try:
                body = s3.get_object(Bucket=bucket, Key=result_key)["Body"].read().decode("utf-8")
            except s3.exceptions.NoSuchKey:
                continue
            if failed:
                raise RuntimeError(f"the asynchronous request failed: {body}")
            return parse_csv_predictions(body)
        time.sleep(0.1)
    raise RuntimeError("no asynchronous result after 60 s")


def clean_up(sm: Any, names: Names) -> None:
    """Delete the endpoints (and wait until they are gone), the endpoint configs and the model."""
    steps = [
        ("endpoint", lambda: sm.delete_endpoint(EndpointName=names.endpoint)),
        ("async endpoint", lambda: sm.delete_endpoint(EndpointName=names.async_endpoint)),
        (
            "endpoint wait",
            lambda: sm.get_waiter("endpoint_deleted").wait(
                EndpointName=names.endpoint, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
            ),
        ),
        (
            "async endpoint wait",
            lambda: sm.get_waiter("endpoint_deleted").wait(
                EndpointName=names.async_endpoint, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
            ),
        ),
        ("endpoint config", lambda: sm.delete_endpoint_config(EndpointConfigName=names.endpoint_config)),
        ("async endpoint config", lambda: sm.delete_endpoint_config(EndpointConfigName=names.async_config)),
        ("model", lambda: sm.delete_model(ModelName=names.model)),
    ]
    for what, step in steps:
        try:
            step()
        except Exception as e:  # keep going: delete what can be deleted
            print(f"cleanup: {what}: {e}", file=sys.stderr)
    print(f"deleted endpoints {names.endpoint} and {names.async_endpoint}, their configs, and model {names.model}")


@contextlib.contextmanager
def server_url(endpoint_url: str | None) -> Iterator[Target]:
    """`endpoint_url` if given (signed with HOMEPORT_ACCESS_KEY_ID/HOMEPORT_SECRET_ACCESS_KEY when set, else
    boto3's usual AWS_* credentials); otherwise a `homeport serve` started for the run on a temporary data dir."""
    if endpoint_url:
        yield Target(
            endpoint_url, os.environ.get("HOMEPORT_ACCESS_KEY_ID"), os.environ.get("HOMEPORT_SECRET_ACCESS_KEY")
        )
        return
    try:
        from homeport.server.process import ServerProcess
    except ImportError as e:
        raise SystemExit(
            "homeport is not installed in this Python: run `pip install -e '.[all]'` from the repository"
            " root, or pass --endpoint-url of a running `homeport serve`"
        ) from e
    # The serverless endpoint goes idle within the run, captured requests are written every second, and alarms
    # are evaluated every second (the drift alarm fires within seconds of its metric).
    # Only approved registry versions deploy (registry.py shows the refusal of one that is not).
    idle = {
        "HOMEPORT_SERVERLESS_IDLE_S": "2",
        "HOMEPORT_CAPTURE_FLUSH_S": "1",
        "HOMEPORT_METRIC_PERIOD_SECONDS": "1",
        "HOMEPORT_REQUIRE_APPROVED_MODELS": "true",
    }
    with (
        tempfile.TemporaryDirectory(prefix="homeport-abalone-") as data_dir,
        ServerProcess(Path(data_dir), env=idle) as server,
    ):
        print(f"started homeport at {server.url} (data dir {data_dir})")
        yield Target(server.url, server.access_key_id, server.secret_access_key)
    print("stopped homeport")


# --------------------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------------------


def print_table(actual: np.ndarray, predicted: np.ndarray, rows: int = 20) -> None:
    print(f"\n{'row':>4}  {'actual':>6}  {'predicted':>9}  {'error':>7}")
    for i in range(min(rows, len(actual))):
        print(f"{i:>4}  {actual[i]:>6.0f}  {predicted[i]:>9.3f}  {predicted[i] - actual[i]:>+7.3f}")
    print()


def plot(actual: np.ndarray, predicted: np.ndarray, test_rmse: float, path: Path, source: str = "endpoint") -> Path:
    """Scatter of actual vs predicted Rings with a y = x line, the RMSE in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(actual, predicted, s=14, alpha=0.6, label="test rows")
    lo = float(min(actual.min(), predicted.min())) - 1
    hi = float(max(actual.max(), predicted.max())) + 1
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=1, linestyle="--", label="y = x")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("actual Rings")
    ax.set_ylabel(f"predicted Rings (homeport {source})")
    ax.set_title(f"Abalone on homeport ({source}): RMSE {test_rmse:.3f}, {len(actual)} rows", fontsize=11)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--endpoint-url", help="URL of a running `homeport serve` (default: start one for the run)")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT_DIR,
        help=f"where model.tar.gz, the CSV splits and the plot go (default: {DEFAULT_OUTPUT_DIR})",
    )
    parser.add_argument("--data", type=Path, default=DATA_PATH, help="the abalone.data file")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the model, endpoint config and endpoint in place (only useful with --endpoint-url:"
        " a server started for the run stops at the end anyway)",
    )
    parser.add_argument(
        "--prepare-only",
        action="store_true",
        help="prepare the data, train and pack model.tar.gz, then stop before the server part",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    output_dir: Path = args.output_dir.resolve()

    splits = prepare(args.data)
    paths = write_splits(splits, output_dir)
    print(
        f"data: {len(splits.train)} train, {len(splits.validation)} validation,"
        f" {len(splits.test)} test rows -> {paths['train'].parent}"
    )
    booster, validation_rmse = train(splits)
    print(f"trained XGBoost ({NUM_ROUND} rounds): validation RMSE {validation_rmse:.4f}")
    tarball = package_model(booster, output_dir)
    print(f"model: {tarball} ({', '.join(tarball_members(tarball))})")

    actual = splits.test[LABEL].to_numpy(dtype=np.float64)
    local = predict_local(booster, splits.test)
    local_rmse = rmse(actual, local)
    if args.prepare_only:
        print(f"in-process test RMSE {local_rmse:.4f}")
        return 0

    names = Names.unique()
    with server_url(args.endpoint_url) as target:
        sm, runtime, s3 = clients(target)
        uris = upload(s3, paths, tarball)
        test = read_csv_s3(s3, uris["test"])  # the test rows as stored in S3: label first, as written
        features = test.drop(columns=[0])
        try:
            deploy(sm, names, uris["model"])
            predicted = invoke_csv(runtime, names.endpoint, features)
            print(f"invoked {names.endpoint} with {len(features)} rows as text/csv")
            single = invoke_json(runtime, names.endpoint, features.iloc[:1])
            print(f"one row with Accept application/json:\n{json.dumps(single, indent=2)}")
            batch = batch_transform(sm, s3, names, uris["test"])
            asynchronous = invoke_async(sm, runtime, s3, names, features)
            from monitor import expected_drift, run_monitoring
            from multi_model import run_multi_model  # (these import this module's functions)
            from pipeline import run_pipeline
            from registry import run_registry
            from serverless import run_serverless

            by_sex = run_multi_model(sm, runtime, s3, splits, f"{names.endpoint}-by-sex", keep=args.keep)
            piped = run_pipeline(
                sm, runtime, s3, booster, splits.test, uris["model"], f"{names.endpoint}-pipeline", args.keep
            )
            serverless = run_serverless(
                sm, runtime, names.model, features, local, f"{names.endpoint}-serverless", args.keep
            )
            cw = client(target, "cloudwatch")
            monitored = run_monitoring(sm, runtime, s3, cw, splits, names.model, f"{names.endpoint}-monitor", args.keep)
            registered = run_registry(
                target, (sm, runtime, s3), splits, tarball, validation_rmse, f"{names.endpoint}-registry", args.keep
            )
        finally:
            if args.keep:
                print(f"kept endpoint {names.endpoint}, endpoint config {names.endpoint_config}, model {names.model}")
            else:
                clean_up(sm, names)

    if len(predicted) != len(actual):
        print(f"FAIL: {len(predicted)} predictions for {len(actual)} rows", file=sys.stderr)
        return 1
    print_table(actual, predicted)
    server_rmse = rmse(actual, predicted)
    difference = abs(server_rmse - local_rmse)
    print(f"test RMSE from the endpoint:   {server_rmse:.6f}")
    print(f"test RMSE in-process:          {local_rmse:.6f}")
    print(f"difference {difference:.2e}, largest per-row difference {np.abs(predicted - local).max():.2e}")
    png = plot(actual, predicted, server_rmse, output_dir / "abalone-actual-vs-predicted.png")
    print(f"plot: {png}")
    batch_actual, batch_predicted = batch[:, 0], batch[:, 1]
    batch_rmse = rmse(batch_actual, batch_predicted)
    batch_difference = abs(batch_rmse - local_rmse)
    print(f"test RMSE from the batch transform: {batch_rmse:.6f} (difference {batch_difference:.2e})")
    png = plot(
        batch_actual,
        batch_predicted,
        batch_rmse,
        output_dir / "abalone-batch-actual-vs-predicted.png",
        source="batch transform",
    )
    print(f"plot: {png}")
    async_difference = abs(rmse(actual, asynchronous) - local_rmse) if len(asynchronous) == len(actual) else np.inf
    if np.isfinite(async_difference):
        print(
            f"test RMSE from the async endpoint:  {rmse(actual, asynchronous):.6f} (difference {async_difference:.2e})"
        )
    else:
        print(f"FAIL: {len(asynchronous)} asynchronous predictions for {len(actual)} rows", file=sys.stderr)
    if (
        difference > TOLERANCE
        or batch_difference > TOLERANCE
        or async_difference > TOLERANCE
        or by_sex > TOLERANCE
        or piped > TOLERANCE
        or serverless > TOLERANCE
        or registered > TOLERANCE
        or not np.array_equal(batch_actual, actual)
    ):
        print(f"FAIL: the server's RMSE differs from the in-process model's by more than {TOLERANCE}", file=sys.stderr)
        return 1
    print(f"multi-model endpoint: largest per-row difference from the per-sex models in-process {by_sex:.2e}")
    print(f"inference pipeline (endpoint and batch transform): largest per-row difference {piped:.2e}")
    print(f"serverless endpoint: largest per-row difference {serverless:.2e}")
    print(f"registry version 2 rolled out by homeport apply: largest per-row difference {registered:.2e}")
    if monitored["normal"] or not expected_drift() <= set(monitored["drifted"]):
        print(
            f"FAIL: model monitoring found {monitored}, expected drift in {sorted(expected_drift())} only",
            file=sys.stderr,
        )
        return 1
    print(
        f"model monitoring: no violation in the normal rows; drift found in {', '.join(sorted(monitored['drifted']))}"
    )
    print("OK: every endpoint, batch transform and pipeline served the models trained here")
    return 0


if __name__ == "__main__":
    sys.exit(main())
