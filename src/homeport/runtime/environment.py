"""The container's settings: SageMaker's environment variables, read once at start.

Nothing here reads `os.environ` at import time; `__main__` passes the process environment in.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_PAYLOAD = 6 * 1024 * 1024  # InvokeEndpoint's body limit, 6291456 bytes
UNLIMITED = 1 << 62


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(float(raw))
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not a number") from None
    if value < minimum:
        raise ValueError(f"environment variable {name}={raw!r} must be at least {minimum}")
    return value


def _megabytes(env: Mapping[str, str], name: str, default: float) -> int:
    """A size in MB (fractions allowed) as bytes."""
    raw = env.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not a number") from None
    if not 0 < value < 1e12:  # (NaN and infinity too)
        raise ValueError(f"environment variable {name}={raw!r} must be a size in MB, more than 0")
    return int(value * 1024 * 1024)


def _half_of_memory_mb() -> int:
    """A multi-model container's default budget: half the machine's memory (the rest for the runtime, the
    server and the requests in flight)."""
    try:
        return max(1, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (2 * 1024 * 1024))
    except (ValueError, OSError, AttributeError):  # no sysconf: assume a small machine
        return 2048


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


@dataclass(frozen=True, slots=True)
class ContainerEnvironment:
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD
    default_accept: str | None = None  # SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT; each runtime has its own default
    workers: int = 1  # threads for blocking work; reported as MaxConcurrentTransforms
    model_threads: int = 1  # the booster's nthread
    program: str | None = None  # SAGEMAKER_PROGRAM, ".py" stripped
    submit_directory: str | None = None  # SAGEMAKER_SUBMIT_DIRECTORY, as given
    code_packages: str | None = None  # HOMEPORT_CODE_PACKAGES: where the code's requirements.txt was installed
    batch: bool = False  # SAGEMAKER_BATCH: batch transform output framing
    log_level: int = logging.INFO
    multi_model: bool = False  # SAGEMAKER_MULTI_MODEL: serve the multi-model container API
    model_cache_bytes: int = 0  # HOMEPORT_MODEL_CACHE_MB: what a multi-model container's models may hold
    pipeline: str | None = None  # HOMEPORT_PIPELINE: the containers of a multi-container model (runtime/pipeline.py)
    memory_limit_mb: int = 0  # HOMEPORT_MEMORY_LIMIT_MB: a serverless variant's MemorySizeInMB (0: none)

    @classmethod
    def from_environ(cls, env: Mapping[str, str], workers: int | None = None) -> ContainerEnvironment:
        if env.get("SAGEMAKER_MAX_PAYLOAD_IN_MB", "").strip():
            # 0: batch transform's "no limit" (the body comes with chunked transfer encoding).
            max_payload = _int(env, "SAGEMAKER_MAX_PAYLOAD_IN_MB", 6, minimum=0) * 1024 * 1024 or UNLIMITED
        else:
            max_payload = _int(env, "MAX_CONTENT_LENGTH", DEFAULT_MAX_PAYLOAD)
        program = env.get("SAGEMAKER_PROGRAM", "").strip() or None
        if program and program.endswith(".py"):
            program = program[: -len(".py")]
        level_name = env.get("SAGEMAKER_CONTAINER_LOG_LEVEL", "").strip()
        if level_name.isdigit():
            log_level = int(level_name)
        else:
            log_level = logging.getLevelNamesMapping().get(level_name.upper(), logging.INFO)
        return cls(
            max_payload_bytes=max_payload,
            default_accept=env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "").strip() or None,
            workers=workers if workers is not None else _int(env, "SAGEMAKER_MODEL_SERVER_WORKERS", 1),
            model_threads=_int(env, "HOMEPORT_MODEL_THREADS", 1),
            program=program,
            submit_directory=env.get("SAGEMAKER_SUBMIT_DIRECTORY", "").strip() or None,
            code_packages=env.get("HOMEPORT_CODE_PACKAGES", "").strip() or None,
            batch=_truthy(env.get("SAGEMAKER_BATCH")),
            log_level=log_level,
            multi_model=_truthy(env.get("SAGEMAKER_MULTI_MODEL")),
            model_cache_bytes=_megabytes(env, "HOMEPORT_MODEL_CACHE_MB", _half_of_memory_mb()),
            pipeline=env.get("HOMEPORT_PIPELINE", "").strip() or None,
            memory_limit_mb=_int(env, "HOMEPORT_MEMORY_LIMIT_MB", 0, minimum=0),
        )

    def code_directory(self, model_dir: Path) -> Path:
        """Where user code lives: SAGEMAKER_SUBMIT_DIRECTORY (a path or file:// URI) or `<model_dir>/code`."""
        where = self.submit_directory
        if not where:
            return model_dir / "code"
        if where.startswith("file://"):
            return Path(where[len("file://") :])
        if "://" in where:
            # An s3:// source archive is fetched and unpacked by homeport's engine, not by the model server.
            raise ValueError(
                f"SAGEMAKER_SUBMIT_DIRECTORY={where} is not a local directory; the model server reads code "
                "from a local path or file:// URI"
            )
        return Path(where)

    @property
    def max_payload_mb(self) -> int:
        if self.max_payload_bytes >= UNLIMITED:
            return 0
        return max(1, self.max_payload_bytes // (1024 * 1024))
