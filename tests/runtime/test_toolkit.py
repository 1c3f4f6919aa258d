"""User code run the way the SageMaker inference toolkit runs it (sklearn and toolkit runtimes)."""

from __future__ import annotations

import asyncio
import io
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from homeport.runtime.errors import ModelLoadError
from tests.runtime.conftest import features, run


@pytest.fixture(autouse=True)
def forget_user_modules() -> Iterator[None]:
    """Each test's inference.py is a fresh module; leave sys.path and sys.modules as they were."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]
    sys.modules.pop("inference", None)


@pytest.fixture
def linear(tmp_path: Path) -> tuple[Path, Any]:
    """A scikit-learn LinearRegression saved as model.joblib, as the scikit-learn container expects."""
    joblib = pytest.importorskip("joblib")
    linear_model = pytest.importorskip("sklearn.linear_model")
    X = features(100)[:, :3]
    model = linear_model.LinearRegression().fit(X, X @ np.array([1.0, 2.0, 3.0]) + 0.5)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    joblib.dump(model, model_dir / "model.joblib")
    return model_dir, model


def script(model_dir: Path, source: str, name: str = "inference.py", where: str = "code") -> Path:
    code = model_dir / where
    code.mkdir(parents=True, exist_ok=True)
    path = code / name
    path.write_text(textwrap.dedent(source))
    return path


def test_sklearn_without_a_script_uses_joblib_and_model_predict(make_app: Any, linear: tuple[Path, Any]) -> None:
    model_dir, model = linear
    app = make_app("sklearn", model_dir)
    rows = [[0.1, 0.2, 0.3], [1.0, 1.0, 1.0]]
    reply = app.invoke("[[0.1, 0.2, 0.3], [1.0, 1.0, 1.0]]", content_type="application/json")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    np.testing.assert_allclose(reply.json(), model.predict(np.array(rows)))
    csv = app.invoke("0.1,0.2,0.3", content_type="text/csv", accept="text/csv")
    assert csv.headers["content-type"] == "text/csv"
    np.testing.assert_allclose(float(csv.text), model.predict(np.array(rows[:1]))[0])
    npy = app.invoke("0.1,0.2,0.3\n1,1,1", content_type="text/csv", accept="application/x-npy")
    np.testing.assert_allclose(np.load(io.BytesIO(npy.content)), model.predict(np.array(rows)))


def test_default_handlers_refuse_what_they_cannot_code(make_app: Any, linear: tuple[Path, Any]) -> None:
    app = make_app("sklearn", linear[0])
    assert app.invoke(b"\x89PNG", content_type="image/png").status_code == 415
    assert app.invoke("[[1, 2, 3]]", content_type="application/json", accept="text/html").status_code == 406
    assert app.invoke("[[1, 2", content_type="application/json").status_code == 400


def test_default_accept_from_the_environment(make_app: Any, linear: tuple[Path, Any]) -> None:
    app = make_app("sklearn", linear[0], {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"})
    reply = app.invoke("[[1, 2, 3]]", content_type="application/json", accept="*/*")
    assert reply.headers["content-type"] == "text/csv"


def test_sklearn_model_errors_are_500_with_the_message(make_app: Any, linear: tuple[Path, Any]) -> None:
    reply = make_app("sklearn", linear[0]).invoke("[[1, 2]]", content_type="application/json")
    assert reply.status_code == 500
    assert "ValueError" in reply.text and "features" in reply.text


def test_sklearn_without_a_model_file_says_so(make_app: Any, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"no model\.joblib or model\.pkl"):
        make_app("sklearn", tmp_path)


def test_input_predict_output_chain(make_app: Any, linear: tuple[Path, Any]) -> None:
    model_dir, model = linear
    script(
        model_dir,
        """
        import json
        import numpy as np

        def input_fn(input_data, content_type):
            assert isinstance(input_data, str)  # JSON arrives decoded
            return np.array(json.loads(input_data)["rows"])

        def predict_fn(data, model):
            return model.predict(data) * 10

        def output_fn(prediction, accept):
            return json.dumps({"out": prediction.tolist(), "accept": accept}), "application/vnd.test+json"
    """,
    )
    reply = make_app("sklearn", model_dir).invoke('{"rows": [[1, 2, 3]]}', content_type="application/json")
    assert reply.headers["content-type"] == "application/vnd.test+json"
    body = reply.json()
    assert body["accept"] == "application/json"  # missing Accept → the default
    np.testing.assert_allclose(body["out"], model.predict(np.array([[1.0, 2.0, 3.0]])) * 10)


def test_toolkit_transform_fn_and_model_fn(make_app: Any, tmp_path: Path) -> None:
    script(
        tmp_path,
        """
        import os

        def model_fn(model_dir):
            return {"dir": model_dir, "factor": 3}

        def transform_fn(model, input_data, content_type, accept):
            assert isinstance(input_data, bytes)
            return input_data * model["factor"]
    """,
    )
    reply = make_app("toolkit", tmp_path).invoke(b"ab", content_type="application/octet-stream", accept="x/y")
    assert reply.status_code == 200
    assert reply.content == b"ababab"
    assert reply.headers["content-type"] == "x/y"


def test_transform_fn_with_predict_fn_is_a_load_error(make_app: Any, tmp_path: Path) -> None:
    script(
        tmp_path,
        """
        def model_fn(model_dir): return 1
        def transform_fn(model, data, content_type, accept): return b""
        def predict_fn(data, model): return data
    """,
    )
    with pytest.raises(ValueError, match="defines transform_fn and predict_fn"):
        make_app("toolkit", tmp_path)


def test_user_exception_is_500_with_its_message(make_app: Any, tmp_path: Path) -> None:
    script(
        tmp_path,
        """
        def model_fn(model_dir): return None
        def predict_fn(data, model): raise KeyError("no such customer")
    """,
    )
    reply = make_app("toolkit", tmp_path).invoke("[1]", content_type="application/json")
    assert reply.status_code == 500
    assert reply.text == "KeyError: 'no such customer'"


def test_exception_with_a_status_code_keeps_it(make_app: Any, tmp_path: Path) -> None:
    script(
        tmp_path,
        """
        class Rejected(Exception):
            status_code = 422

        def model_fn(model_dir): return None
        def input_fn(data, content_type): raise Rejected("field 'age' is missing")
    """,
    )
    reply = make_app("toolkit", tmp_path).invoke("{}", content_type="application/json")
    assert reply.status_code == 422
    assert "field 'age' is missing" in reply.text


def test_default_predict_fn_needs_a_predict_method(make_app: Any, tmp_path: Path) -> None:
    script(tmp_path, "def model_fn(model_dir):\n    return object()\n")
    reply = make_app("toolkit", tmp_path).invoke("[1]", content_type="application/json")
    assert reply.status_code == 500
    assert "has no predict method; define predict_fn" in reply.text


def test_output_of_the_wrong_type_is_500(make_app: Any, tmp_path: Path) -> None:
    script(
        tmp_path,
        """
        def model_fn(model_dir): return None
        def transform_fn(model, data, content_type, accept): return 42
    """,
    )
    reply = make_app("toolkit", tmp_path).invoke("[1]", content_type="application/json")
    assert reply.status_code == 500
    assert "return bytes or str" in reply.text


def test_context_carries_custom_attributes_both_ways(make_app: Any, tmp_path: Path) -> None:
    script(
        tmp_path,
        """
        def model_fn(model_dir, context):
            return "m"

        def input_fn(input_data, content_type, context):
            return context.custom_attributes

        def predict_fn(data, model, context):
            context.response_custom_attributes = "echo=" + data
            context.set_response_header(0, "X-Extra", context.get_request_header(0, "x-request-id"))
            return data

        def output_fn(prediction, accept):  # no context: arity decides
            return prediction
    """,
    )
    headers = {"X-Amzn-SageMaker-Custom-Attributes": "trace=42", "X-Request-Id": "r-1"}
    reply = make_app("toolkit", tmp_path).invoke("{}", content_type="application/json", headers=headers)
    assert reply.status_code == 200
    assert reply.text == "trace=42"
    assert reply.headers["x-amzn-sagemaker-custom-attributes"] == "echo=trace=42"
    assert reply.headers["x-extra"] == "r-1"


def test_sagemaker_program_and_submit_directory(make_app: Any, tmp_path: Path) -> None:
    source = tmp_path / "src"
    script(
        source,
        """
        import helper

        def model_fn(model_dir): return helper.GREETING
        def transform_fn(model, data, content_type, accept): return model
    """,
        name="serve.py",
        where=".",
    )
    (source / "helper.py").write_text("GREETING = 'hello from helper'\n")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    env = {"SAGEMAKER_PROGRAM": "serve.py", "SAGEMAKER_SUBMIT_DIRECTORY": f"file://{source}"}
    reply = make_app("toolkit", model_dir, env).invoke(b"", content_type="text/plain")
    assert reply.text == "hello from helper"


def test_missing_program_is_a_load_error(make_app: Any, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"SAGEMAKER_PROGRAM=serve: no serve\.py"):
        make_app("toolkit", tmp_path, {"SAGEMAKER_PROGRAM": "serve.py"})
    with pytest.raises(ModelLoadError, match="no inference script"):
        make_app("toolkit", tmp_path)
    with pytest.raises(ModelLoadError, match="not a local directory"):
        make_app("toolkit", tmp_path, {"SAGEMAKER_SUBMIT_DIRECTORY": "s3://bucket/sourcedir.tar.gz"})


def test_script_that_fails_to_import_is_a_load_error(make_app: Any, tmp_path: Path) -> None:
    script(tmp_path, "import no_such_module_anywhere\n")
    with pytest.raises(ModelLoadError, match="ModuleNotFoundError"):
        make_app("toolkit", tmp_path)


def test_toolkit_without_model_fn_is_a_load_error(make_app: Any, tmp_path: Path) -> None:
    script(tmp_path, "def predict_fn(data, model):\n    return data\n")
    with pytest.raises(ModelLoadError, match="must define model_fn"):
        make_app("toolkit", tmp_path)


def test_xgboost_script_mode_loads_the_booster(make_app: Any, xgb_dir: Path, booster: Any) -> None:
    script(
        xgb_dir,
        """
        def output_fn(prediction, accept):
            return ",".join(str(float(p)) for p in prediction), "text/plain"
    """,
    )
    rows = features(2, seed=3)
    body = "\n".join(",".join(repr(float(v)) for v in row) for row in rows)
    reply = make_app("xgboost", xgb_dir).invoke(body, content_type="text/csv")
    assert reply.headers["content-type"] == "text/plain"
    np.testing.assert_allclose([float(v) for v in reply.text.split(",")], booster.inplace_predict(rows), rtol=1e-6)
    libsvm = make_app("xgboost", xgb_dir).invoke(b"0 0:0.5\n", content_type="text/libsvm")
    assert libsvm.status_code == 200, libsvm.text


def test_ping_answers_while_a_handler_blocks(make_app: Any, tmp_path: Path) -> None:
    script(
        tmp_path,
        """
        import threading
        started, release = threading.Event(), threading.Event()

        def model_fn(model_dir): return None

        def transform_fn(model, data, content_type, accept):
            started.set()
            release.wait(30)
            return b"done"
    """,
    )
    app = make_app("toolkit", tmp_path)
    user: Any = sys.modules["inference"]

    async def go() -> tuple[int, bytes]:
        async with app.client() as client:
            slow = asyncio.create_task(client.post("/invocations", content=b"x"))
            await asyncio.to_thread(user.started.wait, 30)
            ping = await client.get("/ping")  # answered while the worker thread is still busy
            assert not slow.done()
            user.release.set()
            return ping.status_code, (await slow).content

    assert run(go()) == (200, b"done")
