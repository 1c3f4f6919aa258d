"""Batch transform data capture: the manifests' place and content, and the inference ids GenerateInferenceId stamps."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from homeport.batch.capture import BatchCapture, CaptureError, manifests, output_format, stamped
from homeport.store.transform_progress import FilePlan

STARTED = datetime(2026, 12, 5, 13, 42, 7, tzinfo=UTC).timestamp()


def test_manifests_go_under_the_start_hour_and_list_relative_keys() -> None:
    job = {"CreationTime": 0.0, "TransformStartTime": STARTED, "DataCaptureConfig": {"DestinationS3Uri": "s3://b/c/"}}
    capture = BatchCapture.of(job)
    assert capture is not None and not capture.generate_id
    assert capture.manifest_url("input", "job-1") == "s3://b/c/input/2026/12/05/13/job-1.manifest"
    assert capture.stamp == b"2026-12-05T13:42:07Z"
    assert BatchCapture.of({"CreationTime": 0.0}) is None
    files = [
        FilePlan(0, "s3://b/in/a.csv", "s3://b/out/a.csv.out", 10, [0]),
        FilePlan(1, "s3://b/in/deep/b.csv", "s3://b/out/deep/b.csv.out", 10, [0]),
    ]
    found = manifests(files, "s3://b/out/", [files[1]])
    assert json.loads(found["input"]) == [{"prefix": "s3://b/in/"}, "a.csv", "deep/b.csv"]
    assert json.loads(found["output"]) == [{"prefix": "s3://b/out/"}, "deep/b.csv.out"]


def test_csv_records_get_an_id_and_the_start_time_as_two_more_columns() -> None:
    out = stamped(b"0.5\n0.25,1\r\n\n0.75", "csv", b"2026-12-05T13:42:07Z").split(b"\n")
    assert out[2] == b""  # an empty line stays empty
    ids = []
    for line, first in ((out[0], b"0.5"), (out[1], b"0.25,1"), (out[3], b"0.75")):
        fields = line.rstrip(b"\r").split(b",")
        assert b",".join(fields[:-2]) == first and fields[-1] == b"2026-12-05T13:42:07Z"
        ids.append(uuid.UUID(fields[-2].decode()))
    assert len(set(ids)) == 3 and out[1].endswith(b"\r")


def test_json_records_get_the_reserved_keys() -> None:
    lines = stamped(b'{"score": 0.5}\n[1, 2]\nnot json\n', "json", b"T").split(b"\n")
    assert lines[-1] == b""
    records = [json.loads(line) for line in lines[:-1]]
    assert records[0]["score"] == 0.5 and records[1]["SageMakerOutput"] == [1, 2]
    assert records[2]["SageMakerOutput"] == "not json"
    assert all(r["SageMakerInferenceTime"] == "T" and uuid.UUID(r["SageMakerInferenceId"]) for r in records)
    whole = stamped(b'{\n  "predictions": [\n    1\n  ]\n}', "json", b"T")  # one pretty-printed document
    assert json.loads(whole)["predictions"] == [1] and whole.count(b"\n") == 1


@pytest.mark.parametrize("accept", [None, "application/x-npy", "text/plain"])
def test_only_csv_and_json_outputs_can_be_stamped(accept: str | None) -> None:
    with pytest.raises(CaptureError, match=r"TransformOutput\.Accept"):
        output_format(accept)
    assert output_format("text/csv; charset=utf-8") == "csv" and output_format("application/jsonlines") == "json"
