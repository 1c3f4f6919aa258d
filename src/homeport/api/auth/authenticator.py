"""Which face a request is for, and whether it is signed by a key the server knows (SigV4)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from homeport.api import query
from homeport.api.asgi import ClientGone, Receive, Scope, Send, respond
from homeport.api.auth import refusals, signature, sigv4
from homeport.api.auth.keys import KeyRing
from homeport.core.clock import Clock

S3, CONTROL, RUNTIME, HEALTH, METRICS, UNKNOWN = "s3", "control", "runtime", "health", "metrics", "unknown"
CONSOLE = "console"  # the web console: signs in with a form and a cookie, not SigV4
CBOR_PATH = "/service/"  # Smithy RPC v2 CBOR: /service/<service>/operation/<Operation>
HASH_CAP = 64 * 1024 * 1024  # an oversized JSON-face body is hashed this far, for its signature


def signing_service(scope: Scope) -> str | None:
    """The service named in the credential scope (`…/us-east-1/s3/aws4_request`), None if unsigned."""
    credential = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            _, _, rest = value.decode("latin-1").partition("Credential=")
            credential = rest.split(",", 1)[0]
            break
    else:
        query = scope.get("query_string", b"")
        if b"X-Amz-Credential=" in query:
            raw = query.split(b"X-Amz-Credential=", 1)[1].split(b"&", 1)[0]
            credential = unquote(raw.decode("latin-1"))
    if credential is None:
        return None
    parts = credential.split("/")
    return parts[3] if len(parts) == 5 else ""


def face(scope: Scope) -> str:
    """S3 requests say so in their signature; the control plane and the runtime have their own shapes; unsigned
    rest is S3, but for homeport's health check and Prometheus' scrape."""
    service = signing_service(scope)
    if service == "s3":
        return S3
    path, method = scope["path"], scope["method"]
    if (
        method == "POST"
        and path.startswith("/endpoints/")
        and path.endswith(("/invocations", "/async-invocations", "/invocations-response-stream"))
    ):
        return RUNTIME
    if method == "POST" and (
        path.startswith(CBOR_PATH)
        or (path == "/" and any(name == b"x-amz-target" for name, _ in scope["headers"]))
        or (path == "/" and service is not None and query.is_query(scope["headers"]))  # signed form: query protocol
    ):
        return CONTROL
    if service is None:
        if path == "/console" or path.startswith("/console/"):  # a signed request for a bucket so named is S3's
            return CONSOLE
        if method == "GET" and path in ("/ping", "/metrics"):
            return HEALTH if path == "/ping" else METRICS
        return S3
    return UNKNOWN


class Authenticator:
    def __init__(self, keys: KeyRing, clock: Clock) -> None:
        self.keys = keys
        self.clock = clock

    def verify(self, scope: Scope, body: bytes | None = None, body_sha256: str | None = None) -> sigv4.Verified:
        """The verified request, or AuthFailure. The JSON faces send no x-amz-content-sha256: they give the body
        or its hash."""
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        request = sigv4.RawRequest.from_scope(scope)
        return signature.verify(request, self.keys.secret_for, now, body=body, body_sha256=body_sha256)


async def read_hashed(receive: Receive, limit: int, cap: int = HASH_CAP) -> tuple[bytes | None, str | None]:
    """(body, None) when it fits in `limit`; else (None, its sha256) so the signature can still be checked.

    Past `cap` the rest is not read at all and the hash is of a prefix: the signature then fails, and the
    client gets a refusal without the server reading gigabytes to give it one.
    """
    chunks: list[bytes] = []
    size = 0
    digest = None
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if digest is None and size > limit:
            digest = hashlib.sha256(b"".join(chunks))
            chunks = []
        if digest is not None:
            digest.update(chunk)
            if size > cap:
                return None, digest.hexdigest()
        elif chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if digest is not None:
        return None, digest.hexdigest()
    return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), None


async def json_refusal(send: Send, failure: sigv4.AuthFailure) -> None:
    """An authentication failure as the JSON protocols (SageMaker, runtime) send it."""
    error = refusals.json_error(failure)
    payload: dict[str, Any] = {"__type": error.code, "message": error.message}
    await respond(
        send,
        error.status,
        json.dumps(payload).encode(),
        [(b"content-type", b"application/x-amz-json-1.1"), (b"x-amzn-errortype", error.code.encode())],
    )
