"""The framework runtimes through boto3: PyTorch (TorchScript, and an eager model with its own model_fn), LightGBM
and ONNX Runtime, each with a model these tests build, deployed from the image URIs users already have."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.conftest import csv_rows, deploy, pack, synthetic_regression

PYTORCH_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310"
EAGER = """
import os

import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)

    def forward(self, x):
        return torch.relu(self.linear(x)) * 3


def model_fn(model_dir):
    net = Net()
    net.load_state_dict(torch.load(os.path.join(model_dir, "model.pth")))
    return net.eval()
"""


def torch_models(root: Path) -> dict[str, Any]:
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).eval()
    scripted = root / "scripted"
    scripted.mkdir()
    with warnings.catch_warnings():  # TorchScript is deprecated in torch 2.13, and still what SageMaker loads
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(net), str(scripted / "model.pt"))
    exported = root / "exported"
    exported.mkdir()
    batch = torch.export.Dim("batch")
    program = torch.export.export(net, (torch.zeros(2, 4),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(exported / "model.pt2"))
    eager = root / "eager"
    (eager / "code").mkdir(parents=True)
    (eager / "code" / "inference.py").write_text(EAGER)
    namespace: dict[str, Any] = {}
    exec(compile(EAGER, "eager", "exec"), namespace)  # the test's own model class
    eager_net = namespace["Net"]()
    torch.save(eager_net.state_dict(), eager / "model.pth")

    def run(model: Any, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.asarray(model(torch.from_numpy(x.astype(np.float32))).numpy())

    return {
        "scripted": {"url": pack(scripted, root / "scripted.tar.gz").as_uri(), "predict": lambda x: run(net, x)},
        "exported": {"url": pack(exported, root / "exported.tar.gz").as_uri(), "predict": lambda x: run(net, x)},
        "eager": {"url": pack(eager, root / "eager.tar.gz").as_uri(), "predict": lambda x: run(eager_net.eval(), x)},
    }


def lightgbm_model(root: Path) -> dict[str, Any]:
    import lightgbm

    x, y = synthetic_regression()
    booster = lightgbm.train({"objective": "regression", "verbose": -1, "num_leaves": 7}, lightgbm.Dataset(x, y), 20)
    model_dir = root / "lightgbm"
    model_dir.mkdir()
    booster.save_model(str(model_dir / "model.txt"))
    return {"url": pack(model_dir, root / "lightgbm.tar.gz").as_uri(), "predict": booster.predict}


def onnx_model(root: Path) -> dict[str, Any]:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    weights, bias = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])],
        [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    model_dir = root / "onnx"
    model_dir.mkdir()
    onnx.save(model, str(model_dir / "model.onnx"))
    return {
        "url": pack(model_dir, root / "onnx.tar.gz").as_uri(),
        "predict": lambda x: x.astype(np.float32) @ weights + bias,
    }


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("frameworks")
    return {**torch_models(root), "lightgbm": lightgbm_model(root), "onnx": onnx_model(root)}


@pytest.mark.parametrize(
    ("name", "image"),
    [
        ("scripted", PYTORCH_IMAGE),
        ("exported", "homeport/pytorch"),
        ("eager", "homeport/pytorch"),
        ("lightgbm", "homeport/lightgbm"),
        ("onnx", "homeport/onnx"),
    ],
)
def test_each_framework_serves_the_model_it_was_given(
    sm: Any, runtime: Any, models: dict[str, Any], name: str, image: str
) -> None:
    model = models[name]
    endpoint = deploy(sm, model["url"], image=image)["endpoint"]
    x = synthetic_regression(rows=6, seed=11)[0]
    want = np.asarray(model["predict"](x))
    reply = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Accept="application/json", Body=csv_rows(x)
    )
    assert reply["ContentType"] == "application/json"
    np.testing.assert_allclose(np.array(json.loads(reply["Body"].read())), want, rtol=1e-5, atol=1e-6)
    as_csv = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body=csv_rows(x))
    got = np.array([[float(v) for v in line.split(",")] for line in as_csv["Body"].read().decode().splitlines()])
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ClientError) as raised:  # a row of the wrong width: the client's error, named
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=b"1,2\n")
    assert raised.value.response["Error"]["Code"] == "ModelError"
    assert raised.value.response["OriginalStatusCode"] in (400, 500)
    sm.delete_endpoint(EndpointName=endpoint)


def test_a_model_file_that_does_not_load_fails_the_endpoint_with_the_reason(sm: Any, tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.pt").write_bytes(b"not torchscript")
    url = pack(tmp_path / "m", tmp_path / "m.tar.gz").as_uri()
    names = deploy(sm, url, image="homeport/pytorch", wait=False)
    waiter = sm.get_waiter("endpoint_in_service")
    with pytest.raises(Exception):  # noqa: B017 - the waiter's failure; the reason is checked below
        waiter.wait(EndpointName=names["endpoint"], WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    described = sm.describe_endpoint(EndpointName=names["endpoint"])
    assert described["EndpointStatus"] == "Failed"
    assert "TorchScript" in described["FailureReason"]
