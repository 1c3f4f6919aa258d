"""The built-in XGBoost algorithm container, algorithm mode ([XGB:algorithm_mode/serve.py]).

- Model: `xgboost-model` in the model dir (or its only file), in any format the container reads: JSON,
  UBJSON, the legacy binary format (as far as the installed xgboost still reads it) or a pickle of a
  `Booster` or an `XGBModel` — `Booster.load_model` is tried first, then pickle, then joblib.
- Input: `text/csv` (no header, no label column, empty field = NaN) or `text/libsvm` / `text/x-libsvm`
  (the default when there is no Content-Type); anything else is 415. An empty body is 204; a prediction
  error (e.g. the wrong number of features) is 400 with xgboost's message.
- Output (Accept): `text/csv`, `application/json`, `application/jsonlines` (see `scores`); missing or
  `*/*` means `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT` or `text/csv`; anything else is 406.

Small bodies are parsed on the event loop and predicted through the micro-batcher; bodies over
`_INLINE_BYTES` are parsed, predicted and encoded in the worker pool, so they neither block `/ping` nor
hold up the single-record traffic.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import pickle
import sys
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np

from homeport.runtime.batcher import MicroBatcher
from homeport.runtime.content import (
    CSV,
    JSON,
    JSONLINES,
    LIBSVM,
    X_LIBSVM,
    csv_row_blocks,
    media_type,
    negotiate,
    parse_csv,
    parse_libsvm,
)
from homeport.runtime.dense_predictor import DensePredictor
from homeport.runtime.environment import ContainerEnvironment
from homeport.runtime.errors import (
    BadRequest,
    ModelLoadError,
    UnsupportedMediaType,
    first_line,
    missing_dependency,
)
from homeport.runtime.scores import Scores
from homeport.runtime.server import Invocation, Reply

MODEL_FILE = "xgboost-model"
INPUTS = (CSV, LIBSVM, X_LIBSVM)
OUTPUTS = (CSV, JSON, JSONLINES)
_BLOCKWISE_BYTES = 32 << 20  # a larger CSV body is parsed and scored in blocks (async and batch payloads)
_BLOCK_BYTES = 16 << 20
_INLINE_BYTES = 8192  # ~100 ten-feature rows: parse + predict on the loop costs well under a millisecond
_BATCH_ROWS = 2048  # per model call: keeps one flush (which holds the loop) around a millisecond

log = logging.getLogger(__name__)


def import_xgboost(lean: bool = False) -> Any:
    """xgboost; `lean` (algorithm mode) keeps it from importing scikit-learn, which it imports only for its
    sklearn-style wrappers and which is 0.85 s of a 1.1 s instance start. Pickled wrappers still load."""
    if lean and "xgboost" not in sys.modules and "sklearn" not in sys.modules:
        sys.modules["sklearn"] = None  # type: ignore[assignment]  # `import sklearn` now fails fast
        try:
            return import_xgboost()
        finally:
            del sys.modules["sklearn"]
    try:
        import xgboost
    except ImportError:
        raise missing_dependency("xgboost", "xgboost") from None
    return xgboost


def forget_lean_xgboost() -> None:
    """Drop an xgboost imported lean (the zygote imports it so, for the algorithm container) when scikit-learn is
    installed, so that user code's `import xgboost` loads it again with its scikit-learn wrappers."""
    compat = sys.modules.get("xgboost.compat")
    if compat is None or getattr(compat, "SKLEARN_INSTALLED", True) or importlib.util.find_spec("sklearn") is None:
        return
    for name in [m for m in sys.modules if m == "xgboost" or m.startswith("xgboost.")]:
        del sys.modules[name]


def find_model_file(model_dir: Path) -> Path:
    named = model_dir / MODEL_FILE
    if named.is_file():
        return named
    files = sorted(p for p in model_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    if len(files) == 1:
        return files[0]
    found = f"it holds {', '.join(p.name for p in files)}" if files else "it holds no files"
    raise ModelLoadError(f"no {MODEL_FILE} file in {model_dir} ({found})")


def load_booster(path: Path, nthread: int = 1) -> Any:
    """A Booster from a saved model in any of the formats the container accepts."""
    xgb = import_xgboost()
    raw = path.read_bytes()
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(raw))
    except xgb.core.XGBoostError as native_error:
        loaded = _unpickle(path, raw)
        if loaded is None:
            raise ModelLoadError(
                f"{path} is not an XGBoost model: not JSON, UBJSON or binary ({first_line(native_error)}), "
                "and not a pickled Booster or XGBModel"
            ) from None
        if isinstance(loaded, xgb.Booster):
            booster = loaded
        elif hasattr(loaded, "get_booster"):
            booster = loaded.get_booster()
        else:
            raise ModelLoadError(
                f"{path} holds a pickled {type(loaded).__name__}, not an xgboost Booster or XGBModel"
            ) from None
    booster.set_param({"nthread": nthread})
    return booster


