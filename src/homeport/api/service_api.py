"""The control-plane services over their wire protocols: SageMaker and Application Auto Scaling over AWS JSON 1.1
(`POST /` with `X-Amz-Target: <prefix>.<Operation>`), CloudWatch over AWS JSON 1.0 and Smithy RPC v2 CBOR
(`POST /service/GraniteServiceVersion20100801/operation/<Operation>`, what current botocore sends)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from homeport.api import rpcv2, shapes
from homeport.api.asgi import Send, respond
from homeport.errors import HomeportError, InternalFailure, UnknownOperation, ValidationError

log = logging.getLogger("homeport.api")

MAX_REQUEST_BYTES = 8 * 1024 * 1024

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ServiceApi:
    """Dispatches each operation of one service to its handler after validating it against the service model."""

    def __init__(
        self, service: str, handlers: dict[str, Handler], invalid: type[HomeportError] = ValidationError
    ) -> None:
        self.model = shapes.service_model(service)
        self.prefix = self.model.metadata["targetPrefix"]
        self.content_type = f"application/x-amz-json-{self.model.metadata.get('jsonVersion', '1.1')}".encode()
        self.handlers = handlers
        self.invalid = invalid  # the error a malformed request gets: each service names its own
        self.query_compatible = "awsQueryCompatible" in self.model.metadata

    async def __call__(
        self,
        body: bytes | None,
        send: Send,
        operation: str,
        request_headers: list[tuple[bytes, bytes]],
        cbor: bool = False,
    ) -> None:
        """Answer one call; `body` is None when it was over MAX_REQUEST_BYTES (and not read)."""
        request_id = str(uuid.uuid4())
        headers = [(b"x-amzn-requestid", request_id.encode())]
        try:
            if body is None:
                raise self.invalid("The request body is larger than 8 MB.")
            reply = self.dispatch(operation, body, request_headers, cbor)
            status = 200
            if cbor:
                payload = rpcv2.encode_reply(self.model.operation_model(operation).output_shape, reply)
                headers += rpcv2.RESPONSE_HEADERS
            else:
                payload = json.dumps(reply).encode()
                headers.append((b"content-type", self.content_type))
        except Exception as exc:
            if not isinstance(exc, HomeportError):
                log.exception("%s.%s failed", self.prefix, operation)
                exc = InternalFailure(f"homeport failed on {operation}; see the server log ({request_id}).")
            status = exc.status
            if cbor:
                extra, payload = rpcv2.encode_error(exc.code, exc.message, exc.sender_fault)
                headers += extra
            else:
                payload = json.dumps({"__type": exc.code, "message": exc.message, **exc.extra}).encode()
                headers.append((b"content-type", self.content_type))
                if self.query_compatible:  # botocore takes the code (and fault side) from this header first
                    fault = "Sender" if exc.sender_fault else "Receiver"
                    headers.append((b"x-amzn-query-error", f"{exc.code};{fault}".encode()))
        await respond(send, status, payload, headers)

    def dispatch(
        self, operation: str, body: bytes, request_headers: list[tuple[bytes, bytes]], cbor: bool
    ) -> dict[str, Any]:
        if operation not in self.model.operation_names:
            raise UnknownOperation(f"Unknown operation {self.prefix}.{operation}.")
        handler = self.handlers.get(operation)
        if handler is None:
            raise UnknownOperation(f"homeport does not implement {self.prefix}.{operation} yet.")
        try:
            body = rpcv2.content_decoded(request_headers, body, MAX_REQUEST_BYTES)  # PutMetricData comes gzipped
            if cbor:
                params = rpcv2.decode_request(body)
            elif body.strip():
                params = json.loads(body)
            else:
                params = {}
        except ValueError as exc:
            raise self.invalid(f"The request body is not valid {'CBOR' if cbor else 'JSON'}: {exc}") from exc
        cleaned, problems = shapes.validate(self.model.operation_model(operation), params)
        if problems:
            raise self.invalid(shapes.problem_message(problems))
        return handler(cleaned)
