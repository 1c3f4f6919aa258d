"""A multi-container model in one instance process: the serial chain and direct invocation, with stub handlers."""

from __future__ import annotations

import json
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import pytest

from homeport.runtime.environment import ContainerEnvironment
from homeport.runtime.errors import BadRequest, ModelLoadError
from homeport.runtime.images import Runtime
from homeport.runtime.pipeline import LATENCY, TARGET_CONTAINER, Member, PipelineHandler, pipeline_handler
from homeport.runtime.server import Invocation, Reply
from tests.runtime.conftest import run


class Step:
    """Appends its name to the body; answers in its own content type; records what it was sent."""

    def __init__(self, name: str, fail: Exception | None = None, status: int = 200) -> None:
        self.name, self.fail, self.status = name, fail, status
        self.seen: list[Invocation] = []

    async def invoke(self, invocation: Invocation) -> Reply:
        self.seen.append(invocation)
        if self.fail is not None:
            raise self.fail
        return Reply(invocation.body + self.name.encode(), f"type/{self.name}", self.status)


def chain(*steps: Step, direct: bool = False) -> PipelineHandler:
    return PipelineHandler([Member(s.name, s) for s in steps], direct)


def test_each_reply_and_its_content_type_feed_the_next_step_and_accept_goes_to_the_last() -> None:
    a, b, c = Step("a"), Step("b"), Step("c")
    reply = run(chain(a, b, c).invoke(Invocation(b">", "text/csv", "application/json", "trace=1")))
    assert reply.body == b">abc" and reply.content_type == "type/c"
    assert [(s.seen[0].content_type, s.seen[0].accept) for s in (a, b, c)] == [
        ("text/csv", None),
        ("type/a", None),
        ("type/b", "application/json"),
    ]
    assert all(s.seen[0].custom_attributes == "trace=1" for s in (a, b, c))
    timings = dict(item.split("=") for item in dict(reply.headers)[LATENCY].decode().split(","))
    assert list(timings) == ["a", "b", "c"]
    assert all(micros.isdigit() and status == "200" for micros, status in (t.split("/") for t in timings.values()))


def test_a_failing_step_names_its_container_and_ends_the_chain() -> None:
    a, b, c = Step("a"), Step("b", BadRequest("bad row")), Step("c")
    reply = run(chain(a, b, c).invoke(Invocation(b"x")))
    assert (reply.status, reply.body) == (400, b"container b: bad row")
    assert not c.seen
    statuses = [item.rsplit("/", 1)[1] for item in dict(reply.headers)[LATENCY].decode().split(",")]
    assert statuses == ["200", "400"]  # what ran, and how it ended: the data plane's per-container metrics
    crashed = run(chain(Step("a", RuntimeError("oops"))).invoke(Invocation(b"x")))
    assert (crashed.status, crashed.body) == (500, b"container a: RuntimeError: oops")


def test_a_non_2xx_reply_ends_the_chain() -> None:
    a, b = Step("a", status=204), Step("b")
    assert run(chain(a, b).invoke(Invocation(b"x"))).status == 200  # 2xx goes on
    a, b = Step("a", status=404), Step("b")
    assert run(chain(a, b).invoke(Invocation(b"x"))).status == 404 and not b.seen


def test_direct_invocation_picks_the_container_by_hostname() -> None:
    a, b = Step("a"), Step("b")
    handler = chain(a, b, direct=True)
    reply = run(handler.invoke(Invocation(b">", headers=[(TARGET_CONTAINER, b"b")])))
    assert reply.body == b">b" and not a.seen
    for headers in ([], [(TARGET_CONTAINER, b"zzz")]):
        with pytest.raises(BadRequest, match="one of a, b"):
            run(handler.invoke(Invocation(b">", headers=headers)))


def test_the_spec_loads_each_container_with_its_own_environment(tmp_path: Path) -> None:
    loaded: list[tuple[Runtime, Path, str | None]] = []

    def load(runtime: Runtime, model_dir: Path, env: ContainerEnvironment, pool: Executor) -> Any:
        loaded.append((runtime, model_dir, env.default_accept))
        return Step(model_dir.name)

    spec = {
        "mode": "Serial",
        "containers": [
            {
                "hostname": "pre",
                "runtime": "toolkit",
                "model_dir": str(tmp_path / "p"),
                "environment": {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"},
            },
            {"hostname": "model", "runtime": "xgboost", "model_dir": str(tmp_path / "m"), "environment": {}},
        ],
    }
    handler = pipeline_handler(json.dumps(spec), load, pool=None)  # type: ignore[arg-type]
    assert [m.hostname for m in handler.members] == ["pre", "model"] and not handler.direct
    assert loaded == [(Runtime.TOOLKIT, tmp_path / "p", "text/csv"), (Runtime.XGBOOST, tmp_path / "m", None)]


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("not json", "not a pipeline spec"),
        ('{"mode": "Serial"}', "not a pipeline spec"),
        (
            '{"containers": [{"hostname": "x", "runtime": "toolkit", "model_dir": "/nowhere",'
            ' "environment": {"SAGEMAKER_MODEL_SERVER_WORKERS": "zero"}}]}',
            "container x: environment variable",
        ),
        (
            '{"containers": [{"hostname": "x", "runtime": "toolkit", "model_dir": "/nowhere"}]}',
            "container x: model directory",
        ),
    ],
)
def test_bad_specs_and_models_fail_the_load_naming_the_container(spec: str, words: str) -> None:
    from homeport.runtime.loader import load_handler

    with pytest.raises(ModelLoadError, match=words):
        pipeline_handler(spec, load_handler, pool=None)  # type: ignore[arg-type]
