"""User code as the SageMaker inference toolkit runs it ([TK:transformer.py, default_inference_handler.py]).

The script is `SAGEMAKER_PROGRAM` (".py" stripped; default `inference`) in the code directory:
`SAGEMAKER_SUBMIT_DIRECTORY` (a local path or file:// URI) or `<model_dir>/code`. The code directory goes
on `sys.path`. A `requirements.txt` there is not installed (the server has no network to assume); a
warning says so.

Handlers, each optional, each may take a trailing `context` argument (arity-checked):
`model_fn(model_dir)`, then per request either `transform_fn(model, input_data, content_type, accept)`
or `input_fn(input_data, content_type)` → `predict_fn(data, model)` → `output_fn(prediction, accept)`.
Defining `transform_fn` with any of the other three is a ValueError at load. The model is loaded before
the server listens (the toolkit loads it on the first request; readiness on `/ping` is more useful).
`application/json` and `text/csv` bodies reach `input_fn` as `str`, others as `bytes`. A missing or
`*/*` Accept becomes `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT` (default `application/json`).
`output_fn`/`transform_fn` return the body (bytes or str) or `(body, content_type)`; otherwise the
response's Content-Type is the Accept.

Defaults: `model_fn` per runtime (sklearn: `model.joblib`/`model.pkl` with joblib; xgboost script mode:
the XGBoost loader; toolkit: none, so a script must define it). `input_fn` decodes JSON, CSV (a 2-D
float array: one line is one record, unlike `np.genfromtxt`, which squeezes a single row to 1-D), NPY,
NPZ. `predict_fn` calls `model.predict(data)`. `output_fn` encodes the first of JSON, CSV, NPY found in
the Accept list, else 406.

Errors: an unsupported content type is 415, an unsupported Accept 406, undecodable input 400; an
exception from user code is 500 with its type and message (the toolkit's generic handler), unless it has
an integer `status_code` attribute between 400 and 599 (as the toolkit's `GenericInferenceToolkitError`
does), which is used instead.

Handlers block, so they run in a pool of `workers` threads and `/ping` stays responsive.

CustomAttributes: handlers that take `context` get a `Context` with `custom_attributes` (the request's
`X-Amzn-SageMaker-Custom-Attributes`, or None) and `request_headers` (lower-case names). Setting
`context.response_custom_attributes` sends that header back; `context.response_headers` may add others.
The MMS/TorchServe accessors that framework-container code uses also work: `get_request_header(0, name)`,
`get_all_request_header(0)`, `set_response_header(0, name, value)`, `set_response_content_type(0, value)`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from homeport.runtime.content import CSV, JSON, TOOLKIT_OUTPUTS, decode, encode, media_type, negotiate
from homeport.runtime.environment import ContainerEnvironment
from homeport.runtime.errors import (
    BadRequest,
    InvocationError,
    ModelLoadError,
    first_line,
    missing_dependency,
)
from homeport.runtime.server import CUSTOM_ATTRIBUTES, Invocation, Reply

DEFAULT_PROGRAM = "inference"
_UTF8_TYPES = (JSON, CSV)  # bodies the toolkit hands to input_fn as str
_CHAIN = ("input_fn", "predict_fn", "output_fn")

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What a handler that takes `context` sees of the request, and how it adds response headers."""

    custom_attributes: str | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    response_custom_attributes: str | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_content_type: str | None = None

    def get_request_header(self, idx: int, key: str) -> str | None:
        return self.request_headers.get(key.lower())

    def get_all_request_header(self, idx: int) -> dict[str, str]:
        return dict(self.request_headers)

    def set_response_header(self, idx: int, key: str, value: str) -> None:
        if key.lower() == CUSTOM_ATTRIBUTES:
            self.response_custom_attributes = value
        else:
            self.response_headers[key.lower()] = value

    def set_response_content_type(self, idx: int, value: str) -> None:
        self.response_content_type = value


# --- defaults --------------------------------------------------------------------------------------


def no_model_fn(model_dir: str) -> Any:
    raise ModelLoadError(
        f"no model_fn: the inference script must define model_fn(model_dir) to load the model in {model_dir}"
    )


