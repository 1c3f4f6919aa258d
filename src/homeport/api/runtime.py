"""The SageMaker runtime API: `POST /endpoints/{EndpointName}/invocations` (InvokeEndpoint)."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.model import OperationModel

from homeport.api import eventstream, shapes
from homeport.api.asgi import Send, respond
from homeport.core.arns import log_group
from homeport.dataplane.connection import InstanceDropped, InstanceTimeout, InstanceUnreachable, Streamed
from homeport.dataplane.multi_model import ModelLoadFailed, ModelNotReady, TargetModelError
from homeport.dataplane.router import (
    MissingTargetModel,
    NoHealthyInstance,
    NoRoute,
    NotMultiModel,
    NotStreamable,
    Router,
    TargetContainerError,
    UnknownVariant,
)
from homeport.dataplane.serverless import ColdStartFailed, PayloadTooLarge, Throttled
from homeport.errors import (
    HomeportError,
    InternalFailure,
    ModelError,
    ModelNotReadyException,
    RuntimeValidationError,
    ServiceUnavailable,
    ThrottlingException,
)
from homeport.runtime import pipeline
from homeport.services.async_invocations import AsyncInvocationService
from homeport.settings import Settings

log = logging.getLogger(__name__)

MAX_BODY = 6 * 1024 * 1024  # 6 MB, as SageMaker's BodyBlob
JSON = b"application/json"

# Request headers passed on to the instance, by their SageMaker names.
FORWARDED = {
    b"content-type": "Content-Type",
    b"accept": "Accept",
    b"x-amzn-sagemaker-custom-attributes": "X-Amzn-SageMaker-Custom-Attributes",
    b"x-amzn-sagemaker-inference-id": "X-Amzn-SageMaker-Inference-Id",
}
# InvokeEndpointWithResponseStream sends Accept as X-Amzn-SageMaker-Accept.
STREAM_FORWARDED = {
    **{k: v for k, v in FORWARDED.items() if k != b"accept"},
    b"x-amzn-sagemaker-accept": "Accept",
}
TARGET_VARIANT = b"x-amzn-sagemaker-target-variant"
TARGET_MODEL = b"x-amzn-sagemaker-target-model"
UNSUPPORTED = {
    b"x-amzn-sagemaker-inference-component": "InferenceComponentName",
    b"x-amzn-sagemaker-session-id": "SessionId (stateful sessions)",
}


# InvokeEndpointAsync's parameters: header → SageMaker name.
ASYNC_HEADERS = {
    b"x-amzn-sagemaker-content-type": "ContentType",
    b"x-amzn-sagemaker-accept": "Accept",
    b"x-amzn-sagemaker-custom-attributes": "CustomAttributes",
    b"x-amzn-sagemaker-inference-id": "InferenceId",
    b"x-amzn-sagemaker-inputlocation": "InputLocation",
    b"x-amzn-sagemaker-s3outputpathextension": "S3OutputPathExtension",
    b"x-amzn-sagemaker-filename": "Filename",
    b"x-amzn-sagemaker-requestttlseconds": "RequestTTLSeconds",
    b"x-amzn-sagemaker-invocationtimeoutseconds": "InvocationTimeoutSeconds",
}


@dataclass(slots=True)
class Request:
    body: bytes
    forward: list[tuple[str, str]] = field(default_factory=list)  # headers for the instance, by SageMaker's names
    target_variant: str | None = None
    target_model: str | None = None
    target_container: str | None = None


@functools.cache  # loaded at the first invocation, not at the server's start
def _operation(name: str) -> tuple[OperationModel, dict[bytes, tuple[str, bool]]]:
    """The operation's model, and its members sent as headers: header name → (member, whether an integer)."""
    model = shapes.service_model("sagemaker-runtime").operation_model(name)
    members = {
        member.serialization["name"].lower().encode(): (member_name, member.type_name == "integer")
        for member_name, member in model.input_shape.members.items()
        if member.serialization.get("location") == "header"
    }
    return model, members


def check_headers(operation: str, endpoint: str, headers: list[tuple[bytes, bytes]]) -> None:
    """The endpoint name and the parameters sent as headers, against the runtime's model (lengths, patterns): the
    ValidationError SageMaker gives, before anything reaches a model."""
    members = _operation(operation)[1]
    _check(operation, endpoint, tuple((h, v) for h, v in headers if h in members))


