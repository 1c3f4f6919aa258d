"""Multipart uploads in the embedded store: parts written where they sit in the object, and every way off that path."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from homeport.core.clock import SystemClock
from homeport.errors import IncompleteBody, NoSuchBucket, NoSuchUpload, PreconditionFailed
from homeport.objects import multipart
from homeport.objects.local import LocalObjectStore, ObjectMeta, WriteCondition
from homeport.objects.multipart import MIN_PART_BYTES, MultipartUploads, PartInfo

STRIDE = MIN_PART_BYTES


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    store = LocalObjectStore(tmp_path / "objects", SystemClock())
    store.create_bucket("bench")
    return store


@pytest.fixture
def uploads(store: LocalObjectStore) -> MultipartUploads:
    return MultipartUploads(store)


def body(number: int, size: int = STRIDE) -> bytes:
    """A part whose bytes say which part they are, so that a misplaced region shows."""
    return bytes([number % 251]) * size


def upload_part(uploads: MultipartUploads, upload_id: str, number: int, data: bytes) -> PartInfo:
    writer = uploads.part_writer("bench", "k", upload_id, number, len(data))
    writer.write(data)
    return uploads.commit_part(writer, "bench", "k", upload_id, number, {})


def read(store: LocalObjectStore, key: str = "k") -> bytes:
    _, stream = store.open("bench", key)
    with stream:
        return stream.read()


def complete(uploads: MultipartUploads, upload_id: str, parts: list[PartInfo], **kwargs: object) -> str:
    info = uploads.complete_upload("bench", "k", upload_id, [(p.number, p.etag) for p in parts], **kwargs)  # type: ignore[arg-type]
    return info.etag


def multipart_etag(parts: list[bytes]) -> str:
    digests = b"".join(hashlib.md5(p, usedforsecurity=False).digest() for p in parts)
    return f"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(parts)}"


@pytest.fixture
def no_join(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise AssertionError("the parts were copied")

    monkeypatch.setattr(multipart, "copy_file", refuse)


def test_uniform_parts_in_any_order_become_the_object_without_a_copy(
    store: LocalObjectStore, uploads: MultipartUploads, no_join: None
) -> None:
    upload = uploads.create_upload("bench", "k", ObjectMeta())
    datas = [body(1), body(2), body(3), body(4, 1000)]
    infos = {n: upload_part(uploads, upload.upload_id, n, datas[n - 1]) for n in (2, 1, 4, 3)}
    assert all(info.file.name == multipart.ASSEMBLY for info in infos.values())
    etag = complete(uploads, upload.upload_id, [infos[n] for n in (1, 2, 3, 4)])
    assert read(store) == b"".join(datas)
    assert etag == multipart_etag(datas)
    assert not (store.root / "uploads" / upload.upload_id).exists()
    assert not list((store.root / "tmp").iterdir())


def test_a_part_uploaded_again_goes_aside_and_the_parts_are_joined(
    store: LocalObjectStore, uploads: MultipartUploads
) -> None:
    upload = uploads.create_upload("bench", "k", ObjectMeta())
    first = upload_part(uploads, upload.upload_id, 1, body(1))
    upload_part(uploads, upload.upload_id, 2, body(2))
    again = upload_part(uploads, upload.upload_id, 2, body(7))  # its region holds a committed part
    assert first.file.name == multipart.ASSEMBLY and again.file.name != multipart.ASSEMBLY
    complete(uploads, upload.upload_id, [first, again])
    assert read(store) == body(1) + body(7)


def test_a_part_whose_region_is_being_written_goes_aside(store: LocalObjectStore, uploads: MultipartUploads) -> None:
    upload = uploads.create_upload("bench", "k", ObjectMeta())
    slow = uploads.part_writer("bench", "k", upload.upload_id, 1, STRIDE)
    fast = upload_part(uploads, upload.upload_id, 1, body(9))
    assert slow.in_place and fast.file.name != multipart.ASSEMBLY
    slow.write(body(1))
    last = uploads.commit_part(slow, "bench", "k", upload.upload_id, 1, {})  # the later commit wins
    complete(uploads, upload.upload_id, [last])
    assert read(store) == body(1)
    assert not fast.file.exists()


def test_a_last_part_that_arrives_first_sets_a_stride_the_others_do_not_fit(
    store: LocalObjectStore, uploads: MultipartUploads
) -> None:
    upload = uploads.create_upload("bench", "k", ObjectMeta())
    datas = [body(1, STRIDE + 10), body(2, STRIDE + 10), body(3, STRIDE)]
    last = upload_part(uploads, upload.upload_id, 3, datas[2])
    others = [upload_part(uploads, upload.upload_id, n, datas[n - 1]) for n in (1, 2)]
    assert last.file.name == multipart.ASSEMBLY and last.start == 2 * STRIDE
    assert all(p.file.name != multipart.ASSEMBLY for p in others)
    complete(uploads, upload.upload_id, [*others, last])
    assert read(store) == b"".join(datas)


def test_parts_left_out_are_not_in_the_object(store: LocalObjectStore, uploads: MultipartUploads) -> None:
    upload = uploads.create_upload("bench", "k", ObjectMeta())
    infos = [upload_part(uploads, upload.upload_id, n, body(n)) for n in (1, 2, 3)]
    complete(uploads, upload.upload_id, [infos[0], infos[2]])
    assert read(store) == body(1) + body(3)


def test_a_failed_completion_leaves_the_upload_whole(store: LocalObjectStore, uploads: MultipartUploads) -> None:
    writer = store.writer("bench", "k")
    writer.write(b"already here")
    store.commit(writer, "bench", "k", ObjectMeta())
    upload = uploads.create_upload("bench", "k", ObjectMeta())
    infos = [upload_part(uploads, upload.upload_id, n, body(n)) for n in (1, 2)]
    with pytest.raises(PreconditionFailed):
        complete(uploads, upload.upload_id, infos, condition=WriteCondition(if_none_match=True))
    assert read(store) == b"already here"
    complete(uploads, upload.upload_id, infos)
    assert read(store) == body(1) + body(2)


def test_an_upload_begun_before_a_restart_finishes_by_joining(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects", SystemClock())
    store.create_bucket("bench")
    before = MultipartUploads(store)
    upload = before.create_upload("bench", "k", ObjectMeta())
    first = upload_part(before, upload.upload_id, 1, body(1))
    store.close()
    store = LocalObjectStore(tmp_path / "objects", SystemClock())
    after = MultipartUploads(store)  # knows nothing of the regions in the assembly file
    rest = [upload_part(after, upload.upload_id, n, body(n)) for n in (2, 3)]
    assert all(p.file.name != multipart.ASSEMBLY for p in rest)
    complete(after, upload.upload_id, [first, *rest])
    assert read(store) == body(1) + body(2) + body(3)


def test_an_aborted_part_frees_its_region(store: LocalObjectStore, uploads: MultipartUploads, no_join: None) -> None:
    upload = uploads.create_upload("bench", "k", ObjectMeta())
    broken = uploads.part_writer("bench", "k", upload.upload_id, 1, STRIDE)
    broken.write(body(5, 100))
    broken.abort()
    uploads._settle(upload.upload_id, 1, committed=False)  # what the handler's failed commit does
    infos = [upload_part(uploads, upload.upload_id, n, body(n)) for n in (1, 2)]
    assert all(p.file.name == multipart.ASSEMBLY for p in infos)
    complete(uploads, upload.upload_id, infos)
    assert read(store) == body(1) + body(2)


def test_a_part_cannot_write_past_its_region(store: LocalObjectStore, uploads: MultipartUploads) -> None:
    upload = uploads.create_upload("bench", "k", ObjectMeta())
    upload_part(uploads, upload.upload_id, 2, body(2))
    writer = uploads.part_writer("bench", "k", upload.upload_id, 1, STRIDE)
    with pytest.raises(IncompleteBody):
        writer.write(body(1, STRIDE + 1))
    writer.abort()
    assert (store.root / "uploads" / upload.upload_id / multipart.ASSEMBLY).read_bytes()[STRIDE:] == body(2)


def test_a_part_for_an_upload_completed_meanwhile_is_refused(
    store: LocalObjectStore, uploads: MultipartUploads
) -> None:
    upload = uploads.create_upload("bench", "k", ObjectMeta())
    late = uploads.part_writer("bench", "k", upload.upload_id, 2, STRIDE)
    first = upload_part(uploads, upload.upload_id, 1, body(1))
    complete(uploads, upload.upload_id, [first])
    late.write(body(2))
    with pytest.raises(NoSuchUpload):
        uploads.commit_part(late, "bench", "k", upload.upload_id, 2, {})
    assert read(store) == body(1)
    with pytest.raises(NoSuchUpload):
        uploads.part_writer("bench", "k", upload.upload_id, 3, STRIDE)


def test_an_index_from_before_parts_had_a_start_is_upgraded(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    old = LocalObjectStore(root, SystemClock())
    old.close()
    with sqlite3.connect(root / "index.db") as conn:
        conn.execute("ALTER TABLE parts DROP COLUMN start")
    store = LocalObjectStore(root, SystemClock())
    store.create_bucket("bench")
    uploads = MultipartUploads(store)
    upload = uploads.create_upload("bench", "k", ObjectMeta())
    complete(uploads, upload.upload_id, [upload_part(uploads, upload.upload_id, 1, b"tiny")])
    assert read(store) == b"tiny"


def test_a_part_for_an_upload_aborted_while_its_writer_opens_is_refused(
    store: LocalObjectStore, uploads: MultipartUploads, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload is checked, then aborted before the part's region is opened: NoSuchUpload, not a crash."""
    upload = uploads.create_upload("bench", "k", ObjectMeta())
    opened = multipart.Writer

    def abort_first(*args: object, **kwargs: object) -> object:
        uploads.abort_upload("bench", "k", upload.upload_id)
        return opened(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(multipart, "Writer", abort_first)
    with pytest.raises(NoSuchUpload):
        uploads.part_writer("bench", "k", upload.upload_id, 1, STRIDE)
    assert not (store.root / "uploads" / upload.upload_id).exists()


def test_an_upload_to_a_missing_bucket_leaves_no_directory(store: LocalObjectStore, uploads: MultipartUploads) -> None:
    with pytest.raises(NoSuchBucket):
        uploads.create_upload("nope", "k", ObjectMeta())
    assert not list((store.root / "uploads").iterdir())
