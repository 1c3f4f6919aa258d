"""A lane: one thread that runs short blocking calls for the event loop, in batches.

`asyncio.to_thread` pays a hand-off to a pool thread and back for every call: under load, on a small machine,
that costs several times the work itself when the work is a small SQLite transaction or a small file (an async
request's enqueue, its input read, its result write). A lane takes every call queued since it last looked and
hands all their results back to the loop with one wake-up, so the hand-off is paid once per batch. Calls that
may take long (network, large files) do not belong in a lane: everything behind them would wait.

`transact` calls share a transaction: those of one batch on the same store commit together (group commit), as
a commit costs more than a small statement. A batch's calls are independent (each caller awaits its call before
making the next), so the lane may run them in any order: plain calls in the order they came, then each store's
transaction. When one call of a shared transaction fails, or its commit does, the whole transaction is rolled
back and each call runs again in a transaction of its own, so a call's failure reaches its caller alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Transactional(Protocol):
    """A store whose `transaction()` yields a connection that commits when the block ends without error."""

    def transaction(self, *, relaxed: bool = False) -> AbstractContextManager[Any]: ...


@dataclass(slots=True)
class _Job:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    store: Transactional | None  # set: fn(conn, *args), in a transaction on this store
    relaxed: bool = False  # its commit need not be synced (a shared commit is, when one of its calls needs it)
    value: Any = None
    error: BaseException | None = None


class Lane:
    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: deque[_Job] = deque()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) on the lane's thread."""
        return await self._submit(fn, args, None)

    async def transact(self, store: Transactional, fn: Callable[..., T], *args: Any, relaxed: bool = False) -> T:
        """fn(conn, *args) on the lane's thread, in a transaction on `store` that other calls of the same batch
        may share. fn may run twice (its shared transaction failed), so outside that connection it may only read."""
        return await self._submit(fn, args, store, relaxed)

    async def _submit(
        self, fn: Callable[..., T], args: tuple[Any, ...], store: Transactional | None, relaxed: bool = False
    ) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._ready:
            self._jobs.append(_Job(loop, future, fn, args, store, relaxed))
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
            _run(batch)
            del batch  # an idle lane holds nothing of its last batch (its callers, their loop)


def _run(batch: list[_Job]) -> None:
    shared: dict[int, tuple[Transactional, list[_Job]]] = {}
    for job in batch:
        if job.store is None:
            _call(job)
        else:
            shared.setdefault(id(job.store), (job.store, []))[1].append(job)
    for store, jobs in shared.values():
        _group_commit(store, jobs)
    for loop in {job.loop for job in batch}:
        mine = [job for job in batch if job.loop is loop]
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(_settle, mine)


def _call(job: _Job) -> None:
    try:
        job.value, job.error = job.fn(*job.args), None
    except BaseException as exc:  # handed to the caller, as to_thread would
        job.value, job.error = None, exc


def _group_commit(store: Transactional, jobs: list[_Job]) -> None:
    if len(jobs) > 1:
        try:
            with store.transaction(relaxed=all(job.relaxed for job in jobs)) as conn:
                for job in jobs:
                    job.value = job.fn(conn, *job.args)
            return
        except BaseException:  # rolled back: each again on its own, so that only the failing call fails
            pass
    for job in jobs:
        try:
            with store.transaction(relaxed=job.relaxed) as conn:
                job.value, job.error = job.fn(conn, *job.args), None
        except BaseException as exc:
            job.value, job.error = None, exc


def _settle(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.future.cancelled():
            continue
        if job.error is None:
            job.future.set_result(job.value)
        else:
            job.future.set_exception(job.error)
