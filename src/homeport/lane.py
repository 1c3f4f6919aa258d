"""A lane: one thread that runs short blocking calls for the event loop, in the order they come.

`asyncio.to_thread` pays a hand-off to a pool thread and back for every call: under load, on a small machine,
that costs several times the work itself when the work is a small SQLite transaction or a small file (an async
request's enqueue, its input read, its result write). A lane takes every call queued since it last looked and
hands all their results back to the loop with one wake-up, so the hand-off is paid once per batch. Calls that
may take long (network, large files) do not belong in a lane: everything behind them would wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


class Lane:
    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: deque[_Job] = deque()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._ready:
            self._jobs.append((loop, future, fn, args))
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()
            self._ready.notify()
        return await future

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._jobs:
                    self._ready.wait()
                batch = list(self._jobs)
                self._jobs.clear()
            done: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
            for _, future, fn, args in batch:
                try:
                    done.append((future, fn(*args), None))
                except BaseException as exc:  # handed to the caller, as to_thread would
                    done.append((future, None, exc))
            loops = {loop for loop, *_ in batch}
            for loop in loops:
                mine = [d for d, job in zip(done, batch, strict=True) if job[0] is loop]
                with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting any more
                    loop.call_soon_threadsafe(_settle, mine)


def _settle(done: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, value, error in done:
        if future.cancelled():
            continue
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)
