"""The notifier's retries with a manual clock: back-off, delivery, giving up; none of it touches the queue."""

from __future__ import annotations

import asyncio
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from homeport.controllers.notifier import MAX_ATTEMPTS, DeliveryFailed, Notifier, post_json, retry_delay
from homeport.core.clock import ManualClock
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store import Store, notifications
from homeport.store.notifications import Delivery


class FlakyHook:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[tuple[str, bytes]] = []

    def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
        self.calls.append((url, body))
        if len(self.calls) <= self.failures:
            raise DeliveryFailed(f"{url} answered 503 Service Unavailable")


def run_due(notifier: Notifier) -> None:
    """One tick, and the deliveries it started."""

    async def tick() -> None:
        notifier.run_once()
        await asyncio.gather(*notifier._sending.values())

    asyncio.run(tick())


def test_back_off_doubles_to_five_minutes() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 9, 10, 20)] == [1.0, 2.0, 4.0, 256.0, 300.0, 300.0]


def one_notification(tmp_path: Path, failures: int) -> tuple[ManualClock, Store, FlakyHook, Notifier]:
    """A notifier over a store holding one pending notification, and a webhook that fails `failures` times."""
    clock = ManualClock()
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    hook = FlakyHook(failures)
    notifier = Notifier(Context(Settings(data_dir=tmp_path), store, clock), post=hook)
    with store.transaction() as conn:
        notifications.add(conn, "ep", "http://hook/x", {"eventName": "TestNotification"}, clock.now())
    return clock, store, hook, notifier


def test_a_failed_delivery_waits_its_back_off_then_is_delivered(tmp_path: Path) -> None:
    clock, store, hook, notifier = one_notification(tmp_path, failures=2)
    run_due(notifier)
    assert len(hook.calls) == 1
    clock.advance(0.5)
    run_due(notifier)
    assert len(hook.calls) == 1  # not due for another half second
    clock.advance(0.5)
    run_due(notifier)
    assert len(hook.calls) == 2
    clock.advance(1.9)
    run_due(notifier)
    assert len(hook.calls) == 2
    clock.advance(0.1)
    run_due(notifier)
    with store.transaction() as conn:
        (item,) = notifications.recent(conn, "ep", 5)
        assert notifications.failed_attempts(conn, "ep") == 2
    assert (item.state, item.attempts, item.last_error, item.delivered) == (Delivery.DELIVERED, 3, None, clock.now())
    assert hook.calls[-1] == ("http://hook/x", b'{"eventName":"TestNotification"}')
    store.close()


def test_a_webhook_that_never_answers_is_given_up_with_the_reason(tmp_path: Path) -> None:
    clock, store, hook, notifier = one_notification(tmp_path, failures=1000)
    for _ in range(MAX_ATTEMPTS + 3):
        run_due(notifier)
        clock.advance(300)
    assert len(hook.calls) == MAX_ATTEMPTS
    with store.transaction() as conn:
        (item,) = notifications.recent(conn, "ep", 5)
        assert notifications.next_due(conn) is None
    assert item.state == Delivery.ABANDONED and "503" in (item.last_error or "")
    with store.transaction() as conn:
        notifications.prune(conn, delivered_before=clock.now(), abandoned_before=item.created)
        assert len(notifications.recent(conn, "ep", 5)) == 1  # a given-up one is kept longer
        notifications.prune(conn, delivered_before=clock.now(), abandoned_before=item.created + 1)
        assert notifications.recent(conn, "ep", 5) == []
    store.close()


class _Answer(BaseHTTPRequestHandler):
    status = 204

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(self.status)
        if self.status == 302:
            self.send_header("Location", "http://elsewhere.invalid/")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.mark.parametrize(("status", "delivered"), [(204, True), (200, True), (302, False), (500, False)])
def test_post_json_takes_only_a_2xx_answer_and_follows_no_redirect(status: int, delivered: bool) -> None:
    handler = type("Answer", (_Answer,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook?x=1"
    try:
        if delivered:
            post_json(url, b"{}", {"Content-Type": "application/json"}, 5.0)
        else:
            with pytest.raises(DeliveryFailed, match=f"answered {status}"):
                post_json(url, b"{}", {"Content-Type": "application/json"}, 5.0)
    finally:
        server.shutdown()
        server.server_close()


def test_post_json_to_nothing_listening_is_a_delivery_failure() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    with pytest.raises(DeliveryFailed, match="cannot POST"):
        post_json(f"http://127.0.0.1:{port}/", b"{}", {}, 2.0)
