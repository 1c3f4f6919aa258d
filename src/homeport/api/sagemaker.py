"""The SageMaker control plane over AWS JSON 1.1: `POST /` with `X-Amz-Target: SageMaker.<Operation>`."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from homeport.api import shapes
from homeport.api.asgi import Send, respond
from homeport.errors import HomeportError, InternalFailure, UnknownOperation, ValidationError

log = logging.getLogger("homeport.api")

CONTENT_TYPE = b"application/x-amz-json-1.1"
MAX_REQUEST_BYTES = 8 * 1024 * 1024

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class SageMakerApi:
    """Dispatches each operation to its service method after validating it against the service model."""

    def __init__(self, handlers: dict[str, Handler]) -> None:
        self.model = shapes.service_model("sagemaker")
        self.handlers = handlers

    async def __call__(self, body: bytes | None, send: Send, target: str) -> None:
        """Answer one call; `body` is None when it was over MAX_REQUEST_BYTES (and not read)."""
        request_id = str(uuid.uuid4())
        try:
            if body is None:
                raise ValidationError("The request body is larger than 8 MB.")
            reply = self.dispatch(target, body)
            status, payload = 200, json.dumps(reply).encode()
        except HomeportError as exc:
            status, payload = _error(exc)
        except Exception:
            log.exception("%s failed", target)
            failure = InternalFailure(f"homeport failed on {target}; see the server log ({request_id}).")
            status, payload = _error(failure)
        await respond(
            send, status, payload, [(b"content-type", CONTENT_TYPE), (b"x-amzn-requestid", request_id.encode())]
        )

    def dispatch(self, target: str, body: bytes) -> dict[str, Any]:
        prefix, _, operation = target.partition(".")
        if prefix != "SageMaker" or operation not in self.model.operation_names:
            raise UnknownOperation(f"Unknown operation {target}.")
        handler = self.handlers.get(operation)
        if handler is None:
            raise UnknownOperation(f"homeport does not implement SageMaker.{operation} yet.")
        try:
            params = json.loads(body) if body.strip() else {}
        except ValueError as exc:
            raise ValidationError(f"The request body is not valid JSON: {exc}") from exc
        cleaned, problems = shapes.validate(self.model.operation_model(operation), params)
        if problems:
            raise ValidationError(shapes.problem_message(problems))
        return handler(cleaned)


def _error(exc: HomeportError) -> tuple[int, bytes]:
    return exc.status, json.dumps({"__type": exc.code, "message": exc.message, **exc.extra}).encode()