def joblib_model_fn(model_dir: str) -> Any:
    """The scikit-learn container's loader: `model.joblib` (or `model.pkl`) with joblib."""
    for name in ("model.joblib", "model.pkl", "model.pickle"):
        path = Path(model_dir) / name
        if path.is_file():
            try:
                import joblib
            except ImportError:
                raise missing_dependency("joblib", "sklearn") from None
            return joblib.load(path)
    raise ModelLoadError(
        f"no model.joblib or model.pkl in {model_dir}; save the model with "
        "joblib.dump(model, 'model.joblib') or define model_fn in the inference script"
    )


def default_input_fn(input_data: str | bytes, content_type: str | None) -> Any:
    return decode(input_data, content_type)


def default_predict_fn(data: Any, model: Any) -> Any:
    predict = getattr(model, "predict", None)
    if not callable(predict):
        raise TypeError(
            f"the model ({type(model).__name__}) has no predict method; define predict_fn in the inference script"
        )
    return predict(data)


def default_output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    media = negotiate(accept, TOOLKIT_OUTPUTS, JSON)
    return encode(prediction, media), media


@dataclass(frozen=True)
class Defaults:
    """The handlers a runtime supplies where the user's script defines none."""

    model_fn: Callable[..., Any] = no_model_fn
    input_fn: Callable[..., Any] = default_input_fn
    predict_fn: Callable[..., Any] = default_predict_fn
    output_fn: Callable[..., Any] = default_output_fn


# --- the user's script -----------------------------------------------------------------------------


def find_script(model_dir: Path, env: ContainerEnvironment) -> Path | None:
    """The user's inference script, or None when there is none (and none was asked for)."""
    code_dir = env.code_directory(model_dir)
    program = env.program or DEFAULT_PROGRAM
    script = code_dir / f"{program}.py"
    if script.is_file():
        return script
    if env.program:
        raise ModelLoadError(f"SAGEMAKER_PROGRAM={env.program}: no {script.name} in {code_dir}")
    return None


def import_script(script: Path, packages: str | None = None) -> ModuleType:
    """Import the user's script, its directory on the path, and before it the packages its requirements.txt
    installed (homeport installs them into an environment of their own, `engines/requirements.py`)."""
    for where in (str(script.parent), packages):
        if where and where not in sys.path:
            sys.path.insert(0, where)
    spec = importlib.util.spec_from_file_location(script.stem, script)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"cannot import {script}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[script.stem] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ModelLoadError(f"importing {script} failed: {type(exc).__name__}: {first_line(exc)}") from exc
    return module


@dataclass(frozen=True)
class Handler:
    """A handler function and whether it takes the trailing `context` argument."""

    fn: Callable[..., Any]
    takes_context: bool

    @classmethod
    def of(cls, fn: Callable[..., Any], arity: int) -> Handler:
        try:
            parameters = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            return cls(fn, False)
        positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        return cls(fn, len(positional) > arity)

    def __call__(self, context: Context, *args: Any) -> Any:
        return self.fn(*args, context) if self.takes_context else self.fn(*args)


@dataclass(frozen=True)
class Handlers:
    model_fn: Handler
    input_fn: Handler
    predict_fn: Handler
    output_fn: Handler
    transform_fn: Handler | None

    @classmethod
    def resolve(cls, module: ModuleType | None, defaults: Defaults) -> Handlers:
        def user(name: str) -> Callable[..., Any] | None:
            fn = getattr(module, name, None) if module is not None else None
            return fn if callable(fn) else None

        transform_fn = user("transform_fn")
        chain = [name for name in _CHAIN if user(name) is not None]
        if transform_fn is not None and chain:
            raise ValueError(
                f"the inference script defines transform_fn and {', '.join(chain)}; "
                "define either transform_fn or input_fn/predict_fn/output_fn"
            )
        return cls(
            model_fn=Handler.of(user("model_fn") or defaults.model_fn, 1),
            input_fn=Handler.of(user("input_fn") or defaults.input_fn, 2),
            predict_fn=Handler.of(user("predict_fn") or defaults.predict_fn, 2),
            output_fn=Handler.of(user("output_fn") or defaults.output_fn, 2),
            transform_fn=Handler.of(transform_fn, 4) if transform_fn is not None else None,
        )


