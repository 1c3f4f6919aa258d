"""The default handlers of the framework runtimes beyond XGBoost and scikit-learn: PyTorch, LightGBM, ONNX Runtime.

Each is the inference toolkit with defaults for what a script leaves out, so a model archive that holds only a
model file is served, and a `code/inference.py` overrides any step:

- `pytorch` (SageMaker's PyTorch inference images): `model_fn` loads a `torch.export` program `model.pt2`, or
  a TorchScript `model.pt` (or the one `.pt2`/`.pt`/`.pth` file) with `torch.jit.load`; `input_fn` decodes as
  the toolkit does and makes a float tensor; `predict_fn` runs the model without gradients; the output is the
  toolkit's, from the tensor's values. As in SageMaker's PyTorch container, an eager-mode model needs a
  `model_fn`.
- `lightgbm`: `model_fn` loads `model.txt` (or the one `.txt` file, or `model.lgb`) as a `lightgbm.Booster`;
  the toolkit's `predict_fn` calls its `predict`.
- `onnx`: `model_fn` opens `model.onnx` (or the one `.onnx` file) in an ONNX Runtime session on the CPU; each
  request feeds the decoded array, as float32, to the model's first input and answers its first output.

The libraries are optional extras, imported when a model of theirs loads; a missing one is a ModelLoadError that
names the extra to install.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from homeport.runtime.content import NPY, media_type
from homeport.runtime.errors import BadRequest, ModelLoadError, first_line, missing_dependency
from homeport.runtime.toolkit import default_input_fn, default_output_fn


def model_file(model_dir: Path, names: tuple[str, ...], suffixes: tuple[str, ...], what: str) -> Path:
    """The first of `names` in `model_dir`, else its only file with one of `suffixes`."""
    for name in names:
        if (model_dir / name).is_file():
            return model_dir / name
    found = sorted(p for p in model_dir.iterdir() if p.is_file() and p.suffix in suffixes)
    if len(found) != 1:
        listed = ", ".join(p.name for p in found) or "none"
        raise ModelLoadError(
            f"{what}: expected {names[0]} or exactly one {'/'.join(suffixes)} file in {model_dir} (found {listed}); "
            "or define model_fn in code/inference.py"
        )
    return found[0]


# --- PyTorch ------------------------------------------------------------------------------------------


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise missing_dependency("torch", "torch") from None
    return torch


def torch_model_fn(model_dir: str) -> Any:
    torch = _torch()
    path = model_file(Path(model_dir), ("model.pt2", "model.pt"), (".pt2", ".pt", ".pth"), "PyTorch")
    if path.suffix == ".pt2":  # torch.export's format, TorchScript's successor
        try:
            return torch.export.load(str(path)).module()
        except Exception as exc:
            raise ModelLoadError(f"cannot load {path.name} as an exported program: {first_line(exc)}") from None
    try:
        with warnings.catch_warnings():  # TorchScript is deprecated in torch 2.13; SageMaker's format all the same
            warnings.simplefilter("ignore", DeprecationWarning)
            model = torch.jit.load(str(path), map_location="cpu")
    except RuntimeError as exc:
        raise ModelLoadError(
            f"cannot load {path.name} as TorchScript ({first_line(exc)}): save it with torch.jit.save (or "
            "torch.export.save as model.pt2), or define model_fn in code/inference.py"
        ) from None
    model.eval()
    return model


def torch_input_fn(input_data: str | bytes, content_type: str | None) -> Any:
    """A float32 tensor from JSON or CSV (as the PyTorch container's FloatTensor); NPY keeps its dtype."""
    torch = _torch()
    array = np.asarray(default_input_fn(input_data, content_type))
    if media_type(content_type) != NPY:
        array = array.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(array))


def torch_predict_fn(data: Any, model: Any) -> Any:
    torch = _torch()
    with torch.no_grad():
        try:
            return model(data)
        except RuntimeError as exc:  # a shape or type the model does not take
            raise BadRequest(f"the model cannot take this input: {first_line(exc)}") from None


def torch_output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    torch = _torch()
    if isinstance(prediction, torch.Tensor):
        prediction = prediction.detach().cpu().numpy()
    return default_output_fn(prediction, accept)


# --- LightGBM -----------------------------------------------------------------------------------------


def lightgbm_model_fn(model_dir: str) -> Any:
    try:
        import lightgbm
    except ImportError:
        raise missing_dependency("lightgbm", "lightgbm") from None
    path = model_file(Path(model_dir), ("model.txt", "model.lgb"), (".txt",), "LightGBM")
    try:
        return lightgbm.Booster(model_file=str(path))
    except lightgbm.basic.LightGBMError as exc:
        raise ModelLoadError(f"cannot load {path.name} as a LightGBM model: {first_line(exc)}") from None


# --- ONNX Runtime -------------------------------------------------------------------------------------


class OnnxModel:
    """An ONNX Runtime session with the `predict` the toolkit's default `predict_fn` calls."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.input = session.get_inputs()[0].name

    def predict(self, data: Any) -> Any:
        array = np.asarray(data, dtype=np.float32)
        try:
            return self.session.run(None, {self.input: array})[0]
        except Exception as exc:  # onnxruntime's errors for a wrong shape or rank
            raise BadRequest(f"the model cannot take this input: {first_line(exc)}") from None


def onnx_model_fn(model_dir: str) -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise missing_dependency("onnxruntime", "onnx") from None
    path = model_file(Path(model_dir), ("model.onnx",), (".onnx",), "ONNX")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # one request per worker thread, as the other runtimes
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelLoadError(f"cannot load {path.name} as an ONNX model: {first_line(exc)}") from None
    return OnnxModel(session)
