"""Requests that are not HTTP/1.1 (a header holding DEL or another character HTTP does not allow, broken
framing): the HTTP parser refuses them before any face sees them, and uvicorn would answer in plain text that
no AWS client can read a code from. Here the refusal is an AWS error in the wire format the client parses,
chosen from what was read before the fault: CBOR on the RPC v2 path, JSON for the JSON protocol and the
runtime, S3's XML otherwise (which botocore's query parser reads too)."""

from __future__ import annotations

import json

from homeport.api import rpcv2
from homeport.api.auth.authenticator import CBOR_PATH
from homeport.api.s3.xmldoc import document
from homeport.runtime.transport import HttpProtocol

MESSAGE = (
    "The request is not valid HTTP/1.1: a header name or value holds a character HTTP does not allow (such as "
    "a control character), or its framing is broken. Fix the request; this connection is closed."
)


def refusal(path: str, headers: list[tuple[bytes, bytes]]) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body of the 400 for a request that broke off at `path` with `headers` read so far."""
    if path.startswith(CBOR_PATH):
        return rpcv2.encode_error("ValidationException", MESSAGE, True)
    if path.startswith("/endpoints/") or any(name == b"x-amz-target" for name, _ in headers):
        code = "ValidationError" if path.startswith("/endpoints/") else "ValidationException"  # as each API names it
        body = json.dumps({"__type": code, "message": MESSAGE}).encode()
        return [(b"content-type", b"application/x-amz-json-1.1"), (b"x-amzn-errortype", code.encode())], body
    body = document("Error", [("Code", "InvalidRequest"), ("Message", MESSAGE)], namespace=False)
    return [(b"content-type", b"application/xml")], body


class FrontDoorProtocol(HttpProtocol):
    def send_400_response(self, msg: str) -> None:
        url: bytes = getattr(self, "url", b"")
        headers, body = refusal(url.partition(b"?")[0].decode("latin-1"), list(getattr(self, "headers", [])))
        content = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in [*self.server_state.default_headers, *headers]:
            content += [name, b": ", value, b"\r\n"]
        content += [b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body), body]
        self.transport.write(b"".join(content))
        self.transport.close()
