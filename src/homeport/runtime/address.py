"""Where an instance's model server listens, and the secret that lets homeport in.

An instance on this machine listens on a Unix socket: only processes that can open the file reach it. One
reached over TCP (another machine's front door routes to it, or it runs on another node) could be reached by
anyone who can reach the port, so it answers only requests that carry its secret, made for it at its start and
known only to the front doors (through the route table in the shared database).

Written as `unix:/path/to/socket` or `tcp://SECRET@HOST:PORT` (the route table's `address` column).
"""

from __future__ import annotations

import hmac
import secrets
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

SECRET_HEADER = "x-homeport-instance-secret"
SECRET_ENV = "HOMEPORT_INSTANCE_SECRET"  # how the model server learns its secret (removed from its environment)


@dataclass(frozen=True, slots=True)
class Address:
    path: str = ""  # a Unix socket's path; empty for TCP
    host: str = ""
    port: int = 0
    secret: str = ""

    @classmethod
    def unix(cls, path: object) -> Address:
        return cls(path=str(path))

    @classmethod
    def tcp(cls, host: str, port: int, secret: str) -> Address:
        return cls(host=host, port=port, secret=secret)

    @classmethod
    def parse(cls, text: str) -> Address:
        """ValueError for anything but the two forms above (a TCP address without its secret included)."""
        if text.startswith("unix:"):
            path = text.removeprefix("unix:")
            if not path:
                raise ValueError("a unix: address needs a socket path")
            return cls.unix(path)
        parts = urlsplit(text)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme != "tcp" or not parts.hostname or not port or not parts.username:
            raise ValueError(f"not an instance address (unix:PATH or tcp://SECRET@HOST:PORT): {redact(text)}")
        return cls.tcp(parts.hostname, port, parts.username)

    def __str__(self) -> str:
        if self.path:
            return f"unix:{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{self.secret}@{host}:{self.port}"

    @property
    def shown(self) -> str:
        """For logs and messages: the secret left out."""
        return redact(str(self))

    def connect(self, timeout: float | None) -> socket.socket:
        """A blocking socket connected to the instance (OSError when it cannot be reached)."""
        if self.path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(self.path)
            except OSError:
                sock.close()
                raise
            return sock
        sock = socket.create_connection((self.host, self.port), timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    @property
    def header(self) -> str:
        """The header line that goes with every request to it (empty for a Unix socket)."""
        return f"{SECRET_HEADER}: {self.secret}\r\n" if self.secret else ""


def redact(text: str) -> str:
    """`text` with what stands before an `@` (a secret, in an address) left out."""
    if "@" in text:
        scheme, _, rest = text.rpartition("://")
        return f"{scheme}://***@{rest.split('@', 1)[1]}" if scheme else "***@" + text.split("@", 1)[1]
    return text


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def free_port(host: str) -> int:
    """A port on `host` nothing listens on now (the instance binds it a moment later; should another process take
    it first, the instance fails to start and is replaced)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]


class RequireSecret:
    """ASGI middleware: a request without the instance's secret gets 403 and never reaches the model."""

    def __init__(self, app: Any, secret: str) -> None:
        self.app = app
        self.secret = secret.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = next((v for k, v in scope["headers"] if k == SECRET_HEADER.encode()), b"")
            if not hmac.compare_digest(given, self.secret):
                body = b"this instance answers homeport's front doors only\n"
                headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 403, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
