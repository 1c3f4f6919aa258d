"""The notifier: POSTs queued async-inference notifications to their topic URLs.

It works from the outbox in the store (`store/notifications.py`), apart from the async worker, so a slow or
dead webhook never holds up the queue. A failed attempt (no connection, a timeout, an answer other than 2xx)
is tried again after 1, 2, 4 … seconds, at most 5 minutes apart; after MAX_ATTEMPTS it is given up, and the
event log says why.
"""

from __future__ import annotations

import asyncio
import functools
import http.client
import json
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from homeport import __version__
from homeport.controllers.loop import Loop
from homeport.services.context import Context
from homeport.store import notifications
from homeport.store.notifications import Notification

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10  # about 8.5 minutes of trying
MAX_DELAY_S = 300.0
POST_TIMEOUT_S = 10.0
MAX_SENDING = 16  # deliveries in flight at once
IDLE_TICK_S = 5.0

Post = Callable[[str, bytes, dict[str, str], float], None]


class DeliveryFailed(Exception):
    pass


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed attempt."""
    return min(MAX_DELAY_S, 2.0 ** (attempts - 1))


def post_json(url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
    """One POST; anything but a 2xx answer is a DeliveryFailed. Redirects are not followed."""
    parts = urlsplit(url)
    conn_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_type(parts.netloc, timeout=timeout)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        conn.request("POST", path, body, headers)
        reply = conn.getresponse()
        reply.read(64 * 1024)
        if not 200 <= reply.status < 300:
            raise DeliveryFailed(f"{url} answered {reply.status} {reply.reason}")
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryFailed(f"cannot POST to {url}: {exc}") from exc
    finally:
        conn.close()


class Notifier:
    def __init__(self, ctx: Context, post: Post = post_json) -> None:
        self.ctx = ctx
        self.post = post
        self.loop = Loop("notifier")
        self.wake = self.loop.wake
        self._sending: dict[str, asyncio.Task[None]] = {}

    async def run_forever(self) -> None:
        await self.loop.run(self.run_once, self._delay)

    def _delay(self) -> float:
        with self.ctx.store.reading() as conn:
            due = notifications.next_due(conn)
        if due is None:
            return IDLE_TICK_S
        return min(IDLE_TICK_S, max(0.05, due - self.ctx.clock.now()))

    def run_once(self) -> None:
        room = MAX_SENDING - len(self._sending)
        if room <= 0:
            return
        with self.ctx.store.reading() as conn:
            due = notifications.due(conn, self.ctx.clock.now(), room + len(self._sending))
        for item in due:
            if item.id in self._sending or len(self._sending) >= MAX_SENDING:
                continue
            task = asyncio.get_running_loop().create_task(self.deliver(item))
            self._sending[item.id] = task
            task.add_done_callback(functools.partial(self._sent, item.id))

    def _sent(self, key: str, _: asyncio.Task[None]) -> None:
        self._sending.pop(key, None)

    async def deliver(self, item: Notification) -> None:
        body = json.dumps(item.message, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"homeport/{__version__}",
            "X-Homeport-Notification-Id": item.id,  # the same on every attempt: a receiver can drop repeats
        }
        try:
            await asyncio.to_thread(self.post, item.topic, body, headers, POST_TIMEOUT_S)
        except DeliveryFailed as exc:
            attempts = item.attempts + 1
            retry_at = None if attempts >= MAX_ATTEMPTS else self.ctx.clock.now() + retry_delay(attempts)
            (log.warning if retry_at is None else log.info)(
                "notification %s (%s) from %s, attempt %d: %s%s",
                item.id,
                item.event,
                item.endpoint,
                attempts,
                exc,
                "; giving up" if retry_at is None else "",
            )
            with self.ctx.store.transaction() as conn:
                notifications.mark_failed(conn, item.id, str(exc), retry_at)
        else:
            with self.ctx.store.transaction() as conn:
                notifications.mark_delivered(conn, item.id, self.ctx.clock.now())
        self.wake()

    async def shutdown(self) -> None:
        for task in list(self._sending.values()):
            task.cancel()  # still pending in the store: sent at the next start
        await asyncio.gather(*self._sending.values(), return_exceptions=True)
