"""The multi-model container API (`SAGEMAKER_MULTI_MODEL=true`): loading, listing, unloading, invoking, 507."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from homeport.runtime.__main__ import container_app
from homeport.runtime.environment import ContainerEnvironment
from homeport.runtime.images import Runtime
from homeport.runtime.multi_model import MultiModelApp, model_bytes
from tests.runtime.conftest import App, csv_body, features, run


def model_copy(xgb_dir: Path, root: Path, name: str, padding: int = 0) -> Path:
    target = root / name
    target.mkdir()
    (target / "xgboost-model").write_bytes((xgb_dir / "xgboost-model").read_bytes())
    if padding:
        (target / "padding.bin").write_bytes(b"\0" * padding)
    return target


@pytest.fixture
def mme(tmp_path: Path) -> Any:
    pools: list[ThreadPoolExecutor] = []

    def make(cache_mb: float = 64.0) -> App:
        env = ContainerEnvironment.from_environ(
            {"SAGEMAKER_MULTI_MODEL": "true", "HOMEPORT_MODEL_CACHE_MB": str(cache_mb)}
        )
        pool = ThreadPoolExecutor(1)
        pools.append(pool)
        app = container_app(Runtime.XGBOOST, tmp_path / "unused", env, pool)
        assert isinstance(app, MultiModelApp)
        return App(app, pool)  # type: ignore[arg-type]

    yield make
    for pool in pools:
        pool.shutdown(wait=True)


def load(app: App, name: str, url: Path | str) -> httpx.Response:
    return app.request("POST", "/models", json={"model_name": name, "url": str(url)})


def test_load_invoke_list_and_unload(mme: Any, xgb_dir: Path, tmp_path: Path, booster: Any) -> None:
    app = mme()
    assert app.request("GET", "/ping").status_code == 200
    assert app.request("GET", "/models").json() == {"models": []}
    a = model_copy(xgb_dir, tmp_path, "a")
    reply = load(app, "a", a)
    assert reply.status_code == 200, reply.text
    assert load(app, "a", a).status_code == 409
    assert app.request("GET", "/models/a").json() == {"modelName": "a", "modelUrl": str(a)}
    x = features(3)
    scored = app.request("POST", "/models/a/invoke", content=csv_body(x), headers={"Content-Type": "text/csv"})
    assert scored.status_code == 200
    np.testing.assert_allclose(np.array(scored.text.split(), dtype=np.float32), booster.inplace_predict(x), rtol=1e-6)
    assert app.request("DELETE", "/models/a").status_code == 200
    for method, path in (("GET", "/models/a"), ("DELETE", "/models/a"), ("POST", "/models/a/invoke")):
        assert app.request(method, path).status_code == 404
    assert app.request("GET", "/models").json() == {"models": []}


def test_listing_is_paginated(mme: Any, xgb_dir: Path, tmp_path: Path) -> None:
    app = mme()
    for name in ("c", "a", "b"):
        assert load(app, name, model_copy(xgb_dir, tmp_path, name)).status_code == 200
    first = app.request("GET", "/models", params={"limit": 2}).json()
    assert [m["modelName"] for m in first["models"]] == ["a", "b"]
    rest = app.request("GET", "/models", params={"limit": 2, "next_page_token": first["nextPageToken"]}).json()
    assert [m["modelName"] for m in rest["models"]] == ["c"] and "nextPageToken" not in rest
    for bad in ({"limit": "x"}, {"limit": 0}, {"next_page_token": "-1"}):
        assert app.request("GET", "/models", params=bad).status_code == 400


def test_a_model_past_the_budget_gets_507_until_another_is_unloaded(mme: Any, xgb_dir: Path, tmp_path: Path) -> None:
    app = mme(cache_mb=1.0)
    a, b = (model_copy(xgb_dir, tmp_path, n, padding=400_000) for n in ("a", "b"))
    c = model_copy(xgb_dir, tmp_path, "c", padding=400_000)
    assert model_bytes(a) > 400_000
    assert load(app, "a", a).status_code == 200
    assert load(app, "b", b).status_code == 200
    full = load(app, "c", c)
    assert full.status_code == 507 and "HOMEPORT_MODEL_CACHE_MB" in full.text
    assert app.request("DELETE", "/models/a").status_code == 200
    assert load(app, "c", c).status_code == 200
    too_big = model_copy(xgb_dir, tmp_path, "huge", padding=2_000_000)
    assert load(app, "huge", too_big).status_code == 507


def test_concurrent_loads_cannot_overshoot_the_budget(mme: Any, xgb_dir: Path, tmp_path: Path) -> None:
    app = mme(cache_mb=1.0)
    dirs = [model_copy(xgb_dir, tmp_path, f"m{i}", padding=400_000) for i in range(4)]

    async def go() -> list[int]:
        async with app.client() as client:
            replies = await asyncio.gather(
                *(client.post("/models", json={"model_name": d.name, "url": str(d)}) for d in dirs)
            )
        return sorted(r.status_code for r in replies)

    assert run(go()) == [200, 200, 507, 507]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b'{"model_name": "a"}', 400),
        (b'{"model_name": "a/b", "url": "/tmp"}', 400),
        (b'{"model_name": 3, "url": "/tmp"}', 400),
        (b'{"model_name": "a", "url": "/no/such/dir"}', 404),
    ],
)
def test_bad_load_requests(mme: Any, body: bytes, status: int) -> None:
    reply = mme().request("POST", "/models", content=body)
    assert reply.status_code == status, reply.text


def test_a_model_that_cannot_load_is_500_and_frees_its_reservation(mme: Any, tmp_path: Path) -> None:
    app = mme(cache_mb=1.0)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "xgboost-model").write_bytes(b"\0" * 300_000)
    reply = load(app, "broken", broken)
    assert reply.status_code == 500 and "broken" in reply.text
    assert app.app.used_bytes == 0  # type: ignore[attr-defined]
    assert app.request("GET", "/models").json() == {"models": []}


def test_other_paths(mme: Any) -> None:
    app = mme()
    assert app.request("POST", "/invocations", content=b"1").status_code == 404
    assert app.request("PUT", "/models").status_code == 405
    assert app.request("PUT", "/models/a/invoke").status_code == 404


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf"])
def test_the_cache_size_must_be_a_positive_number(value: str) -> None:
    with pytest.raises(ValueError, match="HOMEPORT_MODEL_CACHE_MB"):
        ContainerEnvironment.from_environ({"HOMEPORT_MODEL_CACHE_MB": value})


def test_the_default_budget_is_half_the_machine(tmp_path: Path) -> None:
    env = ContainerEnvironment.from_environ({"SAGEMAKER_MULTI_MODEL": "1"})
    assert env.multi_model and env.model_cache_bytes > 64 * 1024 * 1024
