"""Batch transform jobs driven with boto3 against a real `homeport serve`: every parameter, every failure."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.conftest import ROLE, XGBOOST_IMAGE, csv_rows, pack, unique
from tests.integration.test_lifecycle import until


def create_model(sm: Any, url: str, image: str = "homeport/python", env: dict[str, str] | None = None) -> str:
    name = unique("model")
    container: dict[str, Any] = {"Image": image, "ModelDataUrl": url}
    if env:
        container["Environment"] = env
    sm.create_model(ModelName=name, PrimaryContainer=container, ExecutionRoleArn=ROLE)
    return name


def run_job(
    sm: Any,
    model: str,
    source: str,
    output: str,
    *,
    wait: bool = True,
    data_type: str = "S3Prefix",
    content_type: str | None = "text/csv",
    split: str = "Line",
    instances: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    name = unique("job")
    transform_input: dict[str, Any] = {
        "DataSource": {"S3DataSource": {"S3DataType": data_type, "S3Uri": source}},
        "SplitType": split,
        **extra.pop("more_input", {}),
    }
    if content_type:
        transform_input["ContentType"] = content_type
    sm.create_transform_job(
        TransformJobName=name,
        ModelName=model,
        TransformInput=transform_input,
        TransformOutput={"S3OutputPath": output, **extra.pop("more_output", {"AssembleWith": "Line"})},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": instances},
        **extra,
    )
    if not wait:
        return {"TransformJobName": name}
    return wait_done(sm, name)


def wait_done(sm: Any, name: str) -> dict[str, Any]:
    """The job once it has ended (the boto3 waiter raises on Failed, which many tests expect)."""
    with contextlib.suppress(WaiterError):
        sm.get_waiter("transform_job_completed_or_stopped").wait(
            TransformJobName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 1200}
        )
    return dict(sm.describe_transform_job(TransformJobName=name))


def read(s3: Any, bucket: str, key: str) -> bytes:
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def id_rows(first: int, count: int, width: int = 60) -> bytes:
    """CSV rows `<id>,<padding>` of about `width` bytes each."""
    return b"".join(f"{i},{'x' * (width - len(str(i)) - 2)}\n".encode() for i in range(first, first + count))


# --- results ---------------------------------------------------------------------------------------


def test_xgboost_predictions_match_in_order_for_several_files(
    sm: Any, s3: Any, bucket: str, xgb_model: dict[str, Any]
) -> None:
    x = xgb_model["x"]
    s3.put_object(Bucket=bucket, Key="in/a.csv", Body=csv_rows(x[:200]) + b"\n")
    s3.put_object(Bucket=bucket, Key="in/sub/b.csv", Body=csv_rows(x[200:]))  # no final newline
    s3.put_object(Bucket=bucket, Key="elsewhere/c.csv", Body=csv_rows(x[:3]))
    model = create_model(sm, xgb_model["url"], XGBOOST_IMAGE)
    job = run_job(sm, model, f"s3://{bucket}/in/", f"s3://{bucket}/out")
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert job["TransformStartTime"] <= job["TransformEndTime"]
    assert sorted(keys(s3, bucket, "out/")) == ["out/a.csv.out", "out/sub/b.csv.out"]
    for key, rows in (("out/a.csv.out", x[:200]), ("out/sub/b.csv.out", x[200:])):
        got = np.array(read(s3, bucket, key).split(), dtype=np.float32)
        np.testing.assert_allclose(got, xgb_model["booster"].inplace_predict(rows), rtol=1e-6)
    listed = sm.list_transform_jobs(NameContains=job["TransformJobName"])["TransformJobSummaries"]
    assert [j["TransformJobStatus"] for j in listed] == ["Completed"]


def test_one_big_file_is_spread_over_all_instances_and_comes_back_whole_and_in_order(
    sm: Any, s3: Any, bucket: str, probe: str
) -> None:
    body = id_rows(0, 60_000)  # 3.6 MB: four 1 MB ranges
    s3.put_object(Bucket=bucket, Key="big/data.csv", Body=body)
    job = run_job(
        sm,
        create_model(sm, probe),
        f"s3://{bucket}/big/data.csv",
        f"s3://{bucket}/out/",
        instances=2,
        MaxPayloadInMB=1,
        MaxConcurrentTransforms=1,
    )
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    lines = read(s3, bucket, "out/data.csv.out").decode().splitlines()
    assert [int(line.split(",")[0]) for line in lines] == list(range(60_000))  # each record once, in order
    assert len({line.split(",")[1] for line in lines}) == 2  # both instances worked on the one file
    assert max(int(line.split(",")[2]) for line in lines) * 60 <= 1024 * 1024  # no request over MaxPayloadInMB


def test_single_record_sends_one_record_per_request(sm: Any, s3: Any, bucket: str, probe: str) -> None:
    s3.put_object(Bucket=bucket, Key="in/x.csv", Body=id_rows(0, 50))
    job = run_job(
        sm, create_model(sm, probe), f"s3://{bucket}/in/", f"s3://{bucket}/out/", BatchStrategy="SingleRecord"
    )
    assert job["BatchStrategy"] == "SingleRecord"
    lines = read(s3, bucket, "out/x.csv.out").decode().splitlines()
    assert [line.split(",")[0] for line in lines] == [str(i) for i in range(50)]
    assert {line.split(",")[2] for line in lines} == {"1"}


def test_assemble_with_none_concatenates_replies_as_they_are(sm: Any, s3: Any, bucket: str, probe: str) -> None:
    s3.put_object(Bucket=bucket, Key="in/x.bin", Body=b"abc")
    s3.put_object(Bucket=bucket, Key="in/y.bin", Body=b"defg")
    model = create_model(sm, probe, env={"PROBE_MODE": "sizes"})
    job = run_job(
        sm,
        model,
        f"s3://{bucket}/in/",
        f"s3://{bucket}/out/",
        split="None",
        content_type="application/octet-stream",
        more_output={"AssembleWith": "None"},
    )
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert read(s3, bucket, "out/x.bin.out") == b"3,616263\n"
    assert read(s3, bucket, "out/y.bin.out") == b"4,64656667\n"


def test_max_payload_zero_sends_any_size_chunked(sm: Any, s3: Any, bucket: str, probe: str) -> None:
    body = id_rows(0, 130_000)  # 7.8 MB: more than the 6 MB a request may otherwise carry
    s3.put_object(Bucket=bucket, Key="in/whole.csv", Body=body)
    model = create_model(sm, probe, env={"PROBE_MODE": "framing"})
    job = run_job(sm, model, f"s3://{bucket}/in/", f"s3://{bucket}/out/", split="None", MaxPayloadInMB=0)
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert read(s3, bucket, "out/whole.csv.out") == f"{len(body)},chunked\n".encode()


def test_gzip_input_is_decompressed_and_split(sm: Any, s3: Any, bucket: str, probe: str) -> None:
    s3.put_object(Bucket=bucket, Key="in/z.csv.gz", Body=gzip.compress(id_rows(0, 3000)))
    job = run_job(
        sm, create_model(sm, probe), f"s3://{bucket}/in/", f"s3://{bucket}/out/", more_input={"CompressionType": "Gzip"}
    )
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    lines = read(s3, bucket, "out/z.csv.gz.out").decode().splitlines()
    assert [int(line.split(",")[0]) for line in lines] == list(range(3000))


def test_manifest_file_lists_the_inputs(sm: Any, s3: Any, bucket: str, probe: str) -> None:
    s3.put_object(Bucket=bucket, Key="data/one.csv", Body=id_rows(0, 3))
    s3.put_object(Bucket=bucket, Key="data/deep/two.csv", Body=id_rows(10, 2))
    s3.put_object(Bucket=bucket, Key="data/not-listed.csv", Body=id_rows(99, 1))
    manifest = [{"prefix": f"s3://{bucket}/data/"}, "one.csv", "deep/two.csv"]
    s3.put_object(Bucket=bucket, Key="manifest.json", Body=json.dumps(manifest).encode())
    job = run_job(
        sm, create_model(sm, probe), f"s3://{bucket}/manifest.json", f"s3://{bucket}/out/", data_type="ManifestFile"
    )
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert sorted(keys(s3, bucket, "out/")) == ["out/deep/two.csv.out", "out/one.csv.out"]
    assert [line.split(",")[0] for line in read(s3, bucket, "out/deep/two.csv.out").decode().splitlines()] == [
        "10",
        "11",
    ]


def recordio(payloads: list[bytes]) -> bytes:
    out = b""
    for p in payloads:
        out += struct.pack("<II", 0xCED7230A, len(p)) + p + b"\0" * (-len(p) % 4)
    return out


def tfrecord(payloads: list[bytes]) -> bytes:
    import google_crc32c

    def masked(data: bytes) -> bytes:
        crc = google_crc32c.value(data)
        return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)

    out = b""
    for p in payloads:
        length = struct.pack("<Q", len(p))
        out += length + masked(length) + p + masked(p)
    return out


@pytest.mark.parametrize("split", ["RecordIO", "TFRecord"])
def test_binary_records_are_framed(sm: Any, s3: Any, bucket: str, probe: str, split: str) -> None:
    payloads = [b"a", b"bcdef", b"ghijklmno"]
    framed = recordio(payloads) if split == "RecordIO" else tfrecord(payloads)
    s3.put_object(Bucket=bucket, Key="in/r.bin", Body=framed)
    model = create_model(sm, probe, env={"PROBE_MODE": "sizes"})
    single = run_job(
        sm,
        model,
        f"s3://{bucket}/in/",
        f"s3://{bucket}/single/",
        split=split,
        content_type="application/x-recordio",
        BatchStrategy="SingleRecord",
    )
    assert single["TransformJobStatus"] == "Completed", single.get("FailureReason")
    sizes = [int(line.split(",")[0]) for line in read(s3, bucket, "single/r.bin.out").decode().splitlines()]
    overhead = 8 if split == "RecordIO" else 16  # RecordIO: header, padding removed; TFRecord: header and CRCs
    assert sizes == [len(p) + overhead for p in payloads]
    multi = run_job(
        sm,
        model,
        f"s3://{bucket}/in/",
        f"s3://{bucket}/multi/",
        split=split,
        content_type="application/x-recordio",
        BatchStrategy="MultiRecord",
    )
    assert multi["TransformJobStatus"] == "Completed", multi.get("FailureReason")
    assert read(s3, bucket, "multi/r.bin.out").decode().split(",")[0] == str(len(framed))


def test_the_batch_environment_reaches_the_container(sm: Any, s3: Any, bucket: str, probe: str) -> None:
    s3.put_object(Bucket=bucket, Key="in/e.csv", Body=b"1\n")
    model = create_model(sm, probe, env={"PROBE_MODE": "env", "PROBE_FROM_MODEL": "model"})
    job = run_job(
        sm,
        model,
        f"s3://{bucket}/in/",
        f"s3://{bucket}/out/",
        MaxPayloadInMB=4,
        MaxConcurrentTransforms=3,
        BatchStrategy="MultiRecord",
        Environment={"PROBE_FROM_JOB": "job"},
    )
    env = json.loads(read(s3, bucket, "out/e.csv.out"))
    assert env["SAGEMAKER_BATCH"] == "true"
    assert env["SAGEMAKER_MAX_PAYLOAD_IN_MB"] == "4"
    assert env["SAGEMAKER_BATCH_STRATEGY"] == "MULTI_RECORD"
    assert env["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] == "3"
    assert (env["PROBE_FROM_MODEL"], env["PROBE_FROM_JOB"]) == ("model", "job")
    assert (job["MaxPayloadInMB"], job["MaxConcurrentTransforms"]) == (4, 3)


def test_unset_limits_come_from_execution_parameters(sm: Any, s3: Any, bucket: str, probe: str) -> None:
    s3.put_object(Bucket=bucket, Key="in/e.csv", Body=b"1\n")
    model = create_model(sm, probe, env={"PROBE_MODE": "env", "SAGEMAKER_MODEL_SERVER_WORKERS": "3"})
    job = run_job(sm, model, f"s3://{bucket}/in/", f"s3://{bucket}/out/")
    # The container reports its worker count as MaxConcurrentTransforms; MaxPayloadInMB defaults to 6.
    assert (job["MaxConcurrentTransforms"], job["MaxPayloadInMB"], job["BatchStrategy"]) == (3, 6, "MultiRecord")
    env = json.loads(read(s3, bucket, "out/e.csv.out"))
    assert "SAGEMAKER_MAX_PAYLOAD_IN_MB" not in env and "SAGEMAKER_BATCH_STRATEGY" not in env


# --- DataProcessing ----------------------------------------------------------------------------------


def test_csv_input_filter_join_and_output_filter(sm: Any, s3: Any, bucket: str, xgb_model: dict[str, Any]) -> None:
    x = xgb_model["x"][:20]
    rows = b"".join(f"id{i},".encode() + csv_rows(row[None, :]) + b"\n" for i, row in enumerate(x))
    s3.put_object(Bucket=bucket, Key="in/ids.csv", Body=rows)
    model = create_model(sm, xgb_model["url"], XGBOOST_IMAGE)
    job = run_job(
        sm,
        model,
        f"s3://{bucket}/in/",
        f"s3://{bucket}/out/",
        more_output={"AssembleWith": "Line", "Accept": "text/csv"},
        DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"},
    )
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    lines = read(s3, bucket, "out/ids.csv.out").decode().splitlines()
    assert [line.split(",")[0] for line in lines] == [f"id{i}" for i in range(20)]
    got = np.array([line.split(",")[1] for line in lines], dtype=np.float32)
    np.testing.assert_allclose(got, xgb_model["booster"].inplace_predict(x), rtol=1e-6)


def test_json_lines_join_adds_sagemaker_output(sm: Any, s3: Any, bucket: str, probe: str) -> None:
    records = [{"id": 1, "features": [1, 2, 3]}, {"id": 2, "features": [4]}]
    s3.put_object(Bucket=bucket, Key="in/j.jsonl", Body=b"".join(json.dumps(r).encode() + b"\n" for r in records))
    model = create_model(sm, probe, env={"PROBE_MODE": "json"})
    job = run_job(
        sm,
        model,
        f"s3://{bucket}/in/",
        f"s3://{bucket}/out/",
        content_type="application/jsonlines",
        more_output={"AssembleWith": "Line", "Accept": "application/jsonlines"},
        DataProcessing={
            "InputFilter": "$.features",
            "JoinSource": "Input",
            "OutputFilter": "$['id','SageMakerOutput']",
        },
    )
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    out = [json.loads(line) for line in read(s3, bucket, "out/j.jsonl.out").splitlines()]
    assert out == [{"id": 1, "SageMakerOutput": {"n": 3}}, {"id": 2, "SageMakerOutput": {"n": 1}}]


# --- failures --------------------------------------------------------------------------------------


def test_a_record_over_the_payload_limit_fails_its_file_and_the_others_complete(
    sm: Any, s3: Any, bucket: str, probe: str
) -> None:
    s3.put_object(Bucket=bucket, Key="in/good.csv", Body=id_rows(0, 10))
    s3.put_object(Bucket=bucket, Key="in/huge.csv", Body=id_rows(0, 3) + b"9," + b"y" * (1024 * 1024 + 10) + b"\n")
    job = run_job(sm, create_model(sm, probe), f"s3://{bucket}/in/", f"s3://{bucket}/out/", MaxPayloadInMB=1)
    assert job["TransformJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert f"s3://{bucket}/in/huge.csv" in reason and "the record at byte 180" in reason and "MaxPayloadInMB" in reason
    assert keys(s3, bucket, "out/") == ["out/good.csv.out"]  # no partial .out for the failed file


def test_split_none_object_over_the_payload_limit_fails(sm: Any, s3: Any, bucket: str, probe: str) -> None:
    s3.put_object(Bucket=bucket, Key="in/whole.csv", Body=id_rows(0, 20_000))  # 1.2 MB
    s3.put_object(Bucket=bucket, Key="gz/whole.csv.gz", Body=gzip.compress(id_rows(0, 20_000)))  # 1.2 MB inside
    model = create_model(sm, probe)
    job = run_job(sm, model, f"s3://{bucket}/in/", f"s3://{bucket}/out/", split="None", MaxPayloadInMB=1)
    assert job["TransformJobStatus"] == "Failed"
    assert "SplitType is None" in job["FailureReason"] and "whole object (1200000 bytes)" in job["FailureReason"]
    job = run_job(
        sm,
        model,
        f"s3://{bucket}/gz/",
        f"s3://{bucket}/out/",
        split="None",
        MaxPayloadInMB=1,
        more_input={"CompressionType": "Gzip"},
    )
    assert job["TransformJobStatus"] == "Failed"
    assert "over 1048576 bytes decompressed" in job["FailureReason"]
    assert keys(s3, bucket, "out/") == []


def test_model_error_fails_the_file_with_the_models_message(
    sm: Any, s3: Any, bucket: str, xgb_model: dict[str, Any]
) -> None:
    s3.put_object(Bucket=bucket, Key="in/wide.csv", Body=b"1,2,3,4,5,6,7\n")
    job = run_job(sm, create_model(sm, xgb_model["url"], XGBOOST_IMAGE), f"s3://{bucket}/in/", f"s3://{bucket}/out/")
    assert job["TransformJobStatus"] == "Failed"
    assert "in/wide.csv: the record at byte 0: the model answered 400" in job["FailureReason"]
    assert keys(s3, bucket, "out/") == []


def test_server_errors_are_retried_per_model_client_config(
    sm: Any, s3: Any, bucket: str, probe: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="in/f.csv", Body=id_rows(0, 5))
    model = create_model(sm, probe, env={"PROBE_MODE": "flaky", "PROBE_DIR": str(tmp_path)})
    retried = run_job(
        sm, model, f"s3://{bucket}/in/", f"s3://{bucket}/out/", ModelClientConfig={"InvocationsMaxRetries": 1}
    )
    assert retried["TransformJobStatus"] == "Completed", retried.get("FailureReason")
    s3.put_object(Bucket=bucket, Key="in2/g.csv", Body=id_rows(100, 5))
    no_retry = run_job(
        sm, model, f"s3://{bucket}/in2/", f"s3://{bucket}/out2/", ModelClientConfig={"InvocationsMaxRetries": 0}
    )
    assert no_retry["TransformJobStatus"] == "Failed"
    assert "the model answered 500" in no_retry["FailureReason"] and "1 attempts" in no_retry["FailureReason"]


def test_invocation_timeout_fails_the_file(sm: Any, s3: Any, bucket: str, probe: str) -> None:
    s3.put_object(Bucket=bucket, Key="in/slow.csv", Body=b"1\n")
    model = create_model(sm, probe, env={"PROBE_MODE": "sleep", "PROBE_SLEEP": "5"})
    job = run_job(
        sm,
        model,
        f"s3://{bucket}/in/",
        f"s3://{bucket}/out/",
        ModelClientConfig={"InvocationsTimeoutInSeconds": 1, "InvocationsMaxRetries": 0},
    )
    assert job["TransformJobStatus"] == "Failed"
    assert "did not answer within 1 s" in job["FailureReason"]


@pytest.mark.parametrize("split", ["RecordIO", "TFRecord"])
def test_a_malformed_binary_record_fails_its_file_at_its_offset(
    sm: Any, s3: Any, bucket: str, probe: str, split: str
) -> None:
    good = recordio([b"one", b"two"]) if split == "RecordIO" else tfrecord([b"one", b"two"])
    s3.put_object(Bucket=bucket, Key="in/bad.bin", Body=good + b"\x13" * 24)
    model = create_model(sm, probe, env={"PROBE_MODE": "sizes"})
    job = run_job(
        sm, model, f"s3://{bucket}/in/", f"s3://{bucket}/out/", split=split, content_type="application/x-recordio"
    )
    assert job["TransformJobStatus"] == "Failed"
    assert f"in/bad.bin: the record at byte {len(good)}: not a {split} record" in job["FailureReason"]
    assert keys(s3, bucket, "out/") == []


def test_a_record_that_crashes_the_model_fails_its_file_and_the_others_complete(
    sm: Any, s3: Any, bucket: str, probe: str
) -> None:
    s3.put_object(Bucket=bucket, Key="in/a-poison.csv", Body=id_rows(0, 5) + b"boom\n")
    s3.put_object(Bucket=bucket, Key="in/b-fine.csv", Body=id_rows(10, 5))
    model = create_model(sm, probe, env={"PROBE_MODE": "crash"})
    job = run_job(
        sm, model, f"s3://{bucket}/in/", f"s3://{bucket}/out/", ModelClientConfig={"InvocationsMaxRetries": 1}
    )
    assert job["TransformJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert "a-poison.csv: the mini-batch of 6 records at byte 0: the model's instance exited (code 3)" in reason
    assert "(2 attempts" in reason
    assert keys(s3, bucket, "out/") == ["out/b-fine.csv.out"]  # a new instance took over for the next file


def test_an_instance_killed_mid_job_is_replaced_and_the_job_completes(
    server: Any, sm: Any, s3: Any, bucket: str, probe: str
) -> None:
    files = 6
    for i in range(files):
        s3.put_object(Bucket=bucket, Key=f"in/f{i}.csv", Body=id_rows(100 * i, 3))
    model = create_model(sm, probe, env={"PROBE_MODE": "sleep", "PROBE_SLEEP": "0.3"})
    name = run_job(sm, model, f"s3://{bucket}/in/", f"s3://{bucket}/out/", wait=False, MaxConcurrentTransforms=1)[
        "TransformJobName"
    ]
    until(lambda: len(keys(s3, bucket, "out/")) >= 1)
    first = keys(s3, bucket, "out/")[0]
    victim = int(read(s3, bucket, first).decode().split(",")[1])  # the probe writes its pid on every line
    assert victim in server.instance_pids()
    os.kill(victim, signal.SIGKILL)
    job = wait_done(sm, name)
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    for i in range(files):
        lines = read(s3, bucket, f"out/f{i}.csv.out").decode().splitlines()
        assert [line.split(",")[0] for line in lines] == [str(100 * i + k) for k in range(3)]


def test_no_input_objects_fails_the_job(sm: Any, bucket: str, probe: str) -> None:
    job = run_job(sm, create_model(sm, probe), f"s3://{bucket}/nothing-here/", f"s3://{bucket}/out/")
    assert job["TransformJobStatus"] == "Failed"
    assert "No S3 objects found under S3 URL" in job["FailureReason"]
    assert job["TransformEndTime"] >= job["CreationTime"]


def test_an_output_bucket_that_does_not_exist_fails_the_job_before_any_work(
    sm: Any, s3: Any, bucket: str, probe: str
) -> None:
    s3.put_object(Bucket=bucket, Key="in/a.csv", Body=b"1\n")
    job = run_job(sm, create_model(sm, probe), f"s3://{bucket}/in/", "s3://no-such-bucket-here/out/")
    assert job["TransformJobStatus"] == "Failed"
    assert "there is no bucket 'no-such-bucket-here'" in job["FailureReason"]


def test_a_model_that_cannot_start_fails_the_job(sm: Any, s3: Any, bucket: str, tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "xgboost-model").write_bytes(b"not a model")
    url = pack(tmp_path / "m", tmp_path / "bad.tar.gz").as_uri()
    s3.put_object(Bucket=bucket, Key="in/a.csv", Body=b"1\n")
    job = run_job(sm, create_model(sm, url, XGBOOST_IMAGE), f"s3://{bucket}/in/", f"s3://{bucket}/out/")
    assert job["TransformJobStatus"] == "Failed"
    assert "did not start" in job["FailureReason"] and "not an XGBoost model" in job["FailureReason"]


# --- stop ------------------------------------------------------------------------------------------


def test_stop_ends_the_job_within_seconds_and_leaves_no_partial_output(
    sm: Any, s3: Any, bucket: str, probe: str
) -> None:
    s3.put_object(Bucket=bucket, Key="in/s.csv", Body=id_rows(0, 200))
    model = create_model(sm, probe, env={"PROBE_MODE": "sleep", "PROBE_SLEEP": "0.2"})
    name = run_job(sm, model, f"s3://{bucket}/in/", f"s3://{bucket}/out/", wait=False, BatchStrategy="SingleRecord")[
        "TransformJobName"
    ]
    sm.stop_transform_job(TransformJobName=name)
    assert sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"] in ("Stopping", "Stopped")
    job = wait_done(sm, name)
    assert job["TransformJobStatus"] == "Stopped"
    assert (job["TransformEndTime"] - job["CreationTime"]).total_seconds() < 10
    assert keys(s3, bucket, "out/") == []
    with pytest.raises(ClientError) as err:
        sm.stop_transform_job(TransformJobName=name)
    assert err.value.response["Error"]["Code"] == "ValidationException"


# --- the API's own checks ------------------------------------------------------------------------------


def test_bad_requests_get_the_errors_sagemaker_clients_expect(sm: Any, bucket: str, probe: str) -> None:
    model = create_model(sm, probe)
    source, output = f"s3://{bucket}/in/", f"s3://{bucket}/out/"

    def code_and_message(**changes: Any) -> tuple[str, str]:
        with pytest.raises(ClientError) as err:
            run_job(sm, changes.pop("model", model), source, output, wait=False, **changes)
        return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]

    code, message = code_and_message(MaxPayloadInMB=50, MaxConcurrentTransforms=3)
    assert code == "ValidationException" and "at most 100 MB" in message
    code, message = code_and_message(model="no-such-model")
    assert code == "ValidationException" and "Could not find model" in message
    code, message = code_and_message(data_type="AugmentedManifestFile")
    assert code == "ValidationException" and "AugmentedManifestFile" in message
    code, message = code_and_message(DataProcessing={"JoinSource": "Input"}, more_output={"Accept": "application/json"})
    assert code == "ValidationException"
    code, message = code_and_message(DataProcessing={"InputFilter": "$[1:"})
    assert code == "ValidationException" and "$[1:" in message
    code, message = code_and_message(MaxPayloadInMB=101)
    assert code == "ValidationException" and "MaxPayloadInMB" in message
    code, message = code_and_message(ModelClientConfig={"InvocationsMaxRetries": 4})
    assert code == "ValidationException"
    with pytest.raises(ClientError) as err:
        run_job(sm, model, source, "file:///tmp/anywhere/", wait=False)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "S3OutputPath must be an s3:// URI" in err.value.response["Error"]["Message"]
    name = run_job(sm, model, source, output, wait=False)["TransformJobName"]
    with pytest.raises(ClientError) as err:
        sm.create_transform_job(
            TransformJobName=name,
            ModelName=model,
            TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": source}}},
            TransformOutput={"S3OutputPath": output},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        )
    assert err.value.response["Error"]["Code"] == "ResourceInUse"
    for call in (sm.describe_transform_job, sm.stop_transform_job):
        with pytest.raises(ClientError) as err:
            call(TransformJobName="no-such-job")
        assert err.value.response["Error"]["Code"] == "ResourceNotFound"
    wait_done(sm, name)


def test_tags_given_at_create_are_listed_and_can_change(sm: Any, bucket: str, probe: str) -> None:
    model = create_model(sm, probe)
    name = run_job(
        sm,
        model,
        f"s3://{bucket}/none/",
        f"s3://{bucket}/out/",
        wait=False,
        Tags=[{"Key": "team", "Value": "forecasting"}],
    )["TransformJobName"]
    arn = sm.describe_transform_job(TransformJobName=name)["TransformJobArn"]
    assert arn.endswith(f":transform-job/{name}")
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "forecasting"}]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "cadence", "Value": "nightly"}])
    sm.delete_tags(ResourceArn=arn, TagKeys=["team"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "cadence", "Value": "nightly"}]
    wait_done(sm, name)


def test_list_filters_sorts_and_pages(sm: Any, bucket: str, probe: str) -> None:
    model = create_model(sm, probe)
    tag = unique("listed")
    names = []
    for _ in range(3):
        name = f"{tag}-{unique('j')}"
        sm.create_transform_job(
            TransformJobName=name,
            ModelName=model,
            TransformInput={
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/none/"}}
            },
            TransformOutput={"S3OutputPath": f"s3://{bucket}/out/"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        )
        names.append(name)
    for name in names:
        wait_done(sm, name)
    pages = list(
        sm.get_paginator("list_transform_jobs").paginate(
            NameContains=tag.upper(),
            SortBy="Name",
            SortOrder="Ascending",
            StatusEquals="Failed",
            PaginationConfig={"PageSize": 2},
        )
    )
    assert len(pages) == 2
    listed = [j for p in pages for j in p["TransformJobSummaries"]]
    assert [j["TransformJobName"] for j in listed] == sorted(names)
    assert all("No S3 objects" in j["FailureReason"] and "TransformEndTime" in j for j in listed)
    assert sm.list_transform_jobs(NameContains=tag, StatusEquals="Completed")["TransformJobSummaries"] == []
