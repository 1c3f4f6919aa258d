"""Shared fixtures: tiny models trained in the test, and an in-process client for the ASGI app."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import pytest

from homeport.runtime.environment import ContainerEnvironment
from homeport.runtime.images import Runtime
from homeport.runtime.loader import load_handler
from homeport.runtime.server import ContainerApp

T = TypeVar("T")
FEATURES = 10


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def features(rows: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((rows, FEATURES))


def csv_body(rows: np.ndarray) -> bytes:
    return "\n".join(",".join(repr(float(v)) for v in row) for row in rows).encode()


@pytest.fixture(scope="session")
def booster() -> Any:
    xgb = pytest.importorskip("xgboost")
    X = features(300)
    y = X @ np.linspace(0.1, 1.0, FEATURES)
    return xgb.train({"max_depth": 3, "nthread": 1}, xgb.DMatrix(X, label=y), num_boost_round=10)


@pytest.fixture(scope="session")
def multiclass_booster() -> Any:
    xgb = pytest.importorskip("xgboost")
    X = features(300, seed=1)
    y = (X[:, 0] * 3).astype(int)
    params = {"objective": "multi:softprob", "num_class": 3, "max_depth": 2, "nthread": 1}
    return xgb.train(params, xgb.DMatrix(X, label=y), num_boost_round=5)


@pytest.fixture
def xgb_dir(tmp_path: Path, booster: Any) -> Path:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    booster.save_model(str(model_dir / "xgboost-model.json"))
    (model_dir / "xgboost-model.json").rename(model_dir / "xgboost-model")
    return model_dir


class App:
    """The ASGI app of one model, with an httpx client bound to it in-process."""

    def __init__(self, app: ContainerApp, pool: ThreadPoolExecutor) -> None:
        self.app = app
        self.pool = pool

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://model")

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            async with self.client() as client:
                return await client.request(method, path, **kwargs)

        return run(go())

    def invoke(
        self,
        body: bytes | str,
        content_type: str | None = "text/csv",
        accept: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if content_type is not None:
            sent["Content-Type"] = content_type
        if accept is not None:
            sent["Accept"] = accept
        return self.request("POST", "/invocations", content=body, headers=sent)


@pytest.fixture
def make_app() -> Iterator[Any]:
    pools: list[ThreadPoolExecutor] = []

    def make(runtime: str, model_dir: Path, env: Mapping[str, str] | None = None, workers: int | None = None) -> App:
        settings = ContainerEnvironment.from_environ(env or {}, workers=workers)
        pool = ThreadPoolExecutor(settings.workers)
        pools.append(pool)
        handler = load_handler(Runtime(runtime), model_dir, settings, pool)
        app = ContainerApp(
            handler,
            max_payload_bytes=settings.max_payload_bytes,
            workers=settings.workers,
            max_payload_mb=settings.max_payload_mb,
        )
        return App(app, pool)

    yield make
    for pool in pools:
        pool.shutdown(wait=True)