class ToolkitHandler:
    def __init__(self, model: Any, handlers: Handlers, env: ContainerEnvironment, pool: Executor) -> None:
        self.model = model
        self._handlers = handlers
        self._default_accept = env.default_accept or JSON
        self._pool = pool

    @classmethod
    def load(
        cls,
        model_dir: Path,
        script: Path | None,
        defaults: Defaults,
        env: ContainerEnvironment,
        pool: Executor,
    ) -> ToolkitHandler:
        module = import_script(script, env.code_packages) if script is not None else None
        handlers = Handlers.resolve(module, defaults)
        model = handlers.model_fn(Context(), str(model_dir))
        log.info("loaded %s with %s", model_dir, script or "the default handlers")
        return cls(model, handlers, env, pool)

    async def invoke(self, invocation: Invocation) -> Reply:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._invoke_blocking, invocation)

    def _invoke_blocking(self, invocation: Invocation) -> Reply:
        content_type = invocation.content_type
        accept = invocation.accept
        if not accept or accept.strip() == "*/*":
            accept = self._default_accept
        context = Context(
            custom_attributes=invocation.custom_attributes,
            request_headers={k.decode("latin-1"): v.decode("latin-1") for k, v in invocation.headers},
        )
        data: str | bytes = invocation.body
        if media_type(content_type) in _UTF8_TYPES:
            try:
                data = invocation.body.decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest(f"the {content_type} body is not valid UTF-8") from None
        try:
            result = self._run(context, data, content_type, accept)
        except (InvocationError, MemoryError):  # out of memory: the container app says which limit, and stops
            raise
        except Exception as exc:
            status = getattr(exc, "status_code", None)
            log.warning("the inference script raised %s", type(exc).__name__, exc_info=True)
            message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if isinstance(status, int) and 400 <= status <= 599:
                raise InvocationError(getattr(exc, "message", None) or message, status) from exc
            raise InvocationError(message, 500) from exc
        return self._reply(result, accept, context, self._pool)

    def _run(self, context: Context, data: str | bytes, content_type: str | None, accept: str) -> Any:
        h = self._handlers
        if h.transform_fn is not None:
            return h.transform_fn(context, self.model, data, content_type, accept)
        decoded = h.input_fn(context, data, content_type)
        prediction = h.predict_fn(context, decoded, self.model)
        return h.output_fn(context, prediction, accept)

    @staticmethod
    def _reply(result: Any, accept: str, context: Context, pool: Executor) -> Reply:
        content_type = context.response_content_type or accept
        if isinstance(result, tuple) and len(result) == 2:
            result, content_type = result
        stream = None
        if isinstance(result, str):
            body = result.encode()
        elif isinstance(result, bytes | bytearray | memoryview):
            body = bytes(result)
        elif isinstance(result, Iterator):  # a generator: the reply streams, part by part
            body, stream = b"", _parts(result, pool)
        else:
            raise InvocationError(
                f"output_fn/transform_fn returned {type(result).__name__}; return bytes or str "
                "(or a (body, content_type) tuple)",
                500,
            )
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in context.response_headers.items()]
        if context.response_custom_attributes is not None:
            headers.append((CUSTOM_ATTRIBUTES.encode(), context.response_custom_attributes.encode("latin-1")))
        return Reply(body, str(content_type), headers=headers, stream=stream)


async def _parts(parts: Iterator[Any], pool: Executor) -> AsyncIterator[bytes]:
    """A generator's parts as bytes, each drawn in the handler's pool (user code may block between them)."""
    loop = asyncio.get_running_loop()
    end = object()
    while (part := await loop.run_in_executor(pool, next, parts, end)) is not end:
        if isinstance(part, str):
            yield part.encode()
        elif isinstance(part, bytes | bytearray | memoryview):
            yield bytes(part)
        else:
            raise TypeError(f"a streamed reply's parts must be bytes or str, not {type(part).__name__}")