@functools.lru_cache(maxsize=1024)  # a client sends the same few headers again and again; refusals are not kept
def _check(operation: str, endpoint: str, headers: tuple[tuple[bytes, bytes], ...]) -> None:
    params: dict[str, Any] = {"EndpointName": endpoint}
    if operation != "InvokeEndpointAsync":
        params["Body"] = ""  # the body's own limit is checked apart; here only that it is there
    model, members = _operation(operation)
    for header, value in headers:
        name, integer = members[header]
        text = value.decode("latin-1")
        params[name] = int(text) if integer and text.strip().isdigit() and len(text) < 12 else text
    _, problems = shapes.validate(model, params)
    if problems:
        raise RuntimeValidationError(shapes.problem_message(problems))


class RuntimeApi:
    def __init__(
        self,
        settings: Settings,
        router: Router,
        endpoint_status: Callable[[str], str | None],
        asynchronous: AsyncInvocationService | None = None,
    ) -> None:
        self.settings = settings
        self.router = router
        self.endpoint_status = endpoint_status  # None when the endpoint does not exist
        self.asynchronous = asynchronous

    async def invoke_async(self, scope: Any, send: Send, endpoint: str) -> None:
        """InvokeEndpointAsync: 202 with where the result and a failure will be, once the request is queued."""
        try:
            if self.asynchronous is None:
                raise RuntimeValidationError("This server does not take asynchronous invocations.")
            check_headers("InvokeEndpointAsync", endpoint, scope["headers"])
            headers = {
                ASYNC_HEADERS[name]: value.decode("latin-1")
                for name, value in scope["headers"]
                if name in ASYNC_HEADERS
            }
            route = self.router.routes.get(endpoint)
            config = route.asynchronous if route else None
            accepted = await self.asynchronous.accept(endpoint, headers, config)
        except HomeportError as exc:
            await _error(send, exc)
            return
        except Exception:
            log.exception("InvokeEndpointAsync %s failed", endpoint)
            await _error(send, InternalFailure("homeport failed to queue the request; see the server log."))
            return
        await respond(
            send,
            202,
            json.dumps({"InferenceId": accepted.inference_id}).encode(),
            [
                (b"content-type", JSON),
                (b"x-amzn-sagemaker-outputlocation", accepted.output.encode()),
                (b"x-amzn-sagemaker-failurelocation", accepted.failure.encode()),
            ],
        )

    async def invoke(self, scope: Any, body: bytes | None, send: Send, endpoint: str) -> None:
        """Answer one InvokeEndpoint; `body` is None when it was over MAX_BODY (and not read)."""
        try:
            await self._invoke(scope, body, send, endpoint)
        except HomeportError as exc:
            await _error(send, exc)
        except Exception:
            log.exception("InvokeEndpoint %s failed", endpoint)
            await _error(send, InternalFailure("homeport failed to invoke the endpoint; see the server log."))

    async def _invoke(self, scope: Any, body: bytes | None, send: Send, endpoint: str) -> None:
        received = time.perf_counter()
        request = self._request("InvokeEndpoint", scope, endpoint, body, FORWARDED)
        with self._routing(endpoint, request.target_variant):
            variant, instance, reply = await self.router.invoke(
                endpoint,
                request.target_variant,
                request.forward,
                request.body,
                self.settings.model_timeout_s,
                received,
                request.target_model,
                request.target_container,
            )
        if not 200 <= reply.status < 300:
            raise self._model_error(
                endpoint,
                variant.name,
                reply.status,
                reply.body.decode("utf-8", "replace"),
                instance.id,
            )
        headers = [
            (b"content-type", reply.headers.get(b"content-type", b"application/octet-stream")),
            (b"x-amzn-invoked-production-variant", variant.name.encode()),
        ]
        custom = reply.headers.get(b"x-amzn-sagemaker-custom-attributes")
        if custom is not None:
            headers.append((b"x-amzn-sagemaker-custom-attributes", custom))
        await respond(send, 200, reply.body, headers)

    async def invoke_stream(self, scope: Any, body: bytes | None, send: Send, endpoint: str) -> None:
        """InvokeEndpointWithResponseStream: the model's reply as PayloadPart events, each part as it comes. Until
        the first part the errors are InvokeEndpoint's; after it, a broken stream ends with a ModelStreamError."""
        started = False
        try:
            received = time.perf_counter()
            request = self._request("InvokeEndpointWithResponseStream", scope, endpoint, body, STREAM_FORWARDED)
            if request.target_model is not None:
                raise RuntimeValidationError("InvokeEndpointWithResponseStream takes no TargetModel.")
            with self._routing(endpoint, request.target_variant):
                streaming = self.router.stream(
                    endpoint,
                    request.target_variant,
                    request.forward,
                    request.body,
                    self.settings.model_timeout_s,
                    received,
                    request.target_container,
                )
                async with streaming as (variant, instance, streamed):
                    if not 200 <= streamed.status < 300:
                        message = b"".join([part async for part in streamed.parts])
                        raise self._model_error(
                            endpoint, variant.name, streamed.status, message.decode("utf-8", "replace"), instance.id
                        )
                    headers = [
                        (b"content-type", eventstream.CONTENT_TYPE),
                        (b"x-amzn-invoked-production-variant", variant.name.encode()),
                        (
                            b"x-amzn-sagemaker-content-type",
                            streamed.headers.get(b"content-type", b"application/octet-stream"),
                        ),
                    ]
                    custom = streamed.headers.get(b"x-amzn-sagemaker-custom-attributes")
                    if custom is not None:
                        headers.append((b"x-amzn-sagemaker-custom-attributes", custom))
                    await send({"type": "http.response.start", "status": 200, "headers": headers})
                    started = True
                    await self._relay(endpoint, streamed, send)
        except HomeportError as exc:
            if not started:
                await _error(send, exc)
        except Exception:
            log.exception("InvokeEndpointWithResponseStream %s failed", endpoint)
            if started:
                failure = {"Message": "homeport failed relaying the stream; see the server log."}
                await send(
                    {"type": "http.response.body", "body": eventstream.exception("InternalStreamFailure", failure)}
                )
            else:
                await _error(send, InternalFailure("homeport failed to invoke the endpoint; see the server log."))

    async def _relay(self, endpoint: str, streamed: Streamed, send: Send) -> None:
        try:
            async for part in streamed.parts:
                await send({"type": "http.response.body", "body": eventstream.payload_parts(part), "more_body": True})
        except (InstanceDropped, InstanceTimeout) as exc:
            reason = "the model paused longer than the model timeout" if isinstance(exc, InstanceTimeout) else str(exc)
            failure = {
                "Message": f"The model's stream for endpoint {endpoint} broke off: {reason}.",
                "ErrorCode": "StreamBroken",
            }
            await send({"type": "http.response.body", "body": eventstream.exception("ModelStreamError", failure)})
            return
        await send({"type": "http.response.body", "body": b""})

    def _request(
        self, operation: str, scope: Any, endpoint: str, body: bytes | None, forwarded: dict[bytes, str]
    ) -> Request:
        """An invocation's parameters from its headers, checked as SageMaker checks them."""
        check_headers(operation, endpoint, scope["headers"])
        request = Request(body or b"")
        for name, value in scope["headers"]:
            if name in forwarded:
                request.forward.append((forwarded[name], value.decode("latin-1")))
            elif name == TARGET_VARIANT:
                request.target_variant = value.decode("latin-1")
            elif name == TARGET_MODEL:
                request.target_model = value.decode("latin-1")
            elif name == pipeline.TARGET_CONTAINER:
                request.target_container = value.decode("latin-1")
            elif name in UNSUPPORTED:
                raise RuntimeValidationError(f"homeport does not support {UNSUPPORTED[name]} yet.")
        route = self.router.routes.get(endpoint)
        if route is not None and route.asynchronous is not None:
            raise RuntimeValidationError(
                f"Endpoint {endpoint} is an asynchronous endpoint: call InvokeEndpointAsync with an InputLocation."
            )
        if body is None:
            raise RuntimeValidationError(
                f"The request body is over {MAX_BODY} bytes (6 MB), InvokeEndpoint's limit. Send fewer "
                "records per request, or use a batch transform job."
            ) from None
        return request

    @contextlib.contextmanager
    def _routing(self, endpoint: str, target_variant: str | None) -> Iterator[None]:
        """The router's refusals and the instance's failures as the errors SageMaker's runtime gives."""
        try:
            yield
        except NoRoute:
            raise self._not_serving(endpoint) from None
        except UnknownVariant as exc:
            raise RuntimeValidationError(
                f'The variant "{exc}" is not valid for endpoint "{endpoint}"; check TargetVariant.'
            ) from None
        except NotMultiModel:
            raise RuntimeValidationError(
                f"Endpoint {endpoint} is not a multi-model endpoint and does not support target model header."
            ) from None
        except MissingTargetModel:
            raise RuntimeValidationError(
                f"Request {uuid.uuid4()} is missing a target model header: endpoint {endpoint} is a "
                "multi-model endpoint; set TargetModel to the model's path under its ModelDataUrl."
            ) from None
        except (TargetModelError, TargetContainerError, NotStreamable) as exc:
            raise RuntimeValidationError(str(exc)) from None
        except ModelNotReady as exc:
            raise ModelNotReadyException(str(exc)) from None
        except PayloadTooLarge as exc:
            raise RuntimeValidationError(
                f"Endpoint {endpoint} is serverless: {exc}. Send fewer records per request."
            ) from None
        except Throttled as exc:
            raise ThrottlingException(f"Endpoint {endpoint} is throttled: {exc}. Retry later.") from None
        except ColdStartFailed as exc:
            raise self._model_error(endpoint, target_variant or "primary", 500, str(exc)) from None
        except ModelLoadFailed as exc:
            raise self._model_error(endpoint, target_variant or "primary", exc.status, exc.message) from None
        except NoHealthyInstance as exc:
            raise ServiceUnavailable(
                f"Endpoint {endpoint} has no healthy instance right now ({exc}); retry shortly."
            ) from None
        except InstanceUnreachable as exc:
            raise ServiceUnavailable(
                f"Endpoint {endpoint} could not reach an instance ({exc}); retry shortly."
            ) from None
        except InstanceTimeout:
            raise self._model_error(
                endpoint,
                variant_name=target_variant or "primary",
                status=0,
                message=f"Your invocation timed out while waiting for a response from the "
                f"model after {self.settings.model_timeout_s:g} seconds.",
            ) from None
        except InstanceDropped as exc:
            raise self._model_error(endpoint, target_variant or "primary", 500, str(exc)) from None

    def _not_serving(self, endpoint: str) -> HomeportError:
        status = self.endpoint_status(endpoint)
        if status is None:
            return RuntimeValidationError(f"Endpoint {endpoint} of account {self.settings.account_id} not found.")
        if status == "InService":  # in service, but not from here: starting or following instances, or a follower
            return ServiceUnavailable(
                f"Endpoint {endpoint} is in service, but this front door has no route to its instances yet (it is "
                "starting them or following another front door's; multi-model and serverless endpoints are served "
                "only by the front door that runs the controllers); retry, or send the request to that front door."
            )
        return RuntimeValidationError(
            f"Endpoint {endpoint} is not in service (status {status}); wait until it is InService."
        )

    def _model_error(
        self, endpoint: str, variant_name: str, status: int, message: str, instance: str | None = None
    ) -> ModelError:
        kind = "client" if 400 <= status < 500 else "server"
        stream = f"stream {variant_name}/{instance} of " if instance else ""
        where = f"the log {stream}/aws/sagemaker/Endpoints/{endpoint} (homeport logs {endpoint})"
        return ModelError(
            f'Received {kind} error ({status}) from {variant_name} with message "{message[:2048]}". '
            f"See {where} for more information.",
            original_status=status,
            original_message=message[:2048],
            log_stream=log_group(self.settings, endpoint),
        )


async def _error(send: Send, exc: HomeportError) -> None:
    payload = json.dumps({"message": exc.message, **exc.extra}).encode()
    await respond(send, exc.status, payload, [(b"content-type", JSON), (b"x-amzn-errortype", exc.code.encode())])
