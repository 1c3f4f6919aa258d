"""Requests that are not HTTP/1.1 (a DEL in a header value) are refused by the HTTP parser before any face sees
them; the refusal is still an AWS error that botocore parses, in the wire format of the face the request was
for, and the server goes on serving (issue 16, finding 6)."""

from __future__ import annotations

import socket
from typing import Any

import botocore.session
import pytest
from botocore import parsers

from tests.conftest import boto_client


def raw(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):  # the server closes the connection after its refusal
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("service", "operation", "request_head", "code"),
    [
        ("s3", "ListObjectsV2", b"GET /bucket?list-type=2 HTTP/1.1\r\nHost: h\r\nX-Bad: a\x7fb\r\n", "InvalidRequest"),
        (
            "sagemaker",
            "ListModels",
            b"POST / HTTP/1.1\r\nHost: h\r\nX-Amz-Target: SageMaker.ListModels\r\nX-Bad: a\x7fb\r\n",
            "ValidationException",
        ),
        (
            "sagemaker-runtime",
            "InvokeEndpoint",
            b"POST /endpoints/e/invocations HTTP/1.1\r\nHost: h\r\nX-Bad: a\x7fb\r\n",
            "ValidationError",
        ),
        (
            "cloudwatch",
            "ListMetrics",
            b"POST /service/GraniteServiceVersion20100801/operation/ListMetrics HTTP/1.1\r\nHost: h\r\nX-Bad: \x7f\r\n",
            "ValidationException",
        ),
    ],
    ids=["s3", "json", "runtime", "cbor"],
)
def test_a_header_http_does_not_allow_gets_an_aws_error(
    server: Any, service: str, operation: str, request_head: bytes, code: str
) -> None:
    status, headers, body = raw(server.url, request_head + b"\r\n")
    model = botocore.session.get_session().get_service_model(service)
    protocol = "smithy-rpc-v2-cbor" if b"/service/" in request_head else model.metadata["protocol"]
    parsed = parsers.create_parser(protocol).parse(
        {"status_code": status, "headers": headers, "body": body}, model.operation_model(operation).output_shape
    )
    assert status == 400 and parsed["Error"]["Code"] == code, parsed
    assert "HTTP does not allow" in parsed["Error"]["Message"]
    assert headers["connection"] == "close"
    assert boto_client("sagemaker", server.url).list_models()["Models"] is not None
