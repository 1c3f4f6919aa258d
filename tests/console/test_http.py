"""The console's refusals, over plain HTTP against a real server: hostile or malformed input gets a 4xx page and
changes nothing; a tampered or expired session is no session."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from homeport.api.auth.keys import AccessKey, KeyRing
from homeport.console.app import console_app
from homeport.console.context import Console
from homeport.core.clock import ManualClock
from homeport.objects.locations import Locator
from homeport.server.process import ServerProcess
from tests.conftest import KEYS

KEY, SECRET = KEYS["HOMEPORT_ACCESS_KEY_ID"], KEYS["HOMEPORT_SECRET_ACCESS_KEY"]


@pytest.fixture
def client(console_server: ServerProcess) -> Any:
    with httpx.Client(base_url=console_server.url, follow_redirects=False, timeout=30) as http:
        yield http


def signed_in(client: httpx.Client) -> str:
    """Signs `client` in; the CSRF token of its session."""
    reply = client.post("/console/login", data={"access_key_id": KEY, "secret_access_key": SECRET})
    assert reply.status_code == 303
    page = client.get("/console/transform-jobs").text
    marker = 'name="csrf" value="'
    return page[page.index(marker) + len(marker) :].split('"', 1)[0]


def test_pages_need_a_session_and_send_security_headers(client: httpx.Client) -> None:
    for path in ("/console/endpoints", "/console/transform-jobs", "/console/endpoints/x/variants/v/scaling"):
        reply = client.get(path)
        assert reply.status_code == 303 and reply.headers["location"].startswith("/console/login?next=")
    live = client.get("/console/endpoints/x/live", headers={"HX-Request": "true"})
    assert live.status_code == 401 and live.headers["hx-redirect"] == "/console/login"
    login = client.get("/console/login")
    assert "default-src 'self'" in login.headers["content-security-policy"]
    assert login.headers["x-content-type-options"] == "nosniff" and login.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"access_key_id": "homeport"}', "application/json"),
        (b"access_key_id=" + b"a" * (65 * 1024), "application/x-www-form-urlencoded"),
        (b"access_key_id=\xff\xfe", "application/x-www-form-urlencoded"),
        (b"", "application/x-www-form-urlencoded"),
    ],
)
def test_a_malformed_sign_in_is_refused_with_a_page(client: httpx.Client, body: bytes, content_type: str) -> None:
    reply = client.post("/console/login", content=body, headers={"content-type": content_type})
    assert reply.status_code in (400, 401) and "Sign in" in reply.text
    assert "homeport-console" not in reply.headers.get("set-cookie", "")


def test_sign_in_goes_back_only_to_a_console_page(client: httpx.Client) -> None:
    for after in ("https://evil.example/", "//evil.example/x", "/console//evil.example", "/s3-bucket"):
        reply = client.post(
            "/console/login", params={"next": after}, data={"access_key_id": KEY, "secret_access_key": SECRET}
        )
        assert reply.headers["location"] == "/console/endpoints"


def test_hostile_paths_and_bodies_get_a_4xx_not_a_5xx(client: httpx.Client) -> None:
    csrf = signed_in(client)
    for path in (
        "/console/endpoints/%00",
        "/console/endpoints/" + "x" * 5000,
        "/console/endpoints/a%2Fb/variants/v1/scaling",
        "/console/endpoints/<script>",
        "/console/static/../templates/base.html",
        "/console/static/%2e%2e/session.py",
        "/console/nothing-here",
    ):
        reply = client.get(path)
        assert 400 <= reply.status_code < 500, (path, reply.status_code)
        assert "<script>" not in reply.text.replace('<script src="/console/static/', "")
    scaling = "/console/endpoints/nope/variants/v1/scaling"
    assert client.post(scaling, data={"csrf": csrf, "min": "1"}).status_code == 404
    assert client.post(scaling + "/remove", data={"csrf": csrf}).status_code == 404
    for listing in ("/console/monitoring", "/console/registry", "/console/endpoints", "/console/alarms"):
        garbled = client.get(listing, params={"next": "\x00not-a-token", "endpoint": "<b>"})
        assert garbled.status_code == 200 and 'role="alert"' in garbled.text and "<b>" not in garbled.text, listing
    for gone in ("/console/alarms/no-such-alarm", "/console/registry/no-such-group", "/console/monitoring/nope"):
        assert client.get(gone).status_code == 404
    assert client.get("/console/endpoints/nope/live", headers={"HX-Request": "true"}).status_code == 404
    not_form = client.post(
        "/console/transform-jobs/x/stop", content=b"{}", headers={"content-type": "application/json"}
    )
    assert not_form.status_code == 400
    unknown = client.post("/console/transform-jobs/no-such-job/stop", data={"csrf": csrf})
    assert unknown.status_code == 400 and "no-such-job" in unknown.text
    huge = client.post("/console/transform-jobs/x/stop", data={"csrf": csrf, "pad": "x" * 70_000})
    assert huge.status_code == 400


def test_a_tampered_cookie_is_no_session(client: httpx.Client) -> None:
    signed_in(client)
    value = client.cookies["homeport-console"]
    client.cookies.clear()
    client.cookies.set(
        "homeport-console", value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"), path="/console"
    )
    assert client.get("/console/endpoints").status_code == 303


def test_a_session_ends_when_it_expires_or_its_key_goes() -> None:
    """With a clock of the test's own: the session's end is the server's decision, not only the cookie's."""
    clock = ManualClock(1_000_000.0)
    keys = KeyRing([AccessKey(KEY, SECRET)])

    def operate(service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        assert (service, operation) == ("sagemaker", "ListEndpoints")
        return {"Endpoints": []}

    console = Console(keys, clock, operate, lambda _: [], 60, Locator(None))
    with TestClient(console_app(console), base_url="http://testserver", follow_redirects=False) as http:
        assert http.post("/console/login", data={"access_key_id": KEY, "secret_access_key": SECRET}).status_code == 303
        assert http.get("/console/endpoints").status_code == 200
        clock.advance(12 * 3600 + 1)
        assert http.get("/console/endpoints").status_code == 303
    other = Console(KeyRing([AccessKey("someone-else", SECRET)]), clock, operate, lambda _: [], 60, Locator(None))
    with TestClient(console_app(console), base_url="http://testserver", follow_redirects=False) as first:
        first.post("/console/login", data={"access_key_id": KEY, "secret_access_key": SECRET})
        cookie = first.cookies["homeport-console"]
    with TestClient(console_app(other), base_url="http://testserver", follow_redirects=False) as second:
        second.cookies.set("homeport-console", cookie, path="/console")
        assert second.get("/console/endpoints").status_code == 303  # signed for other keys: not a session here
