"""The built-in XGBoost algorithm's training, as SageMaker's `sagemaker-xgboost` container runs it in algorithm mode:
a `train` channel (and optionally `validation`) in LIBSVM (the default), CSV with the label in the first column,
or Parquet; the hyperparameters as strings; one line per round such as `[3]#011train-rmse:1.52#011validation-rmse:
1.61` (`#011` is the tab as CloudWatch shows it, which the metric definitions users copy from AWS match); the
booster saved as `xgboost-model`."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from homeport.runtime.errors import first_line

CHANNEL_TYPES = {
    "csv": "csv",
    "text/csv": "csv",
    "libsvm": "libsvm",
    "text/libsvm": "libsvm",
    "text/x-libsvm": "libsvm",
    "parquet": "parquet",
    "application/x-parquet": "parquet",
}
# Hyperparameters the algorithm reads itself; the rest go to xgboost.train as its params.
OWN = {"num_round", "csv_weights", "early_stopping_rounds", "save_model_on_termination", "_kfold", "_num_cv_round"}


class TrainingError(Exception):
    """The job cannot train; the message (FailureReason) says what to fix."""


def train(base: Path, hyperparameters: dict[str, str], channels: dict[str, Any]) -> None:
    import xgboost

    if "train" not in channels:
        raise TrainingError(
            "ClientError: the built-in XGBoost algorithm needs a 'train' channel; InputDataConfig has "
            f"{sorted(channels) or 'none'}."
        )
    unknown = sorted(set(channels) - {"train", "validation"})
    if unknown:
        raise TrainingError(f"ClientError: channels {unknown} are not ones XGBoost reads; use train and validation.")
    if "num_round" not in hyperparameters:
        raise TrainingError("ClientError: Missing required hyperparameter: num_round")
    rounds = _integer(hyperparameters, "num_round")
    early = _integer(hyperparameters, "early_stopping_rounds") if "early_stopping_rounds" in hyperparameters else None
    weighted = hyperparameters.get("csv_weights", "0") == "1"
    params = {k: _value(v) for k, v in hyperparameters.items() if k not in OWN and not k.startswith("sagemaker_")}
    params.setdefault("objective", "reg:squarederror")
    if isinstance(params.get("eval_metric"), str) and "," in params["eval_metric"]:
        params["eval_metric"] = params["eval_metric"].split(",")
    data = {name: _matrix(base / "input" / "data" / name, channels[name], weighted) for name in channels}
    evals = [(data["train"], "train")] + ([(data["validation"], "validation")] if "validation" in data else [])
    if early is not None and "validation" not in data:
        raise TrainingError("ClientError: early_stopping_rounds needs a 'validation' channel to watch.")
    try:
        booster = xgboost.train(
            params,
            data["train"],
            num_boost_round=rounds,
            evals=evals,
            early_stopping_rounds=early,
            verbose_eval=False,
            callbacks=[_round_printer()],
        )
    except xgboost.core.XGBoostError as exc:
        raise TrainingError(f"ClientError: XGBoost refused the job: {first_line(exc)}") from None
    booster.save_model(str(base / "model" / "xgboost-model"))
    print(f"saved the model after {booster.num_boosted_rounds()} rounds", flush=True)


def _integer(hyperparameters: dict[str, str], name: str) -> int:
    try:
        value = int(hyperparameters[name])
    except ValueError:
        raise TrainingError(
            f"ClientError: hyperparameter {name} must be an integer, not {hyperparameters[name]!r}."
        ) from None
    if value < 1:
        raise TrainingError(f"ClientError: hyperparameter {name} must be at least 1, not {value}.")
    return value


def _value(text: str) -> Any:
    """A hyperparameter as XGBoost wants it: a number where it reads as one."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _files(folder: Path) -> list[Path]:
    found = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not found:
        raise TrainingError(f"ClientError: the {folder.name} channel has no files.")
    return found


def _matrix(folder: Path, channel: dict[str, Any], weighted: bool) -> Any:
    import numpy as np
    import xgboost

    content_type = (channel.get("ContentType") or "text/libsvm").split(";")[0].strip().lower()
    kind = CHANNEL_TYPES.get(content_type)
    if kind is None:
        raise TrainingError(
            f"ClientError: the {folder.name} channel's ContentType {content_type} is not one homeport's XGBoost "
            f"reads; use text/csv, text/libsvm or application/x-parquet."
        )
    files = _files(folder)
    if kind == "libsvm":
        with tempfile.NamedTemporaryFile(suffix=".libsvm", delete=False) as joined:
            for path in files:
                joined.write(path.read_bytes().rstrip(b"\n") + b"\n")
        try:
            return xgboost.DMatrix(f"{joined.name}?format=libsvm")
        except xgboost.core.XGBoostError as exc:
            raise TrainingError(f"ClientError: the {folder.name} channel is not LIBSVM: {first_line(exc)}") from None
        finally:
            Path(joined.name).unlink()
    table = np.vstack([_table(path, kind) for path in files])
    if table.shape[1] < (3 if weighted else 2):
        raise TrainingError(
            f"ClientError: the {folder.name} channel's rows have {table.shape[1]} column(s); they need the label "
            "first, then the features."
        )
    first = 2 if weighted else 1
    return xgboost.DMatrix(table[:, first:], label=table[:, 0], weight=table[:, 1] if weighted else None)


def _table(path: Path, kind: str) -> Any:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv
    import pyarrow.parquet

    try:
        if kind == "parquet":
            table = pyarrow.parquet.read_table(path)
        else:
            options = pyarrow.csv.ReadOptions(autogenerate_column_names=True)
            table = pyarrow.csv.read_csv(path, read_options=options)
        return np.column_stack([col.to_numpy(zero_copy_only=False).astype(np.float64) for col in table.columns])
    except (pa.ArrowInvalid, ValueError) as exc:
        raise TrainingError(
            f"ClientError: {path.name} in the {path.parent.name} channel is not numeric {kind}: {first_line(exc)}"
        ) from None


def _round_printer() -> Any:
    """A callback that prints each round's evaluation as the algorithm container does."""
    import xgboost

    class RoundPrinter(xgboost.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            scores = "".join(
                f"#011{data}-{metric}:{values[-1]:.5f}"
                for data, metrics in evals_log.items()
                for metric, values in metrics.items()
            )
            print(f"[{epoch}]{scores}", flush=True)
            return False

    return RoundPrinter()
