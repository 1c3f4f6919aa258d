"""Fixtures for the integration tests: models that exist to be observed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homeport.server.process import ServerProcess
from tests.conftest import KEYS, XGBOOST_IMAGE, boto_client, pack

# A model that shows what it was sent: per CSV line "<first field>,<pid>,<lines in this request>", or per request
# the body itself (echo), a summary of the body (sizes), its size and transfer encoding (framing), the batch
# environment (env), or a failure (fail, flaky, sleep, crash on a record holding 'boom').
PROBE = r"""
import hashlib
import json
import os
import time


def model_fn(model_dir):
    return None


def transform_fn(model, data, content_type, accept, context):
    mode = os.environ.get("PROBE_MODE", "lines")
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if mode == "framing":
        return f"{len(raw)},{context.get_request_header(0, 'transfer-encoding')}\n"
    if mode == "env":
        keys = sorted(k for k in os.environ if k.startswith(("SAGEMAKER_", "PROBE_")))
        return json.dumps({k: os.environ[k] for k in keys}) + "\n"
    if mode == "echo":
        return raw
    if mode == "sizes":
        return f"{len(raw)},{raw[:8].hex()}\n"
    if mode == "flaky":  # fails the first time it sees a body, then succeeds
        marker = os.path.join(os.environ["PROBE_DIR"], hashlib.sha256(raw).hexdigest())
        if not os.path.exists(marker):
            open(marker, "w").close()
            raise RuntimeError("flaky: first attempt")
    if mode == "fail":
        raise RuntimeError("the probe was told to fail")
    if mode == "crash" and b"boom" in raw:
        os._exit(3)
    if mode == "sleep":
        time.sleep(float(os.environ["PROBE_SLEEP"]))
    if mode == "json":
        return "".join(json.dumps({"n": len(json.loads(line))}) + "\n" for line in raw.decode().splitlines())
    lines = raw.decode().splitlines()
    return "".join(f"{line.split(',')[0]},{os.getpid()},{len(lines)}\n" for line in lines)
"""


def code_only_model(root: Path, inference: str) -> str:
    """The file:// URI of a model archive holding nothing but `code/inference.py`."""
    (root / "model" / "code").mkdir(parents=True)
    (root / "model" / "code" / "inference.py").write_text(inference)
    return pack(root / "model", root / "model.tar.gz").as_uri()


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> str:
    return code_only_model(tmp_path_factory.mktemp("probe"), PROBE)


@pytest.fixture(scope="session")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose metric period is one second, so alarms and scaling policies act within seconds."""
    env = {
        "HOMEPORT_LOG_LEVEL": "warning",
        "HOMEPORT_METRIC_PERIOD_SECONDS": "1",
        "HOMEPORT_MODEL_LOAD_WAIT_S": "1",  # a multi-model endpoint's slow load is ModelNotReady after 1 s
        "HOMEPORT_SERVERLESS_IDLE_S": "1",  # a serverless endpoint's instances stop after 1 s without requests
        "HOMEPORT_CAPTURE_FLUSH_S": "0.2",  # captured records reach S3 within 0.2 s
        **KEYS,
    }
    with ServerProcess(tmp_path_factory.mktemp("metrics-data"), env=env) as proc:
        yield proc


@pytest.fixture(scope="module")  # per module: tests/services overrides `fast`
def cw(fast: ServerProcess) -> Any:
    return boto_client("cloudwatch", fast.url)


# Clients of the `fast` server, and the XGBoost model created on it, shared by the modules that use that server.


@pytest.fixture(scope="module")
def fsm(fast: Any) -> Any:
    return boto_client("sagemaker", fast.url)


@pytest.fixture(scope="module")
def frt(fast: Any) -> Any:
    return boto_client("sagemaker-runtime", fast.url)


@pytest.fixture(scope="module")
def fs3(fast: Any) -> Any:
    return boto_client("s3", fast.url)


@pytest.fixture(scope="module")
def faas(fast: Any) -> Any:
    return boto_client("application-autoscaling", fast.url)


@pytest.fixture(scope="module")
def fast_xgb(fsm: Any, xgb_model: dict[str, Any]) -> str:
    """The XGBoost model of the session's `xgb_model`, created on the `fast` server."""
    from tests.integration.test_transform_jobs import create_model

    return create_model(fsm, xgb_model["url"], image=XGBOOST_IMAGE)
