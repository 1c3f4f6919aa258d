"""A transform job's plan: resolved limits, the input objects (prefix or manifest), and each file's ranges."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path
from typing import Any

import google_crc32c
import pytest

from homeport.batch import plan
from homeport.batch.plan import MB, Limits, PlanError, inputs, output_url, plan_files, resolve_limits
from homeport.batch.records import RECORDIO_MAGIC
from homeport.objects.locations import Locator, ObjectRef, UnreachableObject

SEED = 7

# --- resolve_limits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("job", "execution", "expected"),
    [
        ({}, None, Limits(6, False, 1)),
        ({}, {}, Limits(6, False, 1)),
        # the container's /execution-parameters when the request says nothing
        (
            {},
            {"MaxPayloadInMB": 10, "BatchStrategy": "SINGLE_RECORD", "MaxConcurrentTransforms": 4},
            Limits(10, True, 4),
        ),
        ({}, {"BatchStrategy": "MULTI_RECORD"}, Limits(6, False, 1)),
        ({}, {"MaxPayloadInMB": 0}, Limits(0, False, 1)),
        ({}, {"MaxPayloadInMB": 500}, Limits(100, False, 1)),
        # the request first
        (
            {"MaxPayloadInMB": 2, "BatchStrategy": "MultiRecord", "MaxConcurrentTransforms": 3},
            {"MaxPayloadInMB": 10, "BatchStrategy": "SINGLE_RECORD", "MaxConcurrentTransforms": 8},
            Limits(2, False, 3),
        ),
        ({"BatchStrategy": "SingleRecord"}, {"BatchStrategy": "MULTI_RECORD"}, Limits(6, True, 1)),
        ({"MaxPayloadInMB": 0}, {"MaxPayloadInMB": 10}, Limits(0, False, 1)),
        ({"MaxConcurrentTransforms": 0}, {"MaxConcurrentTransforms": 5}, Limits(6, False, 5)),
        # concurrency x payload stays within 100 MB
        ({"MaxConcurrentTransforms": 1000}, None, Limits(6, False, 16)),
        ({"MaxPayloadInMB": 7, "MaxConcurrentTransforms": 20}, None, Limits(7, False, 14)),
        ({"MaxPayloadInMB": 100, "MaxConcurrentTransforms": 20}, None, Limits(100, False, 1)),
        ({"MaxPayloadInMB": 60, "MaxConcurrentTransforms": 2}, None, Limits(60, False, 1)),
        ({"MaxPayloadInMB": 50, "MaxConcurrentTransforms": 2}, None, Limits(50, False, 2)),
        ({}, {"MaxPayloadInMB": 25, "MaxConcurrentTransforms": 9}, Limits(25, False, 4)),
        # no limit: no cap either
        ({"MaxPayloadInMB": 0, "MaxConcurrentTransforms": 1000}, None, Limits(0, False, 1000)),
    ],
)
def test_resolve_limits(job: dict[str, Any], execution: dict[str, Any] | None, expected: Limits) -> None:
    limits = resolve_limits(job, execution)
    assert limits == expected
    if limits.payload_mb:
        assert limits.concurrency * limits.payload_mb <= 100


@pytest.mark.parametrize("junk", ["6", 6.0, True, False, -1, None, [], {"x": 1}])
def test_resolve_limits_ignores_junk_execution_parameters(junk: Any) -> None:
    execution = {"MaxPayloadInMB": junk, "MaxConcurrentTransforms": junk, "BatchStrategy": junk}
    assert resolve_limits({}, execution) == Limits(6, False, 1)


def test_resolve_limits_ignores_zero_concurrency_from_the_container() -> None:
    assert resolve_limits({}, {"MaxConcurrentTransforms": 0}).concurrency == 1


def test_limits_properties() -> None:
    assert Limits(6, False, 1).payload_bytes == 6 * MB == 6 * 1024 * 1024
    assert Limits(6, False, 1).range_bytes == 6 * MB - 6 * MB // 64  # a little short: a range's last line fits
    assert Limits(0, True, 1).payload_bytes is None
    assert Limits(0, True, 1).range_bytes == plan.UNLIMITED_RANGE == 64 * MB
    assert Limits(100, False, 1).payload_bytes == 100 * MB


# --- output_url ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output_path", "relative", "url"),
    [
        ("s3://b/out", "a.csv", "s3://b/out/a.csv.out"),
        ("s3://b/out/", "a.csv", "s3://b/out/a.csv.out"),
        ("s3://b/out//", "sub/b.csv", "s3://b/out/sub/b.csv.out"),
        ("file:///tmp/out", "part-1", "file:///tmp/out/part-1.out"),
    ],
)
def test_output_url(output_path: str, relative: str, url: str) -> None:
    assert output_url(output_path, relative) == url


# --- inputs: a prefix ----------------------------------------------------------------------------


def put(path: Path, data: bytes = b"x\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def prefix(path: Path) -> str:
    return path.as_uri() + "/"


def s3_prefix(uri: str) -> dict[str, Any]:
    return {"S3DataType": "S3Prefix", "S3Uri": uri}


def relatives(found: list[tuple[ObjectRef, str]]) -> list[str]:
    return [relative for _, relative in found]


@pytest.fixture
def locator() -> Locator:
    return Locator(None)


def test_inputs_under_a_directory_prefix(tmp_path: Path, locator: Locator) -> None:
    put(tmp_path / "in" / "b.csv", b"bb\n")
    put(tmp_path / "in" / "a.csv", b"a\n")
    put(tmp_path / "in" / "sub" / "deep" / "c.csv", b"ccc\n")
    (tmp_path / "in" / "empty-dir").mkdir()
    found = inputs(locator, s3_prefix(prefix(tmp_path / "in")))
    assert relatives(found) == ["a.csv", "b.csv", "sub/deep/c.csv"]
    assert found[0][0] == ObjectRef((tmp_path / "in" / "a.csv").as_uri(), 2)
    assert [ref.size for ref, _ in found] == [2, 3, 4]


def test_inputs_under_a_partial_key_prefix(tmp_path: Path, locator: Locator) -> None:
    put(tmp_path / "in" / "part-1.csv")
    put(tmp_path / "in" / "part-2.csv")
    put(tmp_path / "in" / "part-x" / "nested.csv")
    put(tmp_path / "in" / "other.csv")
    found = inputs(locator, s3_prefix(prefix(tmp_path / "in") + "part-"))
    # relative paths are kept under the prefix's last `/`, so each `.out` keeps its object's name
    assert relatives(found) == ["part-1.csv", "part-2.csv", "part-x/nested.csv"]


def test_inputs_of_a_single_object_uri(tmp_path: Path, locator: Locator) -> None:
    put(tmp_path / "in" / "data.csv")
    found = inputs(locator, s3_prefix((tmp_path / "in" / "data.csv").as_uri()))
    assert relatives(found) == ["data.csv"]


@pytest.mark.parametrize("where", ["in/", "in/nothing-", "missing/"])
def test_inputs_without_objects_is_a_plan_error(tmp_path: Path, locator: Locator, where: str) -> None:
    (tmp_path / "in" / "empty-dir").mkdir(parents=True)
    uri = tmp_path.as_uri() + "/" + where
    with pytest.raises(PlanError) as caught:
        inputs(locator, s3_prefix(uri))
    assert f"No S3 objects found under S3 URL '{uri}'" in str(caught.value)


def test_inputs_under_a_directory_prefix_leave_out_its_siblings(tmp_path: Path, locator: Locator) -> None:
    put(tmp_path / "in" / "a.csv")
    put(tmp_path / "in2" / "b.csv")
    put(tmp_path / "input.csv")
    assert relatives(inputs(locator, s3_prefix(prefix(tmp_path / "in")))) == ["a.csv"]


# --- inputs: a manifest --------------------------------------------------------------------------


def manifest(tmp_path: Path, entries: Any) -> dict[str, Any]:
    path = put(tmp_path / "manifest.json", entries if isinstance(entries, bytes) else json.dumps(entries).encode())
    return {"S3DataType": "ManifestFile", "S3Uri": path.as_uri()}


def test_manifest_lists_objects_under_its_prefix(tmp_path: Path, locator: Locator) -> None:
    put(tmp_path / "data" / "a.csv", b"a\n")
    put(tmp_path / "data" / "sub" / "b.csv", b"bb\n")
    put(tmp_path / "data" / "a.csv.bak")  # shares a's key as a prefix, but is not listed
    put(tmp_path / "data" / "unlisted.csv")
    found = inputs(locator, manifest(tmp_path, [{"prefix": prefix(tmp_path / "data")}, "sub/b.csv", "a.csv"]))
    assert found == [
        (ObjectRef((tmp_path / "data" / "sub" / "b.csv").as_uri(), 3), "sub/b.csv"),
        (ObjectRef((tmp_path / "data" / "a.csv").as_uri(), 2), "a.csv"),
    ]


def test_manifest_prefix_may_end_inside_a_key(tmp_path: Path, locator: Locator) -> None:
    put(tmp_path / "data" / "part-1.csv")
    found = inputs(locator, manifest(tmp_path, [{"prefix": prefix(tmp_path / "data") + "part-"}, "1.csv"]))
    assert found == [(ObjectRef((tmp_path / "data" / "part-1.csv").as_uri(), 2), "1.csv")]


def test_manifest_entry_must_name_a_whole_object(tmp_path: Path, locator: Locator) -> None:
    put(tmp_path / "data" / "a.csv")
    source = manifest(tmp_path, [{"prefix": prefix(tmp_path / "data")}, "a"])
    with pytest.raises(PlanError) as caught:
        inputs(locator, source)
    assert f"lists {prefix(tmp_path / 'data')}a, which does not exist" in str(caught.value)


def test_manifest_entry_that_does_not_exist(tmp_path: Path, locator: Locator) -> None:
    put(tmp_path / "data" / "a.csv")
    source = manifest(tmp_path, [{"prefix": prefix(tmp_path / "data")}, "a.csv", "gone.csv"])
    with pytest.raises(PlanError) as caught:
        inputs(locator, source)
    assert str(caught.value) == (
        f"The manifest file {source['S3Uri']} lists {prefix(tmp_path / 'data')}gone.csv, which does not exist."
    )


@pytest.mark.parametrize(
    "entries",
    [
        {"prefix": "file:///x/"},
        [],
        ["a.csv"],
        [{"prefix": 1}, "a.csv"],
        [{"Prefix": "file:///x/"}, "a.csv"],
        [{"prefix": "file:///x/"}, "a.csv", 3],
        [{"prefix": "file:///x/"}, ["a.csv"]],
        [{"prefix": "file:///x/"}, None],
        "file:///x/a.csv",
    ],
)
def test_manifest_of_the_wrong_shape(tmp_path: Path, locator: Locator, entries: Any) -> None:
    source = manifest(tmp_path, entries)
    with pytest.raises(PlanError) as caught:
        inputs(locator, source)
    message = str(caught.value)
    assert message.startswith(f"The manifest file {source['S3Uri']} must be a JSON list")
    assert '[{"prefix": "s3://bucket/prefix/"}, "relative/key", ...]' in message


@pytest.mark.parametrize("text", [b"", b"not json", b'[{"prefix": "file:///x/"}, "a.csv"', b"\xff\xfe[]"])
def test_manifest_that_is_not_json(tmp_path: Path, locator: Locator, text: bytes) -> None:
    source = manifest(tmp_path, text)
    with pytest.raises(PlanError) as caught:
        inputs(locator, source)
    assert str(caught.value).startswith(f"The manifest file {source['S3Uri']} is not valid JSON: ")


def test_manifest_with_only_its_prefix(tmp_path: Path, locator: Locator) -> None:
    source = manifest(tmp_path, [{"prefix": prefix(tmp_path)}])
    with pytest.raises(PlanError) as caught:
        inputs(locator, source)
    assert str(caught.value) == f"The manifest file {source['S3Uri']} lists no objects after its prefix."


def test_manifest_in_an_unreachable_store_is_a_plan_error(locator: Locator) -> None:
    # Locator(None) has no object store for s3:// URIs: the manifest cannot be read
    with pytest.raises(PlanError) as caught:
        inputs(locator, {"S3DataType": "ManifestFile", "S3Uri": "s3://bucket/manifest.json"})
    assert str(caught.value).startswith("Cannot read the manifest file: s3://bucket/manifest.json")


def test_manifest_that_does_not_exist_is_a_plan_error(tmp_path: Path, locator: Locator) -> None:
    with pytest.raises((PlanError, UnreachableObject)):
        inputs(locator, {"S3DataType": "ManifestFile", "S3Uri": (tmp_path / "nope.json").as_uri()})


# --- plan_files ----------------------------------------------------------------------------------


def job(split: str | None = "Line", compression: str | None = None, output: str = "file:///out/") -> dict[str, Any]:
    transform_input: dict[str, Any] = {}
    if split is not None:
        transform_input["SplitType"] = split
    if compression is not None:
        transform_input["CompressionType"] = compression
    return {"TransformInput": transform_input, "TransformOutput": {"S3OutputPath": output}}


def one_file(tmp_path: Path, data: bytes, name: str = "f") -> list[tuple[ObjectRef, str]]:
    path = put(tmp_path / "in" / name, data)
    return [(ObjectRef(path.as_uri(), len(data)), name)]


ONE_MB = Limits(1, False, 1)
R = ONE_MB.range_bytes  # a range is a little shorter than a request, so that its last line fits


def test_plan_files_names_each_output(tmp_path: Path, locator: Locator) -> None:
    put(tmp_path / "in" / "a.csv", b"a\n")
    put(tmp_path / "in" / "sub" / "b.csv", b"b\nb\n")
    refs = inputs(locator, s3_prefix(prefix(tmp_path / "in")))
    files = plan_files(locator, job(output="file:///results"), ONE_MB, refs)
    assert [(f.number, f.source, f.output, f.size, f.starts) for f in files] == [
        (0, (tmp_path / "in" / "a.csv").as_uri(), "file:///results/a.csv.out", 2, [0]),
        (1, (tmp_path / "in" / "sub" / "b.csv").as_uri(), "file:///results/sub/b.csv.out", 4, [0]),
    ]


@pytest.mark.parametrize(
    ("size", "starts"),
    [
        (0, [0]),
        (R, [0]),
        (R + 1, [0, R]),
        (2 * R, [0, R]),
        (2 * R + 1, [0, R, 2 * R]),
    ],
)
def test_line_files_are_cut_at_nominal_offsets(tmp_path: Path, locator: Locator, size: int, starts: list[int]) -> None:
    data = (b"a,b,c\n" * (size // 6 + 1))[:size]
    (file,) = plan_files(locator, job("Line"), ONE_MB, one_file(tmp_path, data))
    assert file.starts == starts
    assert file.size == size


def test_line_files_without_a_limit_use_the_unlimited_range(tmp_path: Path, locator: Locator) -> None:
    refs = [(ObjectRef((tmp_path / "never-read").as_uri(), 130 * MB), "big")]  # planning Line reads nothing
    (file,) = plan_files(locator, job("Line"), Limits(0, False, 1), refs)
    assert file.starts == [0, 64 * MB, 128 * MB]


@pytest.mark.parametrize(
    ("split", "compression"),
    [("Line", "Gzip"), ("RecordIO", "Gzip"), ("None", None), ("None", "Gzip"), (None, None)],
)
def test_gzip_files_and_split_type_none_are_one_range(
    tmp_path: Path, locator: Locator, split: str | None, compression: str | None
) -> None:
    refs = [(ObjectRef((tmp_path / "never-read.gz").as_uri(), 3 * MB), "big.gz")]  # planning them reads nothing
    (file,) = plan_files(locator, job(split, compression), ONE_MB, refs)
    assert file.starts == [0]
    assert file.output == "file:///out/big.gz.out"


# RecordIO / TFRecord files ------------------------------------------------------------------------


def masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) % 2**32


def rio_frame(data: bytes, flag: int) -> bytes:
    return struct.pack("<II", RECORDIO_MAGIC, (flag << 29) | len(data)) + data + b"\0" * (-len(data) % 4)


def rio_record(data: bytes, frames: int) -> bytes:
    if frames == 1:
        return rio_frame(data, 0)
    step = -(-len(data) // frames)
    parts = [data[i : i + step] for i in range(0, len(data), step)]
    flags = [1] + [2] * (len(parts) - 2) + [3]
    return b"".join(rio_frame(part, flag) for part, flag in zip(parts, flags, strict=True))


def tf_record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc(length)) + data + struct.pack("<I", masked_crc(data))


def framed_file(split: str, total: int, seed: int = SEED) -> tuple[bytes, list[int]]:
    """Records of random sizes (RecordIO ones over 1 to 4 frames) up to about `total` bytes, and their starts."""
    rng = random.Random(seed)
    blob = rng.randbytes(200_000)
    units, size = [], 0
    while size < total:
        data = blob[: rng.randint(0, 150_000)]
        unit = rio_record(data, rng.randint(1, 4)) if split == "RecordIO" else tf_record(data)
        units.append(unit)
        size += len(unit)
    starts = [sum(len(u) for u in units[:i]) for i in range(len(units))]
    return b"".join(units), starts


@pytest.mark.parametrize("split", ["RecordIO", "TFRecord"])
def test_framed_files_are_cut_at_record_starts(tmp_path: Path, locator: Locator, split: str) -> None:
    data, record_starts = framed_file(split, 4 * MB)
    (file,) = plan_files(locator, job(split), ONE_MB, one_file(tmp_path, data))
    assert file.size == len(data)
    assert len(file.starts) >= 3
    assert file.starts[0] == 0 and file.starts == sorted(set(file.starts))
    assert set(file.starts) <= set(record_starts)
    for number in range(len(file.starts) - 1):
        assert file.end_of(number) - file.starts[number] >= R
    assert file.end_of(len(file.starts) - 1) == len(data)


@pytest.mark.parametrize("split", ["RecordIO", "TFRecord"])
def test_small_framed_files_are_not_read(tmp_path: Path, locator: Locator, split: str) -> None:
    refs = [(ObjectRef((tmp_path / "never-read").as_uri(), R), "small")]
    (file,) = plan_files(locator, job(split), ONE_MB, refs)
    assert file.starts == [0]


@pytest.mark.parametrize("split", ["RecordIO", "TFRecord"])
@pytest.mark.parametrize("damage", ["garbage", "cut short"])
def test_malformed_framed_file_is_one_range(tmp_path: Path, locator: Locator, split: str, damage: str) -> None:
    data, record_starts = framed_file(split, 3 * MB)
    if damage == "garbage":  # a record in the middle overwritten
        middle = next(s for s in record_starts if s > 3 * MB // 2)
        data = data[:middle] + b"\xa5" * 16 + data[middle + 16 :]
    else:
        data = data[:-5]
    (file,) = plan_files(locator, job(split), ONE_MB, one_file(tmp_path, data))
    assert file.starts == [0]
    assert file.size == len(data)
