"""Instance addresses as the route table holds them, and the secret a TCP instance asks of every request."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeport.runtime.address import SECRET_HEADER, Address, RequireSecret, free_port, new_secret


def test_a_unix_address_reads_back_as_it_was_written() -> None:
    address = Address.unix("/run/homeport/3.sock")
    assert str(address) == "unix:/run/homeport/3.sock"
    assert Address.parse(str(address)) == address
    assert address.header == "" and address.shown == "unix:/run/homeport/3.sock"


@given(
    host=st.sampled_from(["127.0.0.2", "10.1.2.3", "node-7.cluster.local", "::1", "fd00::17"]),
    port=st.integers(1, 65535),
)
def test_a_tcp_address_reads_back_with_its_secret(host: str, port: int) -> None:
    address = Address.tcp(host, port, new_secret())
    assert Address.parse(str(address)) == address
    assert address.secret not in address.shown  # what logs and messages show
    assert address.header == f"{SECRET_HEADER}: {address.secret}\r\n"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "unix:",
        "/run/homeport/3.sock",  # a bare path: the form must say what it is
        "tcp://127.0.0.1:8080",  # no secret: every request to it would be refused
        "tcp://s3cret@127.0.0.1",  # no port
        "tcp://s3cret@127.0.0.1:99999",
        "tcp://s3cret@:8080",
        "http://s3cret@127.0.0.1:8080",
    ],
)
def test_anything_else_is_refused_without_showing_a_secret(text: str) -> None:
    with pytest.raises(ValueError) as refused:
        Address.parse(text)
    assert "s3cret" not in str(refused.value)


def test_secrets_are_long_and_never_repeat() -> None:
    made = {new_secret() for _ in range(1000)}
    assert len(made) == 1000 and min(len(s) for s in made) >= 32


def test_a_free_port_can_be_bound() -> None:
    import socket

    port = free_port("127.0.0.1")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def _call(app: Any, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/ping", "headers": headers}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def _model(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"healthy"})


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([(SECRET_HEADER.encode(), b"the-secret")], 200),
        ([], 403),
        ([(SECRET_HEADER.encode(), b"the-secre")], 403),
        ([(SECRET_HEADER.encode(), b"the-secret-and-more")], 403),
        ([(b"x-other", b"the-secret")], 403),
    ],
)
def test_only_a_request_with_the_secret_reaches_the_model(headers: list[tuple[bytes, bytes]], status: int) -> None:
    got, body = _call(RequireSecret(_model, "the-secret"), headers)
    assert got == status
    assert (body == b"healthy") == (status == 200)