def _unpickle(path: Path, raw: bytes) -> Any:
    try:
        return pickle.loads(raw)
    except Exception:
        pass
    try:
        import joblib
    except ImportError:
        return None
    try:
        return joblib.load(path)
    except Exception:
        return None


class XGBoostHandler:
    def __init__(self, booster: Any, env: ContainerEnvironment, pool: Executor) -> None:
        xgb = import_xgboost()
        self._booster = booster
        self._predict = DensePredictor(booster)
        self._errors = (ValueError, xgb.core.XGBoostError)
        self._features = int(booster.num_features())
        self._default_accept = env.default_accept or CSV
        self._batch = env.batch
        self._pool = pool
        self.batcher: MicroBatcher[Scores] = MicroBatcher(self.score, max_rows=_BATCH_ROWS)

    @classmethod
    def load(cls, model_dir: Path, env: ContainerEnvironment, pool: Executor) -> XGBoostHandler:
        import_xgboost(lean=True)
        path = find_model_file(model_dir)
        handler = cls(load_booster(path, env.model_threads), env, pool)
        handler.score(np.zeros((1, handler._features)))  # warm up, and prove the model predicts
        log.info("loaded xgboost model %s (%d features)", path, handler._features)
        return handler

    def score(self, rows: Any) -> Scores:
        try:
            values = self._predict(rows)
        except self._errors as exc:
            raise BadRequest(
                f"{first_line(exc)} (send {self._features} values per row, without a label column)"
            ) from None
        return Scores(values)

    async def invoke(self, invocation: Invocation) -> Reply:
        media = media_type(invocation.content_type) or LIBSVM
        if media not in INPUTS:
            raise UnsupportedMediaType(
                f"content type {invocation.content_type!r} is not supported; send text/csv or text/libsvm"
            )
        accept = negotiate(invocation.accept, OUTPUTS, self._default_accept)
        body = invocation.body
        if not body or body.isspace():
            return Reply(status=204)
        reply_type = CSV if self._batch else accept
        if len(body) > _INLINE_BYTES:
            loop = asyncio.get_running_loop()
            encoded = await loop.run_in_executor(self._pool, self._invoke_blocking, body, media, accept)
            return Reply(encoded, reply_type)
        if media == CSV:
            rows = parse_csv(body)
            if rows.shape[1] == self._features:
                scores = await self.batcher.submit(rows)
            else:
                scores = self.score(rows)  # raises xgboost's own message
        else:
            scores = self.score(parse_libsvm(body, self._features))
        return Reply(scores.encode(accept, self._batch), reply_type)

    def _invoke_blocking(self, body: bytes, media: str, accept: str) -> bytes:
        if media == CSV and len(body) > _BLOCKWISE_BYTES and (self._batch or accept in (CSV, JSONLINES)):
            # Block by block: the outputs of these encodings concatenate (JSON's single document does not).
            parts = [self.score(rows).encode(accept, self._batch) for rows in csv_row_blocks(body, _BLOCK_BYTES)]
            return (b"" if self._batch else b"\n").join(part for part in parts if part)
        rows = parse_csv(body) if media == CSV else parse_libsvm(body, self._features)
        return self.score(rows).encode(accept, self._batch)


# --- script mode: defaults for the toolkit handlers when user code is present --------------------


def script_model_fn(model_dir: str) -> Any:
    """The default `model_fn` in script mode: the same loader as algorithm mode."""
    return load_booster(find_model_file(Path(model_dir)))


def script_input_fn(input_data: str | bytes, content_type: str | None) -> Any:
    """CSV and LIBSVM as in algorithm mode (a dense array, a CSR matrix); other types as the toolkit."""
    from homeport.runtime.content import decode

    media = media_type(content_type)
    if media in (LIBSVM, X_LIBSVM):
        return parse_libsvm(input_data.encode() if isinstance(input_data, str) else input_data)
    return decode(input_data, content_type)


def script_predict_fn(data: Any, model: Any) -> Any:
    """A Booster predicts in place (it has no `predict` for arrays); anything else through `predict`."""
    xgb = import_xgboost()
    if isinstance(model, xgb.Booster):
        features = int(model.num_features())
        if hasattr(data, "tocsr") and data.shape[1] < features:  # LIBSVM rows that stop short of the last feature
            data = data.tocsr()
            data = type(data)((data.data, data.indices, data.indptr), shape=(data.shape[0], features))
        try:
            return model.inplace_predict(data, validate_features=False)
        except (ValueError, xgb.core.XGBoostError) as exc:
            raise BadRequest(first_line(exc)) from None
    from homeport.runtime.toolkit import default_predict_fn

    return default_predict_fn(data, model)
