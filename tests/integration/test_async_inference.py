"""Asynchronous inference driven with boto3 against a real `homeport serve`: the queue, results, failures."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from homeport.controllers.async_invocations import STREAM_ABOVE
from homeport.server.process import ServerProcess
from tests.conftest import KEYS, ROLE, XGBOOST_IMAGE, assert_scores, boto_client, csv_rows, unique, wait_in_service
from tests.integration.test_lifecycle import until
from tests.integration.test_transform_jobs import id_rows


def deploy_async(
    sm: Any,
    model_url: str,
    bucket: str,
    *,
    image: str = "homeport/python",
    env: dict[str, str] | None = None,
    per_instance: int | None = None,
    failure_path: bool = True,
    notification: dict[str, Any] | None = None,
    output_bucket: str | None = None,
) -> str:
    model = unique("model")
    container: dict[str, Any] = {"Image": image, "ModelDataUrl": model_url}
    if env:
        container["Environment"] = env
    sm.create_model(ModelName=model, PrimaryContainer=container, ExecutionRoleArn=ROLE)
    output: dict[str, Any] = {"S3OutputPath": f"s3://{output_bucket or bucket}/results/"}
    if failure_path:
        output["S3FailurePath"] = f"s3://{bucket}/failures/"
    if notification:
        output["NotificationConfig"] = notification
    config: dict[str, Any] = {"OutputConfig": output}
    if per_instance:
        config["ClientConfig"] = {"MaxConcurrentInvocationsPerInstance": per_instance}
    name = unique("async-config")
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "v1", "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
        AsyncInferenceConfig=config,
    )
    endpoint = unique("async")
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=name)
    wait_in_service(sm, endpoint)
    return endpoint


def object_at(s3: Any, uri: str) -> bytes | None:
    bucket, _, key = uri[len("s3://") :].partition("/")
    try:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "NoSuchBucket"):
            return None
        raise
    return body


def result(s3: Any, reply: dict[str, Any]) -> tuple[str, bytes]:
    """("output" | "failure", the object) once one of the two exists."""
    found: dict[str, bytes] = {}

    def landed() -> bool:
        for kind, key in (("output", "OutputLocation"), ("failure", "FailureLocation")):
            body = object_at(s3, reply[key])
            if body is not None:
                found[kind] = body
        return bool(found)

    until(landed, timeout=60)
    assert len(found) == 1, found
    return next(iter(found.items()))


def test_a_request_is_queued_and_its_result_lands_at_the_output_location(
    sm: Any, runtime: Any, s3: Any, bucket: str, xgb_model: dict[str, Any]
) -> None:
    endpoint = deploy_async(sm, xgb_model["url"], bucket, image=XGBOOST_IMAGE)
    described = sm.describe_endpoint(EndpointName=endpoint)
    assert described["AsyncInferenceConfig"]["OutputConfig"]["S3OutputPath"] == f"s3://{bucket}/results/"
    x = xgb_model["x"][:20]
    s3.put_object(Bucket=bucket, Key="requests/rows.csv", Body=csv_rows(x))
    reply = runtime.invoke_endpoint_async(
        EndpointName=endpoint,
        InputLocation=f"s3://{bucket}/requests/rows.csv",
        ContentType="text/csv",
        InferenceId="my-request-1",
    )
    assert reply["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert reply["InferenceId"] == "my-request-1"
    assert reply["OutputLocation"].startswith(f"s3://{bucket}/results/") and reply["OutputLocation"].endswith(".out")
    assert reply["FailureLocation"].startswith(f"s3://{bucket}/failures/")
    kind, body = result(s3, reply)
    assert kind == "output"
    assert_scores(body, xgb_model, x)
    named = runtime.invoke_endpoint_async(
        EndpointName=endpoint,
        InputLocation=f"s3://{bucket}/requests/rows.csv",
        ContentType="text/csv",
        Filename="scores.csv",
        S3OutputPathExtension="daily/2026-11-25",
    )
    assert named["OutputLocation"] == f"s3://{bucket}/results/daily/2026-11-25/scores.csv"
    assert result(s3, named)[0] == "output"
    # The https:// forms of the same S3 object, as SageMaker takes them, key percent-encoded.
    s3.put_object(Bucket=bucket, Key="requests/rows 2.csv", Body=csv_rows(x[:5]))
    for url in (
        f"https://{bucket}.s3.us-east-1.amazonaws.com/requests/rows%202.csv",
        f"https://s3.us-east-1.amazonaws.com/{bucket}/requests/rows%202.csv",
    ):
        reply = runtime.invoke_endpoint_async(EndpointName=endpoint, InputLocation=url, ContentType="text/csv")
        kind, body = result(s3, reply)
        assert kind == "output"
        assert_scores(body, xgb_model, x[:5])


def test_the_two_kinds_of_endpoint_take_only_their_own_invocations(
    sm: Any, runtime: Any, s3: Any, bucket: str, xgb_model: dict[str, Any]
) -> None:
    from tests.conftest import deploy

    async_endpoint = deploy_async(sm, xgb_model["url"], bucket, image=XGBOOST_IMAGE)
    with pytest.raises(ClientError) as err:
        runtime.invoke_endpoint(EndpointName=async_endpoint, ContentType="text/csv", Body=b"1,2,3,4")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "InvokeEndpointAsync" in err.value.response["Error"]["Message"]
    sync_endpoint = deploy(sm, xgb_model["url"])["endpoint"]
    s3.put_object(Bucket=bucket, Key="r.csv", Body=b"1,2,3,4")
    with pytest.raises(ClientError) as err:
        runtime.invoke_endpoint_async(EndpointName=sync_endpoint, InputLocation=f"s3://{bucket}/r.csv")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "not an asynchronous endpoint" in err.value.response["Error"]["Message"]


def test_bad_requests_are_refused_before_they_are_queued(
    sm: Any, runtime: Any, s3: Any, bucket: str, xgb_model: dict[str, Any]
) -> None:
    endpoint = deploy_async(sm, xgb_model["url"], bucket, image=XGBOOST_IMAGE)

    def refused(**params: Any) -> str:
        with pytest.raises(ClientError) as err:
            runtime.invoke_endpoint_async(EndpointName=endpoint, **params)
        assert err.value.response["Error"]["Code"] == "ValidationError"
        message: str = err.value.response["Error"]["Message"]
        return message

    assert "there is no object" in refused(InputLocation=f"s3://{bucket}/absent.csv")
    assert "must name an S3 object" in refused(InputLocation="https://example.com/rows.csv")
    assert "there is no object" in refused(InputLocation=f"https://{bucket}.s3.amazonaws.com/absent.csv")
    assert "'a.b.c' at 'filename'" in refused(InputLocation=f"s3://{bucket}/absent.csv", Filename="a.b.c")
    assert (
        "s3outputpathextension" in refused(InputLocation=f"s3://{bucket}/r.csv", S3OutputPathExtension="s3:x").lower()
    )
    assert "at 'inferenceId' failed to satisfy constraint: Member must have length less than or equal to 64" in refused(
        InputLocation=f"s3://{bucket}/r.csv", InferenceId="i" * 65
    )
    s3.put_object(Bucket=bucket, Key="r.csv", Body=b"1,2,3,4")
    assert "requestttlseconds" in refused(InputLocation=f"s3://{bucket}/r.csv", RequestTTLSeconds=21601).lower()
    assert (
        "invocationtimeoutseconds"
        in refused(InputLocation=f"s3://{bucket}/r.csv", InvocationTimeoutSeconds=3601).lower()
    )
    with pytest.raises(ClientError) as err:
        runtime.invoke_endpoint_async(EndpointName="no-such-endpoint", InputLocation=f"s3://{bucket}/r.csv")
    assert "not found" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        sm.create_endpoint_config(
            EndpointConfigName=unique("c"),
            ProductionVariants=[
                {"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
            ],
            AsyncInferenceConfig={
                "OutputConfig": {
                    "S3OutputPath": f"s3://{bucket}/r/",
                    "NotificationConfig": {"SuccessTopic": "arn:aws:sns:us-east-1:000000000000:done"},
                }
            },
        )
    message = err.value.response["Error"]["Message"]
    assert "NotificationConfig.SuccessTopic" in message and "http://" in message


def test_model_errors_and_timeouts_write_a_failure_document(
    sm: Any, runtime: Any, s3: Any, bucket: str, xgb_model: dict[str, Any], probe: str
) -> None:
    endpoint = deploy_async(sm, xgb_model["url"], bucket, image=XGBOOST_IMAGE)
    s3.put_object(Bucket=bucket, Key="wide.csv", Body=b"1,2,3,4,5,6,7\n")
    reply = runtime.invoke_endpoint_async(
        EndpointName=endpoint, InputLocation=f"s3://{bucket}/wide.csv", ContentType="text/csv"
    )
    kind, body = result(s3, reply)
    document = json.loads(body)
    assert kind == "failure" and document["StatusCode"] == 400 and "model answered 400" in document["FailureReason"]
    assert document["InferenceId"] == reply["InferenceId"]

    slow = deploy_async(sm, probe, bucket, env={"PROBE_MODE": "sleep", "PROBE_SLEEP": "5"}, failure_path=False)
    s3.put_object(Bucket=bucket, Key="one.csv", Body=b"1\n")
    reply = runtime.invoke_endpoint_async(
        EndpointName=slow, InputLocation=f"s3://{bucket}/one.csv", ContentType="text/csv", InvocationTimeoutSeconds=1
    )
    assert reply["FailureLocation"].startswith(f"s3://{bucket}/results/")  # no S3FailurePath: beside the outputs
    kind, body = result(s3, reply)
    assert kind == "failure" and "InvocationTimeoutSeconds (1 s)" in json.loads(body)["FailureReason"]


def test_an_output_that_cannot_be_written_ends_with_a_failure_document(
    sm: Any, runtime: Any, s3: Any, bucket: str, probe: str
) -> None:
    outputs = unique("outputs")
    s3.create_bucket(Bucket=outputs)
    endpoint = deploy_async(sm, probe, bucket, output_bucket=outputs)
    s3.delete_bucket(Bucket=outputs)  # gone before the reply is written
    s3.put_object(Bucket=bucket, Key="unwritable.csv", Body=b"7,8\n")
    reply = runtime.invoke_endpoint_async(
        EndpointName=endpoint, InputLocation=f"s3://{bucket}/unwritable.csv", ContentType="text/csv"
    )
    kind, body = result(s3, reply)
    assert kind == "failure"
    document = json.loads(body)
    assert document["StatusCode"] == 500
    assert f"Cannot write the output to s3://{outputs}/results/" in document["FailureReason"]
    assert "bucket" in document["FailureReason"]


def test_an_instance_killed_mid_request_costs_nothing_but_time(
    server: Any, sm: Any, runtime: Any, s3: Any, bucket: str, probe: str
) -> None:
    endpoint = deploy_async(sm, probe, bucket, env={"PROBE_MODE": "sleep", "PROBE_SLEEP": "1"})
    s3.put_object(Bucket=bucket, Key="in.csv", Body=id_rows(0, 3))
    warm = runtime.invoke_endpoint_async(
        EndpointName=endpoint, InputLocation=f"s3://{bucket}/in.csv", ContentType="text/csv"
    )
    victim = int(result(s3, warm)[1].decode().split(",")[1])  # the probe writes its pid on every line
    assert victim in server.instance_pids()
    reply = runtime.invoke_endpoint_async(
        EndpointName=endpoint, InputLocation=f"s3://{bucket}/in.csv", ContentType="text/csv"
    )
    os.kill(victim, signal.SIGKILL)  # while it sleeps on the request
    kind, body = result(s3, reply)
    assert kind == "output", body
    lines = body.decode().splitlines()
    assert [line.split(",")[0] for line in lines] == ["0", "1", "2"]
    assert lines[0].split(",")[1] != str(victim)  # answered by the replacement


def test_queued_requests_survive_a_kill_9_of_the_server(tmp_path: Path, probe: str) -> None:
    data_dir = tmp_path / "data"
    env = {"HOMEPORT_LOG_LEVEL": "warning", **KEYS}
    server = ServerProcess(data_dir, env=env).start()
    try:
        sm, rt, s3 = (boto_client(s, server.url) for s in ("sagemaker", "sagemaker-runtime", "s3"))
        s3.create_bucket(Bucket="queued")
        endpoint = deploy_async(sm, probe, "queued", env={"PROBE_MODE": "sleep", "PROBE_SLEEP": "0.3"})
        replies = []
        for i in range(6):
            s3.put_object(Bucket="queued", Key=f"in/{i}.csv", Body=id_rows(10 * i, 2))
            replies.append(
                rt.invoke_endpoint_async(
                    EndpointName=endpoint, InputLocation=f"s3://queued/in/{i}.csv", ContentType="text/csv"
                )
            )
        until(lambda: object_at(s3, replies[0]["OutputLocation"]) is not None)
        server.stop(signal.SIGKILL)
    finally:
        server.stop()
    with ServerProcess(data_dir, env=env) as server:
        s3 = boto_client("s3", server.url)
        for i, reply in enumerate(replies):
            kind, body = result(s3, reply)
            assert kind == "output"
            assert [line.split(",")[0] for line in body.decode().splitlines()] == [str(10 * i), str(10 * i + 1)]


def test_requests_queued_for_a_deleted_endpoint_each_end_with_a_failure_document(
    sm: Any, runtime: Any, s3: Any, bucket: str, probe: str
) -> None:
    endpoint = deploy_async(sm, probe, bucket, env={"PROBE_MODE": "sleep", "PROBE_SLEEP": "1"})
    s3.put_object(Bucket=bucket, Key="doomed.csv", Body=id_rows(0, 1))
    replies = [
        runtime.invoke_endpoint_async(
            EndpointName=endpoint, InputLocation=f"s3://{bucket}/doomed.csv", ContentType="text/csv"
        )
        for _ in range(4)
    ]
    sm.delete_endpoint(EndpointName=endpoint)  # one request is with the model; three are queued
    ends = [result(s3, reply) for reply in replies]
    failures = [json.loads(body) for kind, body in ends if kind == "failure"]
    assert len(failures) >= 3, ends
    assert all(f"endpoint {endpoint} was deleted" in f["FailureReason"] for f in failures)


def test_a_large_payload_streams_to_the_instance_and_back(
    sm: Any, runtime: Any, s3: Any, bucket: str, probe: str
) -> None:
    """Over 8 MB the payload and the reply stream through homeport (and past InvokeEndpoint's 6 MB limit)."""
    endpoint = deploy_async(sm, probe, bucket, env={"PROBE_MODE": "echo"})
    payload = b"".join(b"%d,%s\n" % (i, b"x" * (i % 97)) for i in range(180_000))  # ~10 MB
    assert len(payload) > STREAM_ABOVE
    s3.put_object(Bucket=bucket, Key="large.csv", Body=payload)
    reply = runtime.invoke_endpoint_async(
        EndpointName=endpoint, InputLocation=f"s3://{bucket}/large.csv", ContentType="text/csv"
    )
    kind, body = result(s3, reply)
    assert kind == "output" and body == payload

    crashing = deploy_async(sm, probe, bucket, env={"PROBE_MODE": "crash"})
    s3.put_object(Bucket=bucket, Key="large-boom.csv", Body=payload + b"boom\n")
    reply = runtime.invoke_endpoint_async(
        EndpointName=crashing, InputLocation=f"s3://{bucket}/large-boom.csv", ContentType="text/csv"
    )
    kind, body = result(s3, reply)
    assert kind == "failure"
    assert "ended before replying, 3 times" in json.loads(body)["FailureReason"]


def test_a_streamed_payload_past_its_invocation_timeout_fails_with_a_timeout_document(
    sm: Any, runtime: Any, s3: Any, bucket: str, probe: str
) -> None:
    endpoint = deploy_async(sm, probe, bucket, env={"PROBE_MODE": "sleep", "PROBE_SLEEP": "5"})
    s3.put_object(Bucket=bucket, Key="slow-large.csv", Body=b"1,2\n" * (STREAM_ABOVE // 4 + 1))
    reply = runtime.invoke_endpoint_async(
        EndpointName=endpoint,
        InputLocation=f"s3://{bucket}/slow-large.csv",
        ContentType="text/csv",
        InvocationTimeoutSeconds=1,
    )
    kind, body = result(s3, reply)
    assert kind == "failure" and "InvocationTimeoutSeconds (1 s)" in json.loads(body)["FailureReason"]


def test_requests_queued_when_the_endpoint_turns_real_time_each_end_with_a_failure_document(
    sm: Any, runtime: Any, s3: Any, bucket: str, probe: str
) -> None:
    endpoint = deploy_async(sm, probe, bucket, env={"PROBE_MODE": "sleep", "PROBE_SLEEP": "1"})
    config = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    )
    realtime = unique("realtime-config")
    sm.create_endpoint_config(EndpointConfigName=realtime, ProductionVariants=config["ProductionVariants"])
    s3.put_object(Bucket=bucket, Key="turning.csv", Body=id_rows(0, 1))
    replies = [
        runtime.invoke_endpoint_async(EndpointName=endpoint, InputLocation=f"s3://{bucket}/turning.csv")
        for _ in range(4)
    ]
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=realtime)
    ends = [result(s3, reply) for reply in replies]
    failures = [json.loads(body)["FailureReason"] for kind, body in ends if kind == "failure"]
    assert failures and all("updated to a real-time config" in f for f in failures), ends
    wait_in_service(sm, endpoint)
    with pytest.raises(ClientError) as err:
        runtime.invoke_endpoint_async(EndpointName=endpoint, InputLocation=f"s3://{bucket}/turning.csv")
    assert "not an asynchronous endpoint" in err.value.response["Error"]["Message"]
