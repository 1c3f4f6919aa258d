"""s3:// URIs served by an external S3-compatible store (moto's server stands in for it on loopback)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.conftest import KEYS, XGBOOST_IMAGE, assert_scores, boto_client, csv_rows, deploy

pytest.importorskip("s3fs")


@pytest.fixture(scope="module")
def external_server(remote: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from homeport.server.process import ServerProcess

    env = {
        "HOMEPORT_LOG_LEVEL": "warning",
        **KEYS,
        "HOMEPORT_S3_ENDPOINT_URL": remote,
        "HOMEPORT_S3_ACCESS_KEY_ID": "remote-key",
        "HOMEPORT_S3_SECRET_ACCESS_KEY": "remote-secret",
        "HOMEPORT_CAPTURE_FLUSH_S": "0.2",
    }
    with ServerProcess(tmp_path_factory.mktemp("external"), env=env) as proc:
        yield proc


def bucket_with_model(remote: str, bucket: str, xgb_model: dict[str, Any], key: str = "model.tar.gz") -> Any:
    """A client of the external store, in which `bucket` now holds the XGBoost model archive at `key`."""
    store = boto_client("s3", remote)
    store.create_bucket(Bucket=bucket)
    store.upload_file(str(xgb_model["path"]), bucket, key)
    return store


def test_models_come_from_the_external_store(
    remote: str, external_server: Any, xgb_model: dict[str, Any], tmp_path: Path
) -> None:
    bucket_with_model(remote, "remote-models", xgb_model, "abalone/model.tar.gz")
    sm = boto_client("sagemaker", external_server.url)
    names = deploy(sm, "s3://remote-models/abalone/model.tar.gz")
    runtime = boto_client("sagemaker-runtime", external_server.url)
    x = xgb_model["x"][:3]
    reply = runtime.invoke_endpoint(EndpointName=names["endpoint"], ContentType="text/csv", Body=csv_rows(x))
    got = np.array([float(v) for v in reply["Body"].read().decode().split("\n")])
    np.testing.assert_allclose(got, xgb_model["booster"].inplace_predict(x), rtol=1e-6)
    with pytest.raises(ClientError) as raised:
        deploy(sm, "s3://remote-models/absent.tar.gz")
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "s3://remote-models/absent.tar.gz" in raised.value.response["Error"]["Message"]


def test_the_embedded_s3_face_is_off_and_says_where_to_go(remote: str, external_server: Any) -> None:
    s3 = boto_client("s3", external_server.url)
    with pytest.raises(ClientError) as raised:
        s3.list_buckets()
    error = raised.value.response["Error"]
    assert error["Code"] == "NotImplemented" and remote in error["Message"]


def test_transform_jobs_read_and_write_the_external_store(
    remote: str, external_server: Any, xgb_model: dict[str, Any]
) -> None:
    from tests.integration.test_transform_jobs import create_model, run_job

    store = bucket_with_model(remote, "remote-batch", xgb_model, "model/model.tar.gz")
    x = xgb_model["x"]
    store.put_object(Bucket="remote-batch", Key="in/part-1.csv", Body=csv_rows(x[:100]) + b"\n")
    store.put_object(Bucket="remote-batch", Key="in/deep/part-2.csv", Body=csv_rows(x[100:]) + b"\n")
    store.put_object(Bucket="remote-batch", Key="input-elsewhere.csv", Body=csv_rows(x[:1]))
    sm = boto_client("sagemaker", external_server.url)
    from tests.conftest import XGBOOST_IMAGE

    model = create_model(sm, "s3://remote-batch/model/model.tar.gz", XGBOOST_IMAGE)
    job = run_job(sm, model, "s3://remote-batch/in/part-", "s3://remote-batch/out/")
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    listed = sorted(o["Key"] for o in store.list_objects_v2(Bucket="remote-batch", Prefix="out/")["Contents"])
    assert listed == ["out/part-1.csv.out"]
    job = run_job(sm, model, "s3://remote-batch/in/", "s3://remote-batch/out2/")
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    for key, rows in (("out2/part-1.csv.out", x[:100]), ("out2/deep/part-2.csv.out", x[100:])):
        got = np.array(store.get_object(Bucket="remote-batch", Key=key)["Body"].read().split(), dtype=np.float32)
        np.testing.assert_allclose(got, xgb_model["booster"].inplace_predict(rows), rtol=1e-6)
    missing = run_job(sm, model, "s3://remote-batch/nothing/", "s3://remote-batch/out3/")
    assert missing["TransformJobStatus"] == "Failed" and "No S3 objects found" in missing["FailureReason"]


def test_async_requests_read_and_write_the_external_store(
    remote: str, external_server: Any, xgb_model: dict[str, Any], probe: str
) -> None:
    """Small payloads (read whole, one PUT) and a large one (streamed both ways, a multipart upload)."""
    from tests.integration.test_async_inference import deploy_async, result

    store = bucket_with_model(remote, "remote-async", xgb_model)
    sm = boto_client("sagemaker", external_server.url)
    runtime = boto_client("sagemaker-runtime", external_server.url)
    endpoint = deploy_async(sm, "s3://remote-async/model.tar.gz", "remote-async", image=XGBOOST_IMAGE)
    x = xgb_model["x"][:5]
    store.put_object(Bucket="remote-async", Key="in/rows.csv", Body=csv_rows(x))
    reply = runtime.invoke_endpoint_async(
        EndpointName=endpoint, InputLocation="s3://remote-async/in/rows.csv", ContentType="text/csv"
    )
    kind, body = result(store, reply)
    assert kind == "output"
    assert_scores(body, xgb_model, x)

    store.upload_file(probe.removeprefix("file://"), "remote-async", "probe.tar.gz")
    echo = deploy_async(sm, "s3://remote-async/probe.tar.gz", "remote-async", env={"PROBE_MODE": "echo"})
    payload = b"".join(b"%d,%s\n" % (i, b"y" * (i % 89)) for i in range(200_000))  # ~10 MB: streamed
    store.put_object(Bucket="remote-async", Key="in/large.csv", Body=payload)
    reply = runtime.invoke_endpoint_async(
        EndpointName=echo, InputLocation="s3://remote-async/in/large.csv", ContentType="text/csv"
    )
    kind, body = result(store, reply)
    assert kind == "output" and body == payload
    store.put_object(Bucket="remote-async", Key="in/empty.csv", Body=b"")  # S3 serves no range of it
    reply = runtime.invoke_endpoint_async(
        EndpointName=echo, InputLocation="s3://remote-async/in/empty.csv", ContentType="text/csv"
    )
    assert result(store, reply) == ("output", b"")
    reply = runtime.invoke_endpoint_async(  # read only when it runs: a missing input fails then, saying why
        EndpointName=echo, InputLocation="s3://remote-async/in/absent.csv", ContentType="text/csv"
    )
    kind, body = result(store, reply)
    assert kind == "failure" and "Cannot read the InputLocation s3://remote-async/in/absent.csv" in body.decode()


def test_data_capture_writes_to_the_external_store(
    remote: str, external_server: Any, xgb_model: dict[str, Any]
) -> None:
    """Captured requests and replies land in the external store, under SageMaker's layout."""
    from tests.integration.test_data_capture import capture_config, captured
    from tests.integration.test_data_capture import deploy as deploy_captured
    from tests.integration.test_transform_jobs import create_model

    store = bucket_with_model(remote, "remote-captures", xgb_model)
    sm = boto_client("sagemaker", external_server.url)
    model = create_model(sm, "s3://remote-captures/model.tar.gz", image=XGBOOST_IMAGE)
    endpoint = deploy_captured(sm, model, capture_config("remote-captures"))
    x = xgb_model["x"][:2]
    runtime = boto_client("sagemaker-runtime", external_server.url)
    answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=csv_rows(x))["Body"].read()
    (record,) = captured(store, "remote-captures", endpoint, 1)
    sent, replied = record["captureData"]["endpointInput"], record["captureData"]["endpointOutput"]
    assert (sent["encoding"], replied["encoding"]) == ("BASE64", "BASE64")  # no CaptureContentTypeHeader given
    assert base64.b64decode(sent["data"]) == csv_rows(x) and base64.b64decode(replied["data"]) == answer
