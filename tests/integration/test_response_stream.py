"""InvokeEndpointWithResponseStream with boto3 against a real `homeport serve`, with instances as processes and
served inline: a generator's parts arrive as PayloadPart events as they are made; a stream that breaks ends with
a ModelStreamError; what fails before the first part fails as InvokeEndpoint does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError, EventStreamError

from homeport.server.process import ServerProcess
from tests.conftest import KEYS, boto_client, csv_rows, deploy
from tests.integration.conftest import code_only_model

STREAMER = """
import time


def model_fn(model_dir):
    return None


def transform_fn(model, data, content_type, accept, context):
    text = data.decode() if isinstance(data, bytes) else data
    if text.startswith("refuse"):
        raise ValueError("not this one")

    def tokens():
        for i, word in enumerate(text.split()):
            if word == "boom":
                raise RuntimeError("the generator broke")
            time.sleep(0.05)
            yield f"{word}:{i} "

    context.response_custom_attributes = "streamed=yes"
    return tokens(), "text/plain"
"""


@pytest.fixture(scope="module")
def streamer(tmp_path_factory: pytest.TempPathFactory) -> str:
    return code_only_model(tmp_path_factory.mktemp("streamer"), STREAMER)


@pytest.fixture(scope="module", params=["process", "inline"])
def host(request: pytest.FixtureRequest, server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if request.param == "process":
        yield server
        return
    env = {"HOMEPORT_LOG_LEVEL": "warning", "HOMEPORT_INSTANCE_MODE": "inline", **KEYS}
    with ServerProcess(tmp_path_factory.mktemp("inline-stream"), env=env) as proc:
        yield proc


def parts(reply: dict[str, Any]) -> list[bytes]:
    return [event["PayloadPart"]["Bytes"] for event in reply["Body"]]


def test_a_generator_streams_part_by_part(host: Any, streamer: str) -> None:
    sm, runtime = boto_client("sagemaker", host.url), boto_client("sagemaker-runtime", host.url)
    endpoint = deploy(sm, streamer, image="homeport/python")["endpoint"]
    started = time.perf_counter()
    reply = runtime.invoke_endpoint_with_response_stream(
        EndpointName=endpoint, Body=b"one two three four five six", ContentType="text/plain"
    )
    assert (reply["ContentType"], reply["InvokedProductionVariant"]) == ("text/plain", "v1")
    assert reply["CustomAttributes"] == "streamed=yes"
    arrivals, received = [], []
    for event in reply["Body"]:
        arrivals.append(time.perf_counter() - started)
        received.append(event["PayloadPart"]["Bytes"])
    assert b"".join(received) == b"one:0 two:1 three:2 four:3 five:4 six:5 "
    assert len(received) >= 3  # part by part, not the whole reply at the end
    assert arrivals[-1] - arrivals[0] > 0.1  # the last part came well after the first

    with pytest.raises(EventStreamError) as err:
        parts(runtime.invoke_endpoint_with_response_stream(EndpointName=endpoint, Body=b"a b boom c"))
    assert err.value.response["Error"]["Code"] == "ModelStreamError"
    assert "broke off" in err.value.response["Error"]["Message"]

    with pytest.raises(ClientError) as refused:  # before the first part: InvokeEndpoint's ModelError
        runtime.invoke_endpoint_with_response_stream(EndpointName=endpoint, Body=b"refuse me")
    assert refused.value.response["Error"]["Code"] == "ModelError"
    assert "not this one" in refused.value.response["Error"]["Message"]
    sm.delete_endpoint(EndpointName=endpoint)


def test_a_model_that_does_not_stream_answers_in_one_part(sm: Any, runtime: Any, xgb_model: dict[str, Any]) -> None:
    endpoint = deploy(sm, xgb_model["url"])["endpoint"]
    x = xgb_model["x"][:4]
    reply = runtime.invoke_endpoint_with_response_stream(
        EndpointName=endpoint, Body=csv_rows(x), ContentType="text/csv"
    )
    body = b"".join(parts(reply))
    np.testing.assert_allclose(
        np.array(body.split(), dtype=np.float32), xgb_model["booster"].inplace_predict(x), rtol=1e-6
    )
    sm.delete_endpoint(EndpointName=endpoint)


def test_bad_stream_requests_get_the_runtime_errors(runtime: Any) -> None:
    with pytest.raises(ClientError) as err:
        runtime.invoke_endpoint_with_response_stream(EndpointName="no-such-endpoint", Body=b"1")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "not found" in err.value.response["Error"]["Message"]
