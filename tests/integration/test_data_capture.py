"""Data capture against a real `homeport serve`, driven with boto3: SageMaker's JSON Lines records under its S3 layout,
both directions, sampling, encodings, DescribeEndpoint's summary, turning it off with UpdateEndpoint, the refusals,
and nothing lost on a graceful stop.

The server is `fast`: it writes what it captured every 0.2 s.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from homeport.server.process import ServerProcess
from tests.conftest import KEYS, XGBOOST_IMAGE, boto_client, csv_rows, unique, wait_in_service
from tests.integration.test_lifecycle import until
from tests.integration.test_transform_jobs import create_model

KEY = re.compile(
    r"(?P<endpoint>[^/]+)/(?P<variant>[^/]+)/\d{4}/\d{2}/\d{2}/\d{2}/\d{2}-\d{2}-\d{3}-[0-9a-f-]{36}\.jsonl"
)
CSV_JSON = {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]}


@pytest.fixture(scope="module")
def captures(fs3: Any) -> str:
    bucket = unique("captures")
    fs3.create_bucket(Bucket=bucket)
    return bucket


def capture_config(
    bucket: str, percentage: int = 100, modes: tuple[str, ...] = ("Input", "Output"), **more: Any
) -> dict[str, Any]:
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": percentage,
        "DestinationS3Uri": f"s3://{bucket}/capture",
        "CaptureOptions": [{"CaptureMode": mode} for mode in modes],
        **more,
    }


def deploy(sm: Any, model: str, capture: dict[str, Any] | None) -> str:
    name = unique("cap")
    extra = {"DataCaptureConfig": capture} if capture else {}
    variant = {"VariantName": "v1", "ModelName": model, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant], **extra)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    wait_in_service(sm, name)
    return name


def records(s3: Any, bucket: str, endpoint: str) -> list[tuple[str, dict[str, Any]]]:
    """Every captured record of the endpoint, with the key of the object it is in."""
    out = []
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"capture/{endpoint}/")
    for page in pages:
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
            out.extend((item["Key"], json.loads(line)) for line in body.splitlines())
    return out


def captured(s3: Any, bucket: str, endpoint: str, count: int) -> list[dict[str, Any]]:
    until(lambda: len(records(s3, bucket, endpoint)) >= count, timeout=30)
    found = records(s3, bucket, endpoint)
    assert len(found) == count
    return [record for _, record in found]


def refused(call: Any, **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**params)
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def test_requests_and_replies_as_sagemaker_records_under_its_layout(
    fsm: Any, frt: Any, fs3: Any, captures: str, fast_xgb: str, xgb_model: dict[str, Any]
) -> None:
    endpoint = deploy(fsm, fast_xgb, capture_config(captures, CaptureContentTypeHeader=CSV_JSON))
    summary = fsm.describe_endpoint(EndpointName=endpoint)["DataCaptureConfig"]
    assert summary == {
        "EnableCapture": True,
        "CaptureStatus": "Started",
        "CurrentSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{captures}/capture",
    }
    body = csv_rows(xgb_model["x"][:2])
    replies = [
        frt.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="text/csv", InferenceId="row-pair-1"),
        frt.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="text/csv", CustomAttributes="trace=7"),
    ]
    answers = [r["Body"].read().decode() for r in replies]
    until(lambda: len(records(fs3, captures, endpoint)) == 2, timeout=30)
    found = records(fs3, captures, endpoint)
    for key, _ in found:
        match = KEY.fullmatch(key.removeprefix("capture/"))
        assert match and match["endpoint"] == endpoint and match["variant"] == "v1", key
    first, second = sorted((r for _, r in found), key=lambda r: "inferenceId" not in r["eventMetadata"])
    assert first["eventVersion"] == "0"
    assert first["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": body.decode(),
        "encoding": "CSV",
    }
    assert first["captureData"]["endpointOutput"]["mode"] == "OUTPUT"
    assert first["captureData"]["endpointOutput"]["encoding"] == "CSV"
    assert first["captureData"]["endpointOutput"]["data"] == answers[0]
    assert first["eventMetadata"]["inferenceId"] == "row-pair-1"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", first["eventMetadata"]["inferenceTime"])
    assert second["eventMetadata"]["customAttributes"] == "trace=7"
    assert first["eventMetadata"]["eventId"] != second["eventMetadata"]["eventId"]


def test_types_not_listed_are_base64_and_input_only_captures_no_output(
    fsm: Any, frt: Any, fs3: Any, captures: str, fast_xgb: str
) -> None:
    endpoint = deploy(fsm, fast_xgb, capture_config(captures, modes=("Input",)))
    frt.invoke_endpoint(EndpointName=endpoint, Body=b"1,2,3,4", ContentType="text/csv")
    (record,) = captured(fs3, captures, endpoint, 1)
    assert set(record["captureData"]) == {"endpointInput"}
    assert record["captureData"]["endpointInput"]["encoding"] == "BASE64"
    assert base64.b64decode(record["captureData"]["endpointInput"]["data"]) == b"1,2,3,4"


def test_sampling_percentage(fsm: Any, frt: Any, fs3: Any, captures: str, fast_xgb: str) -> None:
    none = deploy(fsm, fast_xgb, capture_config(captures, percentage=0))
    half = deploy(fsm, fast_xgb, capture_config(captures, percentage=50))
    every = deploy(fsm, fast_xgb, capture_config(captures, percentage=100))
    for _ in range(200):
        for endpoint in (none, half, every):
            frt.invoke_endpoint(EndpointName=endpoint, Body=b"1,2,3,4", ContentType="text/csv")
    captured(fs3, captures, every, 200)  # written by the same flushes as the others'
    assert records(fs3, captures, none) == []
    assert 60 <= len(records(fs3, captures, half)) <= 140  # 100 expected; this fails about once in 10^9 runs


def test_update_endpoint_turns_capture_off_and_retains_it_when_asked(
    fsm: Any, frt: Any, fs3: Any, captures: str, fast_xgb: str
) -> None:
    endpoint = deploy(fsm, fast_xgb, capture_config(captures))
    bare = unique("bare")
    variant = {"VariantName": "v1", "ModelName": fast_xgb, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    fsm.create_endpoint_config(EndpointConfigName=bare, ProductionVariants=[variant])

    fsm.update_endpoint(EndpointName=endpoint, EndpointConfigName=bare, RetainAllVariantProperties=True)
    wait_in_service(fsm, endpoint)
    assert fsm.describe_endpoint(EndpointName=endpoint)["DataCaptureConfig"]["CaptureStatus"] == "Started"
    frt.invoke_endpoint(EndpointName=endpoint, Body=b"1,2,3,4", ContentType="text/csv")
    captured(fs3, captures, endpoint, 1)

    fsm.update_endpoint(
        EndpointName=endpoint,
        EndpointConfigName=bare,
        RetainAllVariantProperties=True,
        ExcludeRetainedVariantProperties=[{"VariantPropertyType": "DataCaptureConfig"}],
    )
    wait_in_service(fsm, endpoint)
    assert "DataCaptureConfig" not in fsm.describe_endpoint(EndpointName=endpoint)
    other = deploy(fsm, fast_xgb, capture_config(captures))
    frt.invoke_endpoint(EndpointName=endpoint, Body=b"1,2,3,4", ContentType="text/csv")
    frt.invoke_endpoint(EndpointName=other, Body=b"1,2,3,4", ContentType="text/csv")
    captured(fs3, captures, other, 1)
    assert len(records(fs3, captures, endpoint)) == 1  # the request after the update was not captured


def test_an_asynchronous_endpoint_captures_what_it_read_and_wrote(
    fsm: Any, fs3: Any, captures: str, fast_xgb: str, fast: Any
) -> None:
    name = unique("cap-async")
    variant = {"VariantName": "v1", "ModelName": fast_xgb, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    fsm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[variant],
        AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": f"s3://{captures}/async-out/"}},
        DataCaptureConfig=capture_config(captures, CaptureContentTypeHeader=CSV_JSON),
    )
    fsm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    wait_in_service(fsm, name)
    fs3.put_object(Bucket=captures, Key="async-in/rows.csv", Body=b"1,2,3,4")
    reply = boto_client("sagemaker-runtime", fast.url).invoke_endpoint_async(
        EndpointName=name, InputLocation=f"s3://{captures}/async-in/rows.csv", ContentType="text/csv"
    )
    (record,) = captured(fs3, captures, name, 1)
    assert record["captureData"]["endpointInput"]["data"] == "1,2,3,4"
    output_key = reply["OutputLocation"].removeprefix(f"s3://{captures}/")
    written = fs3.get_object(Bucket=captures, Key=output_key)["Body"].read().decode()
    assert record["captureData"]["endpointOutput"]["data"] == written
    assert record["eventMetadata"]["inferenceId"] == reply["InferenceId"]


def test_a_destination_that_is_not_s3_is_refused(fsm: Any, fast_xgb: str, captures: str) -> None:
    variant = {"VariantName": "v1", "ModelName": fast_xgb, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    code, message = refused(
        fsm.create_endpoint_config,
        EndpointConfigName=unique("bad"),
        ProductionVariants=[variant],
        DataCaptureConfig={**capture_config(captures), "DestinationS3Uri": "https://example.com/capture"},
    )
    assert code == "ValidationException" and "must be an s3:// URI" in message


def test_nothing_captured_is_lost_on_a_graceful_stop(tmp_path: Path, xgb_model: dict[str, Any]) -> None:
    """Records gathered but not yet written (the flush is an hour away) are written as the server stops."""
    data_dir = tmp_path / "data"
    env = {"HOMEPORT_LOG_LEVEL": "warning", "HOMEPORT_CAPTURE_FLUSH_S": "3600", **KEYS}
    with ServerProcess(data_dir, env=env) as server:
        sm, rt, s3 = (boto_client(service, server.url) for service in ("sagemaker", "sagemaker-runtime", "s3"))
        s3.create_bucket(Bucket="kept")
        s3.upload_file(str(xgb_model["path"]), "kept", "model.tar.gz")
        endpoint = deploy(sm, create_model(sm, "s3://kept/model.tar.gz", image=XGBOOST_IMAGE), capture_config("kept"))
        for _ in range(3):
            rt.invoke_endpoint(EndpointName=endpoint, Body=b"1,2,3,4", ContentType="text/csv")
        assert records(s3, "kept", endpoint) == []
    with ServerProcess(data_dir, env=env) as server:
        assert len(records(boto_client("s3", server.url), "kept", endpoint)) == 3
