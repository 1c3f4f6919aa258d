"""SageMaker's async notification messages, built from how a request ended."""

from __future__ import annotations

import base64

from homeport.services import notifications as messages
from homeport.services.notifications import MAX_INCLUDED_RESPONSE, Result
from homeport.store.async_queue import AsyncRequest

REQUEST = AsyncRequest(
    "r1",
    "ep",
    "inf-1",
    "s3://b/in.csv",
    "s3://b/out/r1.out",
    "s3://b/fail/r1.out-error",
    "text/csv",
    None,
    None,
    1_700_000_000.0,
    1_700_003_600.0,
    900.0,
)


def config(include: list[str]) -> dict[str, object]:
    topics = {"SuccessTopic": "http://hook/ok", "ErrorTopic": "http://hook/err", "IncludeInferenceResponseIn": include}
    return {"OutputConfig": {"S3OutputPath": "s3://b/out", "NotificationConfig": topics}}


def test_topics_by_status_and_none_without_a_config() -> None:
    assert messages.topics(config([])) == {"Completed": "http://hook/ok", "Failed": "http://hook/err"}
    assert messages.topics(None) == {}


def test_an_error_message_includes_the_failure_document_only_when_asked() -> None:
    failed = Result(messages.FAILED, REQUEST.failure, "application/json", b'{"FailureReason":"x"}', "x")
    asked = messages.inference_result(
        config(["ERROR_NOTIFICATION_TOPIC"]), "us-east-1", REQUEST, failed, 1_700_000_001.5
    )
    assert asked["invocationStatus"] == "Failed" and asked["failureReason"] == "x"
    assert asked["responseParameters"] == {"contentType": "application/json", "failureLocation": REQUEST.failure}
    assert base64.b64decode(asked["responseBody"]["content"]) == failed.body
    assert asked["eventTime"] == "2023-11-14T22:13:21.500Z" and asked["receivedTime"] == "2023-11-14T22:13:20.000Z"
    only_success = messages.inference_result(config(["SUCCESS_NOTIFICATION_TOPIC"]), "us-east-1", REQUEST, failed, 0.0)
    assert "responseBody" not in only_success


def test_a_response_over_128_kb_is_left_out_of_the_message() -> None:
    include = config(["SUCCESS_NOTIFICATION_TOPIC"])
    at_limit = Result(messages.COMPLETED, REQUEST.output, "text/csv", b"1" * MAX_INCLUDED_RESPONSE)
    over = Result(messages.COMPLETED, REQUEST.output, "text/csv", b"1" * (MAX_INCLUDED_RESPONSE + 1))
    assert "responseBody" in messages.inference_result(include, "us-east-1", REQUEST, at_limit, 0.0)
    message = messages.inference_result(include, "us-east-1", REQUEST, over, 0.0)
    assert "responseBody" not in message and message["responseParameters"]["outputLocation"] == REQUEST.output
