"""The inline engine: instances served from the caller's event loop, reached directly (DirectClient) or through
their socket (InstanceClient), with the real container contract."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from homeport.dataplane.connection import InstanceClient, InstanceDropped, InstanceTimeout, InstanceUnreachable
from homeport.dataplane.direct import DirectClient
from homeport.engines.inline import InlineEngine
from homeport.runtime.address import Address
from tests.engines.conftest import spec


async def loaded(engine: InlineEngine, handle: object, limit_s: float = 60) -> None:
    for _ in range(int(limit_s / 0.01)):
        if engine.exit_code(handle) is not None or engine.direct(handle)() is not None:  # type: ignore[arg-type]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the model did not load")


def test_an_instance_answers_directly_and_on_its_socket_then_stops(tmp_path: Path, model_dir: Path) -> None:
    async def main() -> None:
        engine = InlineEngine()
        ended: list[bool] = []
        engine.watch(lambda: ended.append(True))
        one = spec(tmp_path, model_dir, "one")
        handle = engine.start(one)
        direct = DirectClient(engine.direct(handle))
        with pytest.raises(InstanceUnreachable):  # still loading
            await direct.request("GET", "/ping", [])
        await loaded(engine, handle)
        assert engine.exit_code(handle) is None
        assert (await direct.request("GET", "/ping", [])).status == 200
        reply = await direct.request("POST", "/invocations", [("content-type", "text/csv")], b"1,2,3,4")
        assert reply.status == 200 and np.isfinite(float(reply.body))
        assert reply.headers[b"content-type"].startswith(b"text/csv")
        via_socket = await InstanceClient(Address.unix(one.socket_path)).request(
            "POST", "/invocations", [("content-type", "text/csv")], b"1,2,3,4"
        )
        assert via_socket.body == reply.body  # the same instance, through its socket
        bad = await direct.request("POST", "/invocations", [("content-type", "text/csv")], b"1,2")
        assert bad.status == 400 and b"features" in bad.body
        await engine.stop(handle, grace_s=5)
        assert engine.exit_code(handle) == 0 and ended == [True]
        with pytest.raises(InstanceUnreachable):  # stopped: nothing answers
            await direct.request("GET", "/ping", [])

    asyncio.run(main())


def test_a_model_that_cannot_load_or_bad_settings_end_the_instance_with_the_reason(
    tmp_path: Path, broken_model_dir: Path, model_dir: Path
) -> None:
    async def main() -> None:
        engine = InlineEngine()
        broken = spec(tmp_path, broken_model_dir, "broken")
        handle = engine.start(broken)
        await loaded(engine, handle)
        assert engine.exit_code(handle) == 1 and "not an XGBoost model" in broken.log_path.read_text()
        bad = spec(tmp_path, model_dir, "bad", {"SAGEMAKER_MODEL_SERVER_WORKERS": "many"})
        handle = engine.start(bad)
        await loaded(engine, handle)
        assert engine.exit_code(handle) == 2 and "SAGEMAKER_MODEL_SERVER_WORKERS" in bad.log_path.read_text()
        engine.close()

    asyncio.run(main())


def test_kill_all_ends_every_instance_and_a_slow_or_broken_app_is_an_instance_error(
    tmp_path: Path, model_dir: Path
) -> None:
    async def main() -> None:
        engine = InlineEngine()
        handles = [engine.start(spec(tmp_path, model_dir, name)) for name in ("one", "two")]
        for handle in handles:
            await loaded(engine, handle)
        engine.kill_all()
        assert [engine.exit_code(h) for h in handles] == [-9, -9]

        async def slow(scope: object, receive: object, send: object) -> None:
            await asyncio.sleep(10)

        with pytest.raises(InstanceTimeout):
            await DirectClient(lambda: slow).request("GET", "/ping", [], timeout=0.05)

        async def silent(scope: object, receive: object, send: object) -> None:
            return None

        with pytest.raises(InstanceDropped):
            await DirectClient(lambda: silent).request("GET", "/ping", [])

    asyncio.run(main())
