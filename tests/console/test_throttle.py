"""Sign-in attempts limited per client, stepped with the test's own clock: the limit, the sliding window, a success
that forgets, the bound on clients remembered, and the page a throttled client gets."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from homeport.api.auth.keys import AccessKey, KeyRing
from homeport.console.app import console_app
from homeport.console.context import Console
from homeport.console.throttle import SignInThrottle
from homeport.core.clock import ManualClock
from homeport.objects.locations import Locator

KEY, SECRET = "AKIDTHROTTLE", "throttle-secret"


def test_a_client_waits_after_its_limit_until_its_oldest_failure_leaves_the_window() -> None:
    throttle = SignInThrottle(limit=3, window_s=60)
    for t in (0.0, 10.0, 20.0):
        assert throttle.wait("a", t) == 0
        throttle.failed("a", t)
    assert throttle.wait("a", 21.0) == 39.0  # the failure at 0 leaves the window at 60
    assert throttle.wait("b", 21.0) == 0  # another client is not held back
    assert throttle.wait("a", 60.0) == 0
    throttle.failed("a", 60.0)
    assert throttle.wait("a", 61.0) == 9.0  # 10, 20 and 60 are in the window: wait for 10's end
    throttle.succeeded("a")
    assert throttle.wait("a", 61.0) == 0


def test_it_remembers_a_bounded_number_of_clients() -> None:
    throttle = SignInThrottle(limit=1, window_s=60, max_clients=2)
    for client in ("a", "b", "c"):
        throttle.failed(client, 0.0)
    assert throttle.wait("a", 1.0) == 0  # forgotten: the one unseen longest
    assert throttle.wait("b", 1.0) == throttle.wait("c", 1.0) == 59.0


def test_a_throttled_client_gets_429_with_retry_after_even_with_the_right_pair() -> None:
    clock = ManualClock(1_000_000.0)

    def operate(service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"Endpoints": []}

    console = Console(KeyRing([AccessKey(KEY, SECRET)]), clock, operate, lambda _: [], 60, Locator(None))
    with TestClient(console_app(console), base_url="http://testserver", follow_redirects=False) as http:
        for _ in range(5):
            wrong = http.post("/console/login", data={"access_key_id": KEY, "secret_access_key": "guess"})
            assert wrong.status_code == 401
            clock.advance(1)
        right = {"access_key_id": KEY, "secret_access_key": SECRET}
        held = http.post("/console/login", data=right)
        assert held.status_code == 429 and held.headers["retry-after"] == "295"
        assert "Too many failed sign-ins" in held.text and "homeport-console" not in held.headers.get("set-cookie", "")
        clock.advance(295)
        assert http.post("/console/login", data=right).status_code == 303
        assert http.post("/console/login", data={**right, "secret_access_key": "guess"}).status_code == 401
