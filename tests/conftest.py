"""Shared fixtures: a real `homeport serve` on an ephemeral port, boto3 clients, small real models."""

from __future__ import annotations

import itertools
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::000000000000:role/homeport-tests"
_names = itertools.count(1)


# The key pair every test server is started with and every test client signs with.
KEYS = {"HOMEPORT_ACCESS_KEY_ID": "homeport", "HOMEPORT_SECRET_ACCESS_KEY": "homeport-secret"}


# Tests outside tests/integration/ that start real processes (model servers, the zygote) all the same.
PROCESS_TESTS = {"engines/test_local.py", "runtime/test_process.py"}
TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`pytest -m "not integration"` is the fast tier: everything in one process, no server, no instance."""
    for item in items:
        relative = item.path.relative_to(TESTS)
        if relative.parts[0] in ("integration", "postgresql", "console") or relative.as_posix() in PROCESS_TESTS:
            item.add_marker(pytest.mark.integration)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


def boto_client(service: str, url: str, **config: Any) -> Any:
    import boto3
    from botocore.config import Config

    from tests.inprocess import SERVERS, ASGISession

    client = boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="homeport",
        aws_secret_access_key="homeport-secret",
        config=Config(retries={"max_attempts": 1}, read_timeout=90, **config),
    )
    if url in SERVERS:  # a server in this process (tests/inprocess.py): no socket
        client._endpoint.http_session = ASGISession(SERVERS[url].http)
    return client


def synthetic_regression(rows: int = 300, features: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    y = x @ np.arange(1, features + 1, dtype=np.float32) + rng.normal(scale=0.1, size=rows).astype(np.float32)
    return x, y


def pack(directory: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        for item in sorted(directory.iterdir()):
            tar.add(item, item.name)
    return archive


@pytest.fixture(scope="session")
def xgb_model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A trained XGBoost booster saved as the built-in container's `xgboost-model`, and its archive."""
    import xgboost

    root = tmp_path_factory.mktemp("xgb")
    x, y = synthetic_regression()
    booster = xgboost.train(
        {"max_depth": 3, "eta": 0.3, "objective": "reg:squarederror"}, xgboost.DMatrix(x, label=y), num_boost_round=10
    )
    model_dir = root / "model"
    model_dir.mkdir()
    booster.save_model(str(model_dir / "model.ubj"))
    (model_dir / "model.ubj").rename(model_dir / "xgboost-model")
    archive = pack(model_dir, root / "model.tar.gz")
    return {"booster": booster, "x": x, "url": archive.as_uri(), "path": archive}


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from homeport.server.process import ServerProcess

    data_dir = tmp_path_factory.mktemp("homeport-data")
    # Captured records written every second (10 s by default), so that tests read them soon after the requests.
    with ServerProcess(
        data_dir, env={"HOMEPORT_LOG_LEVEL": "warning", "HOMEPORT_CAPTURE_FLUSH_S": "1", **KEYS}
    ) as proc:
        yield proc


@pytest.fixture(scope="module")
def remote() -> Iterator[str]:
    """An external S3-compatible store on loopback (moto's server): its URL."""
    server_mod = pytest.importorskip("moto.server")
    moto = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        yield f"http://127.0.0.1:{moto._server.server_port}"
    finally:
        moto.stop()


@pytest.fixture(scope="module")  # per module: tests/services overrides `server`
def sm(server: Any) -> Any:
    return boto_client("sagemaker", server.url)


@pytest.fixture(scope="module")  # per module: tests/services overrides `server`
def runtime(server: Any) -> Any:
    return boto_client("sagemaker-runtime", server.url)


@pytest.fixture(scope="module")  # per module: tests/services overrides `server`
def s3(server: Any) -> Any:
    return boto_client("s3", server.url)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = unique("bucket")
    s3.create_bucket(Bucket=name)
    return name


def state_events(logs: Any, kind: str, key: str, name: str) -> list[dict[str, Any]]:
    """The state-change events of the `kind` ("training-job", …) whose detail's `key` is `name`, in order, from the
    server's event log (services/events.py)."""
    found = logs.filter_log_events(
        logGroupName="/aws/events/homeport", logStreamNames=[f"{kind}-state-change"], filterPattern=f'"{name}"'
    )["events"]
    return [e for e in (json.loads(f["message"]) for f in found) if e["detail"].get(key) == name]


def wait_in_service(sm: Any, name: str) -> dict[str, Any]:
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    return dict(sm.describe_endpoint(EndpointName=name))


def deploy(
    sm: Any,
    model_url: str,
    *,
    image: str = XGBOOST_IMAGE,
    count: int = 1,
    variants: int = 1,
    environment: dict[str, str] | None = None,
    wait: bool = True,
    **container_fields: Any,
) -> dict[str, str]:
    """Create model, config and endpoint; return their names. `container_fields`: more of the container's
    definition (Mode, MultiModelConfig)."""
    model = unique("model")
    container: dict[str, Any] = {"Image": image, "ModelDataUrl": model_url, **container_fields}
    if environment:
        container["Environment"] = environment
    sm.create_model(ModelName=model, PrimaryContainer=container, ExecutionRoleArn=ROLE)
    config = unique("config")
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": f"v{i}",
                "ModelName": model,
                "InitialInstanceCount": count,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 1.0,
            }
            for i in range(1, variants + 1)
        ],
    )
    endpoint = unique("endpoint")
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    if wait:
        wait_in_service(sm, endpoint)
    return {"model": model, "config": config, "endpoint": endpoint}


def csv_rows(x: np.ndarray) -> bytes:
    return "\n".join(",".join(repr(float(v)) for v in row) for row in x).encode()


def assert_scores(reply: bytes, model: dict[str, Any], x: np.ndarray) -> None:
    """A CSV reply (one score per line) holds the trained booster's scores for the rows `x`."""
    np.testing.assert_allclose(
        np.array(reply.split(), dtype=np.float32), model["booster"].inplace_predict(x), rtol=1e-6
    )


def probe_wheel(folder: Path, value: int = 42) -> str:
    """A wheel of one module, `homeport_probe_dep` (VALUE = `value`), built by hand: something pip installs from
    a file, with no index to reach. Returns its file name."""
    import base64
    import hashlib
    import zipfile

    name = "homeport_probe_dep-1.0-py3-none-any.whl"
    files = {
        "homeport_probe_dep.py": f"VALUE = {value}\n".encode(),
        "homeport_probe_dep-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: homeport-probe-dep\nVersion: 1.0\n",
        "homeport_probe_dep-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = [
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for path, data in files.items()
    ]
    files["homeport_probe_dep-1.0.dist-info/RECORD"] = (
        "\n".join([*record, "homeport_probe_dep-1.0.dist-info/RECORD,,"]) + "\n"
    ).encode()
    with zipfile.ZipFile(folder / name, "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
    return name


@pytest.fixture
def webhook() -> Iterator[Any]:
    """A receiver of notifications and alarm actions (`Webhook`), for one test."""
    from tests.integration.test_async_notifications import Webhook

    hook = Webhook()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()
