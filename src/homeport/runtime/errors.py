"""Errors of the model-server process.

An `InvocationError` becomes an HTTP status with a short plain-text body; homeport's data plane turns any
non-2xx into SageMaker's ModelError (OriginalStatusCode, OriginalMessage), so the message must say what
the caller can change. A `ModelLoadError` stops the process before it listens.
"""

from __future__ import annotations

import re

# xgboost prefixes its messages with "[10:04:53] /workspace/src/predictor/utils.h:20: Check failed: …"
_NATIVE_PREFIX = re.compile(r"^\[[\d:]+\] \S+:\d+: (?:Check failed: )?")


class InvocationError(Exception):
    """A request the model server answers with `status` and `message`."""

    status = 500

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class BadRequest(InvocationError):
    status = 400


class PayloadTooLarge(InvocationError):
    status = 413


class UnsupportedMediaType(InvocationError):
    status = 415


class NotAcceptable(InvocationError):
    status = 406


class ModelLoadError(Exception):
    """The model (or the user's code) cannot be loaded; the process exits non-zero with this message."""


def missing_dependency(module: str, extra: str) -> ModelLoadError:
    return ModelLoadError(f"{module} is not installed; run: pip install 'homeport[{extra}]'")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, without the C++ source location and stack trace that
    xgboost adds and that help nobody who sent a request."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return _NATIVE_PREFIX.sub("", line)
