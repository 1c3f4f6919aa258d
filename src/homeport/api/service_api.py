"""The control-plane services over their wire protocols: SageMaker and Application Auto Scaling over AWS JSON 1.1
(`POST /` with `X-Amz-Target: <prefix>.<Operation>`), CloudWatch over AWS JSON 1.0 (what current botocore sends),
Smithy RPC v2 CBOR (`POST /service/GraniteServiceVersion20100801/operation/<Operation>`) and the query protocol
(`POST /` with a form body naming its Action: older botocore and AWS CLI v1)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from botocore.model import OperationModel

from homeport.api import query, rpcv2, shapes
from homeport.api.asgi import Send, respond
from homeport.errors import HomeportError, InternalFailure, SerializationError, UnknownOperation, ValidationError

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 8 * 1024 * 1024
JSON, CBOR, QUERY = "JSON", "CBOR", "query"  # the wire formats a request may come in

Handler = Callable[[dict[str, Any]], dict[str, Any]]
CallerHandler = Callable[[dict[str, Any], str], dict[str, Any]]  # also given the caller's access key id


class ServiceApi:
    """Dispatches each operation of one service to its handler after validating it against the service model."""

    def __init__(
        self,
        service: str,
        handlers: dict[str, Handler],
        invalid: type[HomeportError] = ValidationError,
        callers: dict[str, CallerHandler] | None = None,
    ) -> None:
        self.model = shapes.service_model(service)
        # Query-protocol services (STS) have no target prefix: their requests are found by their signing name.
        self.prefix = self.model.metadata.get("targetPrefix", self.model.metadata["endpointPrefix"])
        self.signing_name = self.model.metadata.get("signingName", self.model.metadata["endpointPrefix"])
        self.content_type = f"application/x-amz-json-{self.model.metadata.get('jsonVersion', '1.1')}".encode()
        self.handlers = handlers
        self.callers = callers or {}
        self.invalid = invalid  # the error a malformed request gets: each service names its own
        self.query_compatible = "awsQueryCompatible" in self.model.metadata

    async def __call__(
        self,
        body: bytes | None,
        send: Send,
        operation: str,
        request_headers: list[tuple[bytes, bytes]],
        wire: str = JSON,
        caller: str = "",
    ) -> None:
        """Answer one call in `wire` (JSON, CBOR or QUERY; a query request's operation is its Action, read here);
        `body` is None when it was over MAX_REQUEST_BYTES (and not read)."""
        request_id = str(uuid.uuid4())
        headers = [(b"x-amzn-requestid", request_id.encode())]
        try:
            if body is None:
                raise self.invalid("The request body is larger than 8 MB.")
            body = self._decoded(request_headers, body)
            params: Any = None
            if wire == QUERY:
                operation, params = self._action(body)
            reply = self.dispatch(operation, body, wire, params, caller)
            status = 200
            output = self.model.operation_model(operation)
            if wire == CBOR:
                payload = rpcv2.encode_reply(output.output_shape, reply)
                headers += rpcv2.RESPONSE_HEADERS
            elif wire == QUERY:
                payload = query.encode_reply(output, reply, request_id)
                headers.append((b"content-type", query.CONTENT_TYPE))
            else:
                payload = json.dumps(reply, allow_nan=False).encode()
                headers.append((b"content-type", self.content_type))
        except Exception as exc:
            if not isinstance(exc, HomeportError):
                log.exception("%s.%s failed", self.prefix, operation)
                exc = InternalFailure(f"homeport failed on {operation}; see the server log ({request_id}).")
            status = exc.status
            if wire == CBOR:
                extra, payload = rpcv2.encode_error(exc.code, exc.message, exc.sender_fault)
                headers += extra
            elif wire == QUERY:
                namespace = self.model.metadata.get("xmlNamespace", "")
                payload = query.encode_error(namespace, exc.code, exc.message, exc.sender_fault, request_id)
                headers.append((b"content-type", query.CONTENT_TYPE))
            else:
                payload = json.dumps({"__type": exc.code, "message": exc.message, **exc.extra}).encode()
                headers.append((b"content-type", self.content_type))
                if self.query_compatible:  # botocore takes the code (and fault side) from this header first
                    fault = "Sender" if exc.sender_fault else "Receiver"
                    headers.append((b"x-amzn-query-error", f"{exc.code};{fault}".encode()))
        await respond(send, status, payload, headers)

    def _decoded(self, request_headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
        try:
            return rpcv2.content_decoded(request_headers, body, MAX_REQUEST_BYTES)  # PutMetricData comes gzipped
        except ValueError as exc:
            raise self.invalid(str(exc)) from exc

    def _action(self, body: bytes) -> tuple[str, dict[str, str]]:
        try:
            return query.action(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise self.invalid(f"The request body is not a valid query request: {exc}") from exc

    def dispatch(
        self, operation: str, body: bytes, wire: str = JSON, fields: Any = None, caller: str = ""
    ) -> dict[str, Any]:
        model = self._operation(operation)
        try:
            if wire == CBOR:
                params = rpcv2.decode_request(body)
            elif wire == QUERY:
                params = query.decode_request(model.input_shape, fields)
            elif body.strip():
                params = json.loads(body)
            else:
                params = {}
        except RecursionError:  # json.loads: nesting deeper than the interpreter's stack (no shape is that deep)
            raise SerializationError(f"The request body is nested too deeply to be valid {wire}.") from None
        except ValueError as exc:
            raise self.invalid(f"The request body is not valid {wire}: {exc}") from exc
        return self.call(operation, params, caller)

    def call(self, operation: str, params: Any, caller: str = "") -> dict[str, Any]:
        """One operation, its parameters checked against the service model as a request's are: how the console
        acts, with the API's own handlers and refusals and no HTTP round trip."""
        cleaned, problems = shapes.validate(self._operation(operation), params)
        if problems:
            raise self.invalid(shapes.problem_message(problems))
        handler = self.handlers.get(operation)
        return handler(cleaned) if handler is not None else self.callers[operation](cleaned, caller)

    def _operation(self, operation: str) -> OperationModel:
        if operation not in self.model.operation_names:
            raise UnknownOperation(f"Unknown operation {self.prefix}.{operation}.")
        if operation not in self.handlers and operation not in self.callers:
            raise UnknownOperation(f"homeport does not implement {self.prefix}.{operation} yet.")
        return self.model.operation_model(operation)
