"""The multi-model container API ([DG:mms-container-apis]), served when `SAGEMAKER_MULTI_MODEL=true`.

The platform (homeport's data plane, or SageMaker's) decides which models live here; the container loads and
unloads them on request and says when one more would not fit:

- `POST /models` `{"model_name", "url"}` → 200 once loaded; 409 when that name is loaded already; 507 when it
  would pass the memory budget (the platform unloads a model it no longer needs and tries again).
- `GET /models[?limit=N&next_page_token=T]` → `{"models": [{"modelName", "modelUrl"}], "nextPageToken"?}`.
- `GET /models/{name}` → `{"modelName", "modelUrl"}`; `DELETE /models/{name}` → 200; both 404 when not loaded.
- `POST /models/{name}/invoke` → the model's reply, as `/invocations` gives it in a single-model container.
- `GET /ping` → 200.

Memory is accounted, not sampled: a model counts its unpacked size on disk (about what XGBoost, scikit-learn
and ONNX models hold once loaded), against `HOMEPORT_MODEL_CACHE_MB`. Sampling the process's RSS would not
do: a freed model rarely gives its pages back to the OS, and the first load's library imports would count as
the model's. A model is reserved before it loads, so concurrent loads cannot overshoot together.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from homeport.runtime.environment import ContainerEnvironment
from homeport.runtime.errors import InvocationError, ModelLoadError, first_line
from homeport.runtime.images import Runtime
from homeport.runtime.server import (
    Invocation,
    InvocationHandler,
    Receive,
    Reply,
    Scope,
    Send,
    invocation_headers,
    not_http,
    read_body,
    reply,
    text,
)

log = logging.getLogger(__name__)

DEFAULT_PAGE = 100
MAX_NAME = 1024


@dataclass(slots=True)
class LoadedModel:
    name: str
    url: str
    handler: InvocationHandler
    footprint: int  # bytes counted against the budget


def model_bytes(model_dir: Path) -> int:
    """What a model is counted as holding in memory: its files' size."""
    return sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file() and not p.is_symlink())


Loader = Callable[[Path], InvocationHandler]


