"""The container contract's paths, limits and error mapping, with a stub handler."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from homeport.runtime.errors import InvocationError
from homeport.runtime.server import ContainerApp, Invocation, Reply
from tests.runtime.conftest import App, run


class Echo:
    def __init__(self) -> None:
        self.seen: list[Invocation] = []

    async def invoke(self, invocation: Invocation) -> Reply:
        self.seen.append(invocation)
        if invocation.body == b"teapot":
            raise InvocationError("short and stout", 418)
        if invocation.body == b"boom":
            raise RuntimeError("kaboom")
        if invocation.body == b"greedy":
            raise MemoryError()
        return Reply(invocation.body, "application/octet-stream", headers=[(b"x-echo", b"1")])


def app(max_payload_bytes: int = 100, workers: int = 3) -> tuple[App, Echo]:
    handler = Echo()
    asgi = ContainerApp(handler, max_payload_bytes=max_payload_bytes, workers=workers, max_payload_mb=6)
    return App(asgi, None), handler  # type: ignore[arg-type]


def test_ping_is_200_with_an_empty_body() -> None:
    reply = app()[0].request("GET", "/ping")
    assert reply.status_code == 200
    assert reply.content == b""


def test_execution_parameters() -> None:
    reply = app(workers=3)[0].request("GET", "/execution-parameters")
    assert reply.json() == {
        "MaxConcurrentTransforms": 3,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 6,
    }


def test_invocation_reaches_the_handler_with_its_headers() -> None:
    client, handler = app()
    reply = client.invoke(
        b"hello",
        content_type="text/plain",
        accept="text/csv",
        headers={"X-Amzn-SageMaker-Custom-Attributes": "trace=1"},
    )
    assert reply.status_code == 200
    assert reply.content == b"hello"
    assert reply.headers["x-echo"] == "1"
    seen = handler.seen[0]
    assert (seen.content_type, seen.accept, seen.custom_attributes) == ("text/plain", "text/csv", "trace=1")


def test_body_over_the_limit_is_413() -> None:
    client, handler = app(max_payload_bytes=10)
    reply = client.invoke(b"x" * 11)
    assert reply.status_code == 413
    assert "SAGEMAKER_MAX_PAYLOAD_IN_MB" in reply.text
    assert handler.seen == []


def test_streamed_body_over_the_limit_is_413() -> None:
    asgi = ContainerApp(Echo(), max_payload_bytes=10, workers=1, max_payload_mb=6)
    chunks = [
        {"type": "http.request", "body": b"123456", "more_body": True},
        {"type": "http.request", "body": b"123456", "more_body": False},
    ]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return chunks.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/invocations", "headers": []}
    run(asgi(scope, receive, send))
    assert sent[0]["status"] == 413


def test_streamed_body_within_the_limit_is_joined() -> None:
    asgi = ContainerApp(Echo(), max_payload_bytes=100, workers=1, max_payload_mb=6)
    chunks = [
        {"type": "http.request", "body": b"abc", "more_body": True},
        {"type": "http.request", "body": b"def", "more_body": False},
    ]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return chunks.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/invocations", "headers": []}
    run(asgi(scope, receive, send))
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"abcdef"


def test_invocation_error_becomes_its_status() -> None:
    reply = app()[0].invoke(b"teapot")
    assert reply.status_code == 418
    assert reply.text == "short and stout"
    assert reply.headers["content-type"].startswith("text/plain")


def test_unexpected_error_is_500_with_its_message() -> None:
    reply = app()[0].invoke(b"boom")
    assert reply.status_code == 500
    assert reply.text == "RuntimeError: kaboom"


def test_out_of_memory_names_the_limit_and_stops_the_instance() -> None:
    stops: list[int] = []
    asgi = ContainerApp(Echo(), max_payload_bytes=100, workers=1, max_payload_mb=6, memory_limit_mb=1024)
    asgi.out_of_memory = lambda: stops.append(1)
    reply = App(asgi, None).invoke(b"greedy")  # type: ignore[arg-type]
    assert reply.status_code == 500
    assert "at most 1024 MB" in reply.text and "MemorySizeInMB" in reply.text
    assert stops == [1]
    # Without a limit it is an error like any other.
    assert app()[0].invoke(b"greedy").text == "MemoryError: "


def test_unknown_path_and_wrong_method() -> None:
    client = app()[0]
    assert client.request("GET", "/nope").status_code == 404
    assert client.request("GET", "/invocations").status_code == 405
    assert client.request("POST", "/ping").status_code == 405
