"""The messages an asynchronous endpoint sends to its NotificationConfig topics, as SageMaker publishes them.

SageMaker publishes to SNS topics; homeport POSTs the same JSON message to the http(s) URL given as the topic.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from homeport.core.clock import iso_time
from homeport.store.async_queue import AsyncRequest

COMPLETED, FAILED = "Completed", "Failed"
MAX_INCLUDED_RESPONSE = 128 * 1024  # SageMaker includes the response only up to 128 KB
_ENVELOPE = {"eventVersion": "1.0", "eventSource": "aws:sagemaker"}


@dataclass(frozen=True)
class Result:
    """How one async request ended: the object written, and what the notification says about it."""

    status: str  # COMPLETED or FAILED
    location: str  # the output object, or the failure document
    content_type: str
    body: bytes  # the object's content, included in the message when asked for and small enough
    reason: str | None = None  # why it failed


def topics(config: dict[str, Any] | None) -> dict[str, str]:
    """The endpoint's topics by invocation status."""
    notify = (config or {}).get("OutputConfig", {}).get("NotificationConfig", {})
    return {
        status: notify[key] for status, key in ((COMPLETED, "SuccessTopic"), (FAILED, "ErrorTopic")) if notify.get(key)
    }


def test_notification() -> dict[str, Any]:
    """Sent to each topic when an endpoint using them is created or updated."""
    return {**_ENVELOPE, "eventName": "TestNotification"}


def inference_result(
    config: dict[str, Any],
    region: str,
    request: AsyncRequest,
    result: Result,
    now: float,
) -> dict[str, Any]:
    """The InferenceResult message for `request`, which ended with `result`."""
    asked = {
        key: value
        for key, value in (
            ("accept", request.accept),
            ("contentType", request.content_type),
            ("customAttributes", request.custom_attributes),
        )
        if value
    }
    where = "outputLocation" if result.status == COMPLETED else "failureLocation"
    message: dict[str, Any] = {
        "awsRegion": region,
        "eventTime": iso_time(now),
        "receivedTime": iso_time(request.received),
        "invocationStatus": result.status,
    }
    if result.reason:
        message["failureReason"] = result.reason
    message["requestParameters"] = {**asked, "endpointName": request.endpoint, "inputLocation": request.input}
    message["responseParameters"] = {"contentType": result.content_type, where: result.location}
    include = config.get("OutputConfig", {}).get("NotificationConfig", {}).get("IncludeInferenceResponseIn", [])
    wanted = "SUCCESS_NOTIFICATION_TOPIC" if result.status == COMPLETED else "ERROR_NOTIFICATION_TOPIC"
    if wanted in include and len(result.body) <= MAX_INCLUDED_RESPONSE:
        message["responseBody"] = {
            "content": base64.b64encode(result.body).decode("ascii"),
            "message": f"The response is also at {result.location}.",
            "encoding": "BASE64",
        }
    message["inferenceId"] = request.inference_id
    return {**message, **_ENVELOPE, "eventName": "InferenceResult"}
