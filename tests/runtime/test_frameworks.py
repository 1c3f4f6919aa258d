"""The framework runtimes' defaults in-process: which file loads, a missing extra, input a model cannot take."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from homeport.runtime import frameworks as fw
from homeport.runtime.errors import BadRequest, ModelLoadError
from homeport.runtime.images import Runtime, runtime_for


@pytest.mark.parametrize(
    ("image", "runtime"),
    [
        ("763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-inference:2.1.0-cpu-py310", Runtime.PYTORCH),
        ("homeport/pytorch", Runtime.PYTORCH),
        ("homeport/lightgbm", Runtime.LIGHTGBM),
        ("homeport/onnx:latest", Runtime.ONNX),
    ],
)
def test_images_map_to_their_runtime(image: str, runtime: Runtime) -> None:
    assert runtime_for(image) is runtime


def test_the_model_file_is_the_named_one_or_the_only_one(tmp_path: Path) -> None:
    (tmp_path / "weights.pth").write_bytes(b"x")
    assert fw.model_file(tmp_path, ("model.pt",), (".pt", ".pth"), "PyTorch").name == "weights.pth"
    (tmp_path / "other.pt").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match=r"exactly one \.pt/\.pth file .* \(found other\.pt, weights\.pth\)"):
        fw.model_file(tmp_path, ("model.pt",), (".pt", ".pth"), "PyTorch")
    (tmp_path / "model.pt").write_bytes(b"x")
    assert fw.model_file(tmp_path, ("model.pt",), (".pt", ".pth"), "PyTorch").name == "model.pt"


@pytest.mark.parametrize(
    ("module", "load", "extra"),
    [
        ("torch", fw.torch_model_fn, "torch"),
        ("lightgbm", fw.lightgbm_model_fn, "lightgbm"),
        ("onnxruntime", fw.onnx_model_fn, "onnx"),
    ],
)
def test_a_missing_library_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, module: str, load: Any, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    with pytest.raises(ModelLoadError, match=rf"pip install 'homeport\[{extra}\]'"):
        load(str(tmp_path))


@pytest.mark.parametrize(
    ("name", "load", "words"),
    [
        ("model.pt", fw.torch_model_fn, "as TorchScript"),
        ("model.pt2", fw.torch_model_fn, "as an exported program"),
        ("model.txt", fw.lightgbm_model_fn, "as a LightGBM model"),
        ("model.onnx", fw.onnx_model_fn, "as an ONNX model"),
    ],
)
def test_a_file_that_is_not_a_model_is_a_load_error(tmp_path: Path, name: str, load: Any, words: str) -> None:
    (tmp_path / name).write_bytes(b"\0garbage\0" * 10)
    with pytest.raises(ModelLoadError, match=words):
        load(str(tmp_path))


def test_torch_input_is_float32_from_text_and_keeps_npy_dtypes() -> None:
    import io

    import torch

    assert fw.torch_input_fn("1,2\n3,4", "text/csv").dtype == torch.float32
    buffer = io.BytesIO()
    np.save(buffer, np.arange(4, dtype=np.int64))
    assert fw.torch_input_fn(buffer.getvalue(), "application/x-npy").dtype == torch.int64
    model = torch.nn.Linear(3, 1)
    with pytest.raises(BadRequest, match="cannot take this input"):
        fw.torch_predict_fn(fw.torch_input_fn("1,2", "text/csv"), model)
    body, media = fw.torch_output_fn(torch.tensor([[1.5]]), "application/json")
    assert (body, media) == (b"[[1.5]]", "application/json")
