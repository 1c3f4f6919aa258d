"""Sign-in attempts, limited per client: after LIMIT failures within WINDOW_S a client waits until the oldest of
them is WINDOW_S old, whatever it sends (a right pair too), so that secrets cannot be guessed at the server's pace.
A success forgets the client's failures. Per client address, not per key: a stranger cannot lock a user out by
failing with their key id. Behind a proxy every client shares the proxy's address, and its limit."""

from __future__ import annotations

from collections import OrderedDict

LIMIT = 5
WINDOW_S = 300.0
MAX_CLIENTS = 10_000  # remembered at once; the one unseen longest is forgotten first


class SignInThrottle:
    def __init__(self, limit: int = LIMIT, window_s: float = WINDOW_S, max_clients: int = MAX_CLIENTS) -> None:
        self.limit, self.window_s, self.max_clients = limit, window_s, max_clients
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def wait(self, client: str, now: float) -> float:
        """Seconds until `client` may try again: 0 when it may now."""
        recent = self._recent(client, now)
        if len(recent) < self.limit:
            return 0.0
        return recent[-self.limit] + self.window_s - now

    def failed(self, client: str, now: float) -> None:
        self._failures[client] = [*self._recent(client, now), now][-self.limit :]
        self._failures.move_to_end(client)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)

    def _recent(self, client: str, now: float) -> list[float]:
        return [t for t in self._failures.get(client, []) if now - t < self.window_s]
