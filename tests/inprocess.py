"""`homeport serve` without a process, for the fast tier.

The server's app runs in Starlette's `TestClient` (an httpx client over an ASGI transport; the app and the
controllers on an event loop in a thread, its lifespan run on entry), with the in-process engine, so its instances
are threads too. boto3 clients made by `tests.conftest.boto_client` for its URL send their requests through that
client instead of a socket: botocore builds and signs them exactly as it would for a real server, and the
server verifies the signature, parses, routes and answers exactly as it would over HTTP.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from starlette.testclient import TestClient

from homeport.engines.inprocess import InProcessEngine
from homeport.server.serve import Server
from homeport.settings import Settings

_hosts = itertools.count(1)
# URL → the in-process server behind it, for boto_client.
SERVERS: dict[str, InProcessServer] = {}


class _Body(io.BytesIO):
    """A reply's bytes with the part of urllib3's response interface botocore reads."""

    def stream(self, amt: int = 1024, decode_content: bool = False) -> Iterator[bytes]:
        while chunk := self.read(amt):
            yield chunk


def request_body(request: AWSPreparedRequest) -> bytes:
    """A prepared request's body as bytes, whether botocore holds it as bytes, text or a stream."""
    body = request.body
    if body is not None and hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    return body or b""


class ASGISession:
    """botocore's HTTP session, sending each prepared request through the TestClient."""

    def __init__(self, http: TestClient) -> None:
        self.http = http

    def send(self, request: AWSPreparedRequest) -> AWSResponse:
        body = request_body(request)
        headers = [
            (name, value.decode() if isinstance(value, bytes) else value) for name, value in request.headers.items()
        ]
        reply = self.http.request(request.method, request.url, headers=headers, content=body)
        return AWSResponse(request.url, reply.status_code, dict(reply.headers), _Body(reply.content))

    def close(self) -> None:
        pass


class InProcessServer:
    """`with InProcessServer(data_dir, access_key_id=…, secret_access_key=…) as server: boto_client(…, server.url)`."""

    def __init__(self, data_dir: Path, **settings: Any) -> None:
        self.url = f"http://inprocess-{next(_hosts)}"
        self.data_dir = data_dir
        # Durability against power loss is what tests/integration/test_durability.py checks; here it only costs time.
        settings = {"log_level": "warning", "prefork": False, "durable_commits": False, **settings}
        self.server = Server(
            Settings(data_dir=data_dir, **settings), engine=InProcessEngine(settings.get("instance_host", ""))
        )
        self.http = TestClient(self.server.app, base_url=self.url, raise_server_exceptions=True)

    @property
    def engine(self) -> InProcessEngine:
        engine = self.server.engine
        assert isinstance(engine, InProcessEngine)
        return engine

    def __enter__(self) -> InProcessServer:
        self.http.__enter__()
        SERVERS[self.url] = self
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        SERVERS.pop(self.url, None)
        self.http.__exit__(et, e, tb)