class MultiModelApp:
    def __init__(self, load: Loader, *, budget_bytes: int, max_payload_bytes: int, loader_threads: int = 1):
        self._load = load
        self.budget_bytes = budget_bytes
        self.max_payload_bytes = max_payload_bytes
        self.models: dict[str, LoadedModel] = {}
        self._reserved: dict[str, int] = {}  # models being loaded: their footprint, counted already
        self._loader: Executor = ThreadPoolExecutor(loader_threads, thread_name_prefix="homeport-loader")

    @property
    def used_bytes(self) -> int:
        return sum(m.footprint for m in self.models.values()) + sum(self._reserved.values())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await not_http(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        try:
            if path == "/ping" and method in ("GET", "HEAD"):
                await reply(send, Reply())
            elif path == "/models":
                if method == "GET":
                    await self._list(scope, send)
                elif method == "POST":
                    await self._add(receive, send)
                else:
                    await text(send, 405, "use GET or POST /models", [(b"allow", b"GET, POST")])
            elif path.startswith("/models/"):
                name, _, action = path[len("/models/") :].partition("/")
                if action == "invoke" and method == "POST":
                    await self._invoke(scope, receive, send, name)
                elif action == "" and method == "GET":
                    model = self._loaded(name)
                    await _json(send, 200, {"modelName": model.name, "modelUrl": model.url})
                elif action == "" and method == "DELETE":
                    await self._remove(send, name)
                else:
                    await text(send, 404, f"no such path: {method} {path}")
            else:
                await text(
                    send,
                    404,
                    f"no such path: {method} {path}; this is a multi-model container: "
                    "POST /models to load a model, POST /models/{name}/invoke to call it",
                )
        except InvocationError as exc:
            await text(send, exc.status, exc.message)
        except Exception as exc:
            log.exception("%s %s failed", method, path)
            await text(send, 500, f"{type(exc).__name__}: {exc}")

    def _loaded(self, name: str) -> LoadedModel:
        model = self.models.get(name)
        if model is None:
            raise InvocationError(f"model {name} is not loaded", 404)
        return model

    async def _list(self, scope: Scope, send: Send) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        try:
            limit = int(query.get("limit", [DEFAULT_PAGE])[0])
            start = int(query.get("next_page_token", ["0"])[0])
        except ValueError:
            raise InvocationError("limit and next_page_token must be integers", 400) from None
        if limit < 1 or start < 0:
            raise InvocationError("limit must be at least 1 and next_page_token not negative", 400)
        names = sorted(self.models)
        page = [{"modelName": n, "modelUrl": self.models[n].url} for n in names[start : start + limit]]
        out: dict[str, Any] = {"models": page}
        if start + limit < len(names):
            out["nextPageToken"] = str(start + limit)
        await _json(send, 200, out)

    async def _add(self, receive: Receive, send: Send) -> None:
        body = await read_body(receive, 64 * 1024)
        if body is None:
            return
        try:
            request = json.loads(body)
            name, url = request["model_name"], request["url"]
        except (ValueError, KeyError, TypeError):
            raise InvocationError('send {"model_name": "...", "url": "/path/to/model"} as JSON', 400) from None
        if not isinstance(name, str) or not isinstance(url, str) or not 0 < len(name) <= MAX_NAME or "/" in name:
            raise InvocationError("model_name must be 1-1024 characters without '/', and url a path", 400)
        if name in self.models or name in self._reserved:
            raise InvocationError(f"model {name} is already loaded", 409)
        model_dir = Path(url)
        if not model_dir.is_dir():
            raise InvocationError(f"model directory {url} does not exist", 404)
        size = await asyncio.get_running_loop().run_in_executor(self._loader, model_bytes, model_dir)
        if self.used_bytes + size > self.budget_bytes:
            raise InvocationError(
                f"not enough memory for model {name}: it needs {size} bytes, {self.used_bytes} of the "
                f"{self.budget_bytes} bytes of HOMEPORT_MODEL_CACHE_MB are in use",
                507,
            )
        self._reserved[name] = size
        started = time.perf_counter()
        try:
            handler = await asyncio.get_running_loop().run_in_executor(self._loader, self._load, model_dir)
        except ModelLoadError as exc:
            raise InvocationError(str(exc), 500) from None
        except Exception as exc:
            raise InvocationError(f"cannot load model {name}: {type(exc).__name__}: {first_line(exc)}", 500) from None
        finally:
            del self._reserved[name]
        self.models[name] = LoadedModel(name, url, handler, size)
        log.debug("loaded model %s (%d bytes) in %.3f s", name, size, time.perf_counter() - started)
        await _json(send, 200, {"status": f'Model "{name}" loaded'})

    async def _remove(self, send: Send, name: str) -> None:
        self._loaded(name)
        del self.models[name]  # in-flight requests keep their handler until they finish
        await _json(send, 200, {"status": f'Model "{name}" unloaded'})

    async def _invoke(self, scope: Scope, receive: Receive, send: Send, name: str) -> None:
        handler = self._loaded(name).handler
        content_type, accept, custom, length = invocation_headers(scope["headers"])
        body = await read_body(receive, self.max_payload_bytes, length)
        if body is None:
            return
        result = await handler.invoke(Invocation(body, content_type, accept, custom, scope["headers"]))
        await reply(send, result)

    def close(self) -> None:
        self._loader.shutdown(wait=False, cancel_futures=True)


async def _json(send: Send, status: int, payload: dict[str, Any]) -> None:
    await reply(send, Reply(json.dumps(payload).encode(), "application/json", status))


def multi_model_app(runtime: Runtime, env: ContainerEnvironment, pool: Executor) -> MultiModelApp:
    from homeport.runtime.loader import load_handler

    def load(model_dir: Path) -> InvocationHandler:
        return load_handler(runtime, model_dir, env, pool)

    return MultiModelApp(
        load,
        budget_bytes=env.model_cache_bytes,
        max_payload_bytes=env.max_payload_bytes,
        loader_threads=env.workers,
    )
