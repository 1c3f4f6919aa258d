"""User code as the SageMaker inference toolkit runs it, behind a real endpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.conftest import SKLEARN_IMAGE, deploy, pack, synthetic_regression

INFERENCE = """
import json
import os

import joblib
import numpy as np


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def input_fn(body, content_type):
    if content_type != "application/json":
        raise ValueError(f"unsupported content type {content_type}")
    return np.asarray(json.loads(body)["instances"], dtype=float)


def predict_fn(data, model):
    return model.predict(data)


def output_fn(prediction, accept, context):
    context.response_custom_attributes = "seen=" + (context.custom_attributes or "none")
    return json.dumps({"values": prediction.tolist()}), "application/json"
"""


@pytest.fixture(scope="module")
def sklearn_model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import joblib
    from sklearn.linear_model import LinearRegression

    root = tmp_path_factory.mktemp("sk")
    x, y = synthetic_regression(features=3)
    model = LinearRegression().fit(x, y)
    model_dir = root / "model"
    (model_dir / "code").mkdir(parents=True)
    joblib.dump(model, model_dir / "model.joblib")
    (model_dir / "code" / "inference.py").write_text(INFERENCE)
    return {"model": model, "x": x, "url": pack(model_dir, root / "model.tar.gz").as_uri()}


def test_sklearn_user_code_end_to_end(sm: Any, runtime: Any, sklearn_model: dict[str, Any]) -> None:
    endpoint = deploy(sm, sklearn_model["url"], image=SKLEARN_IMAGE)["endpoint"]
    x = sklearn_model["x"][:5]
    reply = runtime.invoke_endpoint(
        EndpointName=endpoint,
        ContentType="application/json",
        Body=json.dumps({"instances": x.tolist()}),
        CustomAttributes="trace=1",
    )
    assert reply["ContentType"] == "application/json"
    assert reply["CustomAttributes"] == "seen=trace=1"
    got = json.loads(reply["Body"].read())["values"]
    np.testing.assert_allclose(got, sklearn_model["model"].predict(x.astype(float)), rtol=1e-9)

    with pytest.raises(ClientError) as info:
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=b"1,2,3")
    assert info.value.response["Error"]["Code"] == "ModelError"
    assert info.value.response["OriginalStatusCode"] == 500
    assert "unsupported content type text/csv" in info.value.response["OriginalMessage"]
    sm.delete_endpoint(EndpointName=endpoint)


def test_user_code_that_cannot_load_fails_the_endpoint(sm: Any, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    (model_dir / "code").mkdir(parents=True)
    (model_dir / "code" / "inference.py").write_text("def model_fn(model_dir):\n    raise RuntimeError('no weights')\n")
    names = deploy(sm, pack(model_dir, tmp_path / "model.tar.gz").as_uri(), image=SKLEARN_IMAGE, wait=False)
    with pytest.raises(Exception):  # noqa: B017 - the waiter stops on Failed
        sm.get_waiter("endpoint_in_service").wait(
            EndpointName=names["endpoint"], WaiterConfig={"Delay": 0.2, "MaxAttempts": 300}
        )
    described = sm.describe_endpoint(EndpointName=names["endpoint"])
    assert described["EndpointStatus"] == "Failed"
    assert "no weights" in described["FailureReason"]


@pytest.mark.parametrize(
    ("submit", "reason"),
    [
        ("s3://no-such-bucket/code/sourcedir.tar.gz", "SAGEMAKER_SUBMIT_DIRECTORY=s3://no-such-bucket"),
        ("/opt/ml/model/../../etc", "leaves /opt/ml/model"),
        ("file:///nonexistent/sourcedir.tar.gz", "/nonexistent/sourcedir.tar.gz"),
    ],
)
def test_code_that_cannot_be_reached_fails_the_endpoint_saying_where(
    sm: Any, tmp_path: Path, sklearn_model: dict[str, Any], submit: str, reason: str
) -> None:
    env = {"SAGEMAKER_SUBMIT_DIRECTORY": submit, "SAGEMAKER_PROGRAM": "inference.py"}
    names = deploy(sm, sklearn_model["url"], image=SKLEARN_IMAGE, environment=env, wait=False)
    with pytest.raises(Exception):  # noqa: B017 - the waiter stops on Failed
        sm.get_waiter("endpoint_in_service").wait(
            EndpointName=names["endpoint"], WaiterConfig={"Delay": 0.2, "MaxAttempts": 300}
        )
    described = sm.describe_endpoint(EndpointName=names["endpoint"])
    assert described["EndpointStatus"] == "Failed" and reason in described["FailureReason"]


def test_requirements_txt_is_installed_into_an_environment_of_its_own(sm: Any, runtime: Any, tmp_path: Path) -> None:
    """As SageMaker's containers do: what the code's requirements.txt names is installed before the model loads
    (here a wheel beside it; numpy, which homeport has, costs nothing); one that cannot be fails the endpoint."""
    from tests.conftest import probe_wheel

    code = tmp_path / "model" / "code"
    code.mkdir(parents=True)
    wheel = probe_wheel(code, value=7)
    (code / "requirements.txt").write_text(f"numpy\n./{wheel}\n")
    (code / "inference.py").write_text(
        "import homeport_probe_dep\n\n\ndef model_fn(model_dir):\n    return None\n\n\n"
        "def transform_fn(model, data, content_type, accept):\n    return str(homeport_probe_dep.VALUE)\n"
    )
    endpoint = deploy(sm, pack(tmp_path / "model", tmp_path / "model.tar.gz").as_uri(), image=SKLEARN_IMAGE)["endpoint"]
    assert runtime.invoke_endpoint(EndpointName=endpoint, Body=b"x", ContentType="text/csv")["Body"].read() == b"7"
    sm.delete_endpoint(EndpointName=endpoint)

    (code / "requirements.txt").write_text("./no-such-package-1.0-py3-none-any.whl\n")
    names = deploy(sm, pack(tmp_path / "model", tmp_path / "broken.tar.gz").as_uri(), image=SKLEARN_IMAGE, wait=False)
    with pytest.raises(Exception):  # noqa: B017 - the waiter stops on Failed
        sm.get_waiter("endpoint_in_service").wait(
            EndpointName=names["endpoint"], WaiterConfig={"Delay": 0.2, "MaxAttempts": 600}
        )
    described = sm.describe_endpoint(EndpointName=names["endpoint"])
    assert described["EndpointStatus"] == "Failed"
    assert "pip could not install requirements.txt" in described["FailureReason"]
    assert "no-such-package" in described["FailureReason"]
