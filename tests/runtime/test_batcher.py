"""The adaptive micro-batcher on its own."""

from __future__ import annotations

import asyncio

import numpy as np

from homeport.runtime.batcher import MicroBatcher
from tests.runtime.conftest import run


class Doubled:
    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def rows(self, start: int, stop: int) -> Doubled:
        return Doubled(self.values[start:stop])


class Model:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, rows: np.ndarray) -> Doubled:
        self.calls.append(len(rows))
        if (rows < 0).any():
            raise ValueError("negative")
        return Doubled(rows[:, 0] * 2)


def test_a_lone_request_is_predicted_alone() -> None:
    model = Model()

    async def go() -> Doubled:
        return await MicroBatcher(model).submit(np.array([[1.0]]))

    assert run(go()).values.tolist() == [2.0]
    assert model.calls == [1]


def test_concurrent_requests_share_a_call_and_get_their_own_rows() -> None:
    model = Model()

    async def go() -> list[Doubled]:
        batcher = MicroBatcher(model)
        blocks = [np.full((i % 3 + 1, 1), float(i)) for i in range(10)]
        return await asyncio.gather(*(batcher.submit(b) for b in blocks))

    results = run(go())
    assert [r.values.tolist() for r in results] == [[2.0 * i] * (i % 3 + 1) for i in range(10)]
    assert model.calls == [sum(i % 3 + 1 for i in range(10))]


def test_batches_are_capped_at_max_rows() -> None:
    model = Model()

    async def go() -> None:
        batcher = MicroBatcher(model, max_rows=4)
        await asyncio.gather(*(batcher.submit(np.ones((3, 1))) for _ in range(3)))
        await batcher.submit(np.ones((9, 1)))  # bigger than the cap: still one call

    run(go())
    assert model.calls == [3, 3, 3, 9]


def test_one_failing_request_does_not_fail_its_batch() -> None:
    model = Model()

    async def go() -> list[object]:
        batcher = MicroBatcher(model)
        blocks = [np.array([[1.0]]), np.array([[-1.0]]), np.array([[3.0]])]
        return await asyncio.gather(*(batcher.submit(b) for b in blocks), return_exceptions=True)

    good, bad, other = run(go())
    assert isinstance(good, Doubled) and good.values.tolist() == [2.0]
    assert isinstance(bad, ValueError)
    assert isinstance(other, Doubled) and other.values.tolist() == [6.0]


def test_a_cancelled_request_is_skipped() -> None:
    model = Model()

    async def go() -> Doubled:
        batcher = MicroBatcher(model)
        gone = batcher.submit(np.array([[1.0]]))
        gone.cancel()
        return await batcher.submit(np.array([[2.0]]))

    assert run(go()).values.tolist() == [4.0]
    assert model.calls == [2]
