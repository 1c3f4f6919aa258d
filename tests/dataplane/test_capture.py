"""Data capture's records, layout and writer, without a server."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from homeport.dataplane import capture
from homeport.dataplane.capture import CaptureConfig, Captured, CaptureWriter, hour_prefix, object_url, record

WHEN = 1_764_900_000.123  # 2025-12-05T02:00:00.123Z


def config(**change: Any) -> CaptureConfig:
    doc = {
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": "s3://b/capture/",
        "CaptureOptions": [{"CaptureMode": "InputAndOutput"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["Application/JSON"]},
        **change,
    }
    made = CaptureConfig.from_api(doc)
    assert made is not None
    return made


def test_from_api() -> None:
    assert CaptureConfig.from_api(None) is None
    off = {"EnableCapture": False, "InitialSamplingPercentage": 100, "DestinationS3Uri": "s3://b", "CaptureOptions": []}
    assert CaptureConfig.from_api(off) is None
    c = config()
    assert (c.destination, c.inputs, c.outputs, c.json_types) == ("s3://b/capture", True, True, {"application/json"})
    only_output = config(CaptureOptions=[{"CaptureMode": "Output"}])
    assert (only_output.inputs, only_output.outputs) == (False, True)


def test_encodings() -> None:
    c = config()
    assert c.encode("text/csv; charset=utf-8", b"1,2") == ("CSV", "1,2")
    assert c.encode("application/json", b'{"a": 1}') == ("JSON", '{"a": 1}')
    assert c.encode("text/csv", b"\xff\xfe") == ("BASE64", base64.b64encode(b"\xff\xfe").decode())
    assert c.encode(None, b"x") == ("BASE64", "eA==")


def test_sampling() -> None:
    assert config().sampled()
    assert not config(InitialSamplingPercentage=0).sampled()
    hits = sum(config(InitialSamplingPercentage=25).sampled() for _ in range(4000))
    assert 800 < hits < 1200


def test_a_record_as_sagemaker_writes_it() -> None:
    c = Captured("ep", "v1", "text/csv", b"1,2", "text/csv; charset=utf-8", b"0.5", "id-1", "a=b", WHEN)
    line = record(config(), c)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    doc = json.loads(line)
    assert doc["captureData"] == {
        "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "1,2", "encoding": "CSV"},
        "endpointOutput": {
            "observedContentType": "text/csv; charset=utf-8",
            "mode": "OUTPUT",
            "data": "0.5",
            "encoding": "CSV",
        },
    }
    metadata = doc["eventMetadata"]
    assert metadata["inferenceId"] == "id-1" and metadata["customAttributes"] == "a=b"
    assert metadata["inferenceTime"] == "2025-12-05T02:00:00Z" and len(metadata["eventId"]) == 36
    assert doc["eventVersion"] == "0"
    bare = json.loads(record(config(), Captured("ep", "v1", None, b"", None, b"", when=WHEN)))
    assert set(bare["eventMetadata"]) == {"eventId", "inferenceTime"}


def test_layout() -> None:
    prefix = hour_prefix("s3://b/capture", "ep", "v1", WHEN)
    assert prefix == "s3://b/capture/ep/v1/2025/12/05/02"
    url = object_url(prefix, WHEN)
    assert url.startswith(prefix + "/00-00-123-") and url.endswith(".jsonl")


def test_the_writer_batches_per_hour_and_keeps_what_failed() -> None:
    written: dict[str, bytes] = {}
    failing = {"on": True}

    def put(url: str, data: bytes) -> None:
        if failing["on"]:
            raise OSError("no such bucket")
        written[url] = data

    async def scenario() -> None:
        writer = CaptureWriter(put, flush_s=60)
        c = config()
        for when in (WHEN, WHEN + 1, WHEN + 3600):  # two hours: two objects
            writer.add(c, Captured("ep", "v1", "text/csv", b"1", "text/csv", b"2", when=when))
        await writer.flush()
        assert written == {} and writer.written == 0  # kept for the next flush
        failing["on"] = False
        await writer.flush()
        assert writer.written == 3
        by_hour = sorted((url.rsplit("/", 1)[0], data.count(b"\n")) for url, data in written.items())
        assert by_hour == [("s3://b/capture/ep/v1/2025/12/05/02", 2), ("s3://b/capture/ep/v1/2025/12/05/03", 1)]

    asyncio.run(scenario())


def test_the_writer_drops_beyond_its_limit_and_writes_early_when_a_batch_is_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(capture, "MAX_BUFFERED", 10)
    monkeypatch.setattr(capture, "BATCH_BYTES", 1)

    def put(url: str, data: bytes) -> None:
        raise OSError("unreachable")

    async def scenario() -> None:
        writer = CaptureWriter(put, flush_s=3600)
        writer.add(config(), Captured("ep", "v1", "text/csv", b"1", "text/csv", b"2", when=WHEN))
        task = asyncio.ensure_future(writer.run_forever())  # a full batch: written now, not in an hour
        for _ in range(100):
            await asyncio.sleep(0.01)
            if writer.dropped:
                break
        task.cancel()
        assert writer.dropped == 1 and writer.written == 0

    asyncio.run(scenario())
