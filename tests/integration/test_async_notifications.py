"""Async-inference notifications to a local webhook, driven with boto3 against a real `homeport serve`."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from homeport.cli.queue import raw_describe
from tests.conftest import XGBOOST_IMAGE, csv_rows
from tests.integration.test_async_inference import deploy_async, object_at, result
from tests.integration.test_lifecycle import until


class Webhook:
    """An HTTP server that records every POST; it answers 503 to the first `failures` of them."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []  # {"path", "headers", "message", "answer"} per POST
        self.failures = 0
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with hook.lock:
                    fail = hook.failures > 0
                    hook.failures -= fail
                    hook.received.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers),
                            "message": json.loads(body),
                            "answer": 503 if fail else 204,
                        }
                    )
                self.send_response(503 if fail else 204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def messages(self, path: str, event: str = "InferenceResult", answer: int = 204) -> list[dict[str, Any]]:
        """What was delivered (or refused, with answer=503) at `path`."""
        with self.lock:
            return [
                r["message"]
                for r in self.received
                if r["path"] == path and r["message"]["eventName"] == event and r["answer"] == answer
            ]


def test_results_and_failures_are_posted_to_their_topics(
    sm: Any, runtime: Any, s3: Any, bucket: str, xgb_model: dict[str, Any], webhook: Webhook
) -> None:
    endpoint = deploy_async(
        sm,
        xgb_model["url"],
        bucket,
        image=XGBOOST_IMAGE,
        notification={
            "SuccessTopic": f"{webhook.url}/done",
            "ErrorTopic": f"{webhook.url}/failed",
            "IncludeInferenceResponseIn": ["SUCCESS_NOTIFICATION_TOPIC"],
        },
    )
    until(lambda: webhook.messages("/done", "TestNotification") and webhook.messages("/failed", "TestNotification"))
    assert webhook.messages("/done", "TestNotification") == [
        {"eventVersion": "1.0", "eventSource": "aws:sagemaker", "eventName": "TestNotification"}
    ]
    x = xgb_model["x"][:5]
    s3.put_object(Bucket=bucket, Key="notify/rows.csv", Body=csv_rows(x))
    s3.put_object(Bucket=bucket, Key="notify/bad.csv", Body=b"not,a,number\n")
    good = runtime.invoke_endpoint_async(
        EndpointName=endpoint,
        InputLocation=f"s3://{bucket}/notify/rows.csv",
        ContentType="text/csv",
        InferenceId="good-1",
        CustomAttributes="trace=7",
    )
    bad = runtime.invoke_endpoint_async(
        EndpointName=endpoint, InputLocation=f"s3://{bucket}/notify/bad.csv", ContentType="text/csv"
    )
    until(lambda: webhook.messages("/done") and webhook.messages("/failed"), timeout=60)

    [done] = webhook.messages("/done")
    output = object_at(s3, good["OutputLocation"])
    assert output is not None
    assert done["invocationStatus"] == "Completed" and done["inferenceId"] == "good-1"
    assert done["eventName"] == "InferenceResult" and done["eventSource"] == "aws:sagemaker"
    assert done["requestParameters"] == {
        "contentType": "text/csv",
        "customAttributes": "trace=7",
        "endpointName": endpoint,
        "inputLocation": f"s3://{bucket}/notify/rows.csv",
    }
    assert done["responseParameters"]["outputLocation"] == good["OutputLocation"]
    assert done["responseBody"]["encoding"] == "BASE64"
    assert base64.b64decode(done["responseBody"]["content"]) == output  # asked for on success
    assert done["eventTime"].endswith("Z") and done["receivedTime"] <= done["eventTime"]

    [failed] = webhook.messages("/failed")
    kind, document = result(s3, bad)
    assert kind == "failure"
    assert failed["invocationStatus"] == "Failed" and failed["inferenceId"] == bad["InferenceId"]
    assert failed["failureReason"] == json.loads(document)["FailureReason"]
    assert failed["responseParameters"]["failureLocation"] == bad["FailureLocation"]
    assert "responseBody" not in failed  # not asked for on errors
    ids = [r["headers"]["X-Homeport-Notification-Id"] for r in webhook.received]
    assert len(set(ids)) == len(ids) == 4  # two tests, two results: each sent once

    log = raw_describe(sm, endpoint)["HomeportNotifications"]
    assert {(n["EventName"], n["Delivery"]) for n in log} == {
        ("TestNotification", "delivered"),
        ("InferenceResult", "delivered"),
    }
    assert {n.get("InvocationStatus") for n in log} == {None, "Completed", "Failed"}


def test_an_unreachable_webhook_is_retried_and_never_holds_up_the_queue(
    sm: Any, runtime: Any, s3: Any, bucket: str, xgb_model: dict[str, Any], webhook: Webhook
) -> None:
    webhook.failures = 3  # the test notification's first attempt, then the first results' first attempts
    endpoint = deploy_async(
        sm, xgb_model["url"], bucket, image=XGBOOST_IMAGE, notification={"SuccessTopic": f"{webhook.url}/done"}
    )
    s3.put_object(Bucket=bucket, Key="retry/rows.csv", Body=csv_rows(xgb_model["x"][:3]))
    replies = [
        runtime.invoke_endpoint_async(
            EndpointName=endpoint, InputLocation=f"s3://{bucket}/retry/rows.csv", ContentType="text/csv"
        )
        for _ in range(3)
    ]
    # Every result lands while the webhook is still refusing.
    for reply in replies:
        assert result(s3, reply)[0] == "output"
    wanted = {r["InferenceId"] for r in replies}
    until(lambda: {m["inferenceId"] for m in webhook.messages("/done")} == wanted, timeout=30)
    assert len(webhook.messages("/done")) == 3  # each delivered once
    assert webhook.messages("/done", "TestNotification")  # delivered on a later attempt
    refused = webhook.messages("/done", answer=503) + webhook.messages("/done", "TestNotification", 503)
    assert len(refused) == 3
    queue = raw_describe(sm, endpoint)["HomeportAsyncQueue"]
    assert queue["Completed"] == 3 and queue["ApproximateBacklogSize"] == 0
    assert queue["NotificationFailures"] == 3


def test_topics_must_be_webhook_urls(sm: Any, bucket: str) -> None:
    from botocore.exceptions import ClientError

    for topic in ("arn:aws:sns:us-east-1:000000000000:done", "http://", "https:///path"):
        with pytest.raises(ClientError) as err:
            sm.create_endpoint_config(
                EndpointConfigName="never",
                ProductionVariants=[
                    {"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
                ],
                AsyncInferenceConfig={
                    "OutputConfig": {"S3OutputPath": f"s3://{bucket}/r/", "NotificationConfig": {"ErrorTopic": topic}}
                },
            )
        assert err.value.response["Error"]["Code"] == "ValidationException"
        message = err.value.response["Error"]["Message"]
        assert "ErrorTopic" in message and "http:// or https://" in message, message
