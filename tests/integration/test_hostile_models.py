"""Hostile model archives behind a real endpoint: each one leaves the endpoint Failed with a FailureReason
that names the problem, and nothing is written outside the server's model cache.

One server of its own for this module, so that its model-size limit is small enough for a bomb that a
test can build in milliseconds (HOMEPORT_MAX_MODEL_BYTES, 1 MiB here), and so that the whole temporary
tree around its data directory can be checked for anything written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import WaiterError

from homeport.server.process import ServerProcess
from tests.conftest import KEYS, boto_client, deploy, wait_in_service
from tests.objects.test_hostile_archives import Members, bomb, link, regular, snapshot, targz

LIMIT = 1 << 20
# The server unpacks into <data>/cache/models/.unpack-*/model; five `..` from there is `Hostile.root`.
UP = "../" * 5


@dataclass
class Hostile:
    root: Path
    outside: Path
    data: Path
    sm: Any


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    root = tmp_path_factory.mktemp("hostile")
    (root / "outside").mkdir()
    (root / "outside" / "victim.txt").write_bytes(b"precious")
    (root / "archives").mkdir()
    env = {"HOMEPORT_LOG_LEVEL": "warning", "HOMEPORT_MAX_MODEL_BYTES": str(LIMIT), **KEYS}
    with ServerProcess(root / "data", env=env) as server:
        yield Hostile(root, root / "outside", root / "data", boto_client("sagemaker", server.url))


CASES: dict[str, tuple[Callable[[Hostile], bytes], str]] = {
    "absolute path": (
        lambda h: targz([regular(str(h.outside / "pwned"))]),
        "is unsafe to unpack: member '/.*/outside/pwned': absolute paths are not allowed",
    ),
    "dot-dot": (
        lambda h: targz([regular(UP + "outside/pwned")]),
        r"is unsafe to unpack: member '(\.\./)+outside/pwned': '\.\.' would leave the model directory",
    ),
    "symlink out, then a file through it": (
        lambda h: targz(_symlink_out()),
        r"is unsafe to unpack: symlink 'out' -> '(\.\./)+outside' points outside the model directory",
    ),
    "decompression bomb": (
        lambda h: bomb(256 * LIMIT),
        rf"unpacks to at least \d+ bytes, over the limit of {LIMIT} \(HOMEPORT_MAX_MODEL_BYTES\)",
    ),
}


def _symlink_out() -> Members:
    return [link("out", UP + "outside"), regular("out/pwned")]


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_model_fails_its_endpoint_and_writes_nothing_outside(hostile: Hostile, case: str) -> None:
    make, reason = CASES[case]
    archive = hostile.root / "archives" / f"{re.sub(r'[^a-z]+', '-', case)}.tar.gz"
    archive.write_bytes(make(hostile))
    before = snapshot(hostile.root, skip=hostile.data)

    names = deploy(hostile.sm, archive.as_uri(), wait=False)
    with pytest.raises(WaiterError, match="Failed"):  # the waiter stops at Failed
        wait_in_service(hostile.sm, names["endpoint"])
    described = hostile.sm.describe_endpoint(EndpointName=names["endpoint"])
    assert described["EndpointStatus"] == "Failed"
    assert described["FailureReason"].startswith("The model ")
    assert re.search(reason, described["FailureReason"]), described["FailureReason"]

    assert snapshot(hostile.root, skip=hostile.data) == before  # nothing written, linked or changed
    assert not any("pwned" in str(p) for p in hostile.root.rglob("*"))
    models = hostile.data / "cache" / "models"
    assert models.is_dir() and os.listdir(models) == []  # nothing half-unpacked left behind
    hostile.sm.delete_endpoint(EndpointName=names["endpoint"])
