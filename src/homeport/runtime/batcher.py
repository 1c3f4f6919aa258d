"""Adaptive micro-batching: concurrent small requests share one model call.

A model call has a large fixed cost (xgboost's `inplace_predict` spends ~115 µs per call and ~0.3 µs per
row), so single-record traffic is bound by the number of calls, not rows. The batcher queues each
request's rows and schedules one flush with `call_soon`: every request parsed in the same event-loop
iteration joins that flush, and requests that arrive while a flush predicts (the loop is busy, their
bytes wait in the socket) join the next one. No timer: a lone request is predicted at once, so latency at
low load is unchanged and batches grow only as fast as load does.

The flush runs on the event loop thread. That keeps the hand-off free (no thread wake-ups, which cost as
much as a small prediction) and bounds each flush by `max_rows`; big requests bypass the batcher and run
in the worker pool instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, Protocol, Self, TypeVar

import numpy as np


class RowSliceable(Protocol):
    def rows(self, start: int, stop: int) -> Self: ...


R = TypeVar("R", bound=RowSliceable)


class MicroBatcher(Generic[R]):
    def __init__(self, predict: Callable[[np.ndarray], R], max_rows: int = 2048) -> None:
        self._predict = predict
        self._max_rows = max_rows
        self._pending: list[tuple[np.ndarray, asyncio.Future[R]]] = []
        self._scheduled = False
        self.calls = 0  # model calls made, for tests and diagnostics
        self.requests = 0

    def submit(self, rows: np.ndarray) -> asyncio.Future[R]:
        """Queue a 2-D block of rows (all of one width); the future gets the prediction for exactly these."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((rows, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        start = 0
        while start < len(pending):
            stop, rows = start + 1, len(pending[start][0])
            while stop < len(pending) and rows + len(pending[stop][0]) <= self._max_rows:
                rows += len(pending[stop][0])
                stop += 1
            self._run(pending[start:stop])
            start = stop

    def _run(self, group: list[tuple[np.ndarray, asyncio.Future[R]]]) -> None:
        self.calls += 1
        self.requests += len(group)
        if len(group) == 1:
            rows, future = group[0]
            try:
                result = self._predict(rows)
            except Exception as exc:
                _settle(future, exc=exc)
            else:
                _settle(future, result)
            return
        try:
            result = self._predict(np.concatenate([rows for rows, _ in group]))
        except Exception:
            # One bad request must not fail its neighbours: predict each alone so each gets its own answer.
            for member in group:
                self._run([member])
            return
        offset = 0
        for rows, future in group:
            _settle(future, result.rows(offset, offset + len(rows)))
            offset += len(rows)


def _settle(future: asyncio.Future[R], result: R | None = None, exc: BaseException | None = None) -> None:
    if future.done():  # the request was cancelled (client went away)
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)  # type: ignore[arg-type]
