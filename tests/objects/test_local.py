"""The embedded object store's layout: small objects live in their index row, big ones in data files."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from homeport.core.clock import SystemClock
from homeport.errors import NoSuchKey
from homeport.objects.local import INLINE_MAX, LocalObjectStore, ObjectInfo, ObjectMeta


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    store = LocalObjectStore(tmp_path / "objects", SystemClock())
    store.create_bucket("bench")
    return store


def put(store: LocalObjectStore, key: str, *chunks: bytes) -> None:
    writer = store.writer("bench", key)
    for chunk in chunks:
        writer.write(chunk)
    store.commit(writer, "bench", key, ObjectMeta("text/csv"))


def data_files(store: LocalObjectStore) -> list[Path]:
    return [p for p in (store.root / "data").rglob("*") if p.is_file()]


def read(store: LocalObjectStore, key: str) -> bytes:
    _, stream = store.open("bench", key)
    with stream:
        return stream.read()


def test_a_small_object_has_no_file_and_reads_back(store: LocalObjectStore) -> None:
    put(store, "small", b"1.0,2.0\n", b"3.0\n")
    info = store.head("bench", "small")
    assert info.file is None and info.size == 12
    assert info.etag == hashlib.md5(b"1.0,2.0\n3.0\n").hexdigest()
    assert read(store, "small") == b"1.0,2.0\n3.0\n"
    assert data_files(store) == [] and list((store.root / "tmp").iterdir()) == []


@pytest.mark.parametrize("size", [0, INLINE_MAX])
def test_up_to_the_limit_stays_inline(store: LocalObjectStore, size: int) -> None:
    put(store, "edge", b"x" * size)
    assert store.head("bench", "edge").file is None
    assert read(store, "edge") == b"x" * size


def test_growing_past_the_limit_in_pieces_spills_to_a_file(store: LocalObjectStore) -> None:
    body = bytes(range(256)) * (INLINE_MAX // 256 + 8)
    put(store, "big", body[:1000], body[1000 : INLINE_MAX - 5], body[INLINE_MAX - 5 :])
    info = store.head("bench", "big")
    assert info.file is not None and info.file.read_bytes() == body
    assert info.etag == hashlib.md5(body).hexdigest()
    assert data_files(store) == [info.file]


def test_overwrites_across_the_limit_leave_no_stray_file(store: LocalObjectStore) -> None:
    big = b"b" * (INLINE_MAX + 1)
    put(store, "k", b"small")
    put(store, "k", big)
    assert read(store, "k") == big and len(data_files(store)) == 1
    put(store, "k", b"small again")
    assert read(store, "k") == b"small again" and data_files(store) == []
    put(store, "k", big)
    store.delete("bench", "k")
    assert data_files(store) == []
    with pytest.raises(NoSuchKey):
        store.head("bench", "k")


def test_an_aborted_small_write_leaves_nothing(store: LocalObjectStore) -> None:
    writer = store.writer("bench", "gone")
    writer.write(b"partial")
    writer.abort()
    with pytest.raises(NoSuchKey):
        store.head("bench", "gone")
    assert list((store.root / "tmp").iterdir()) == []


def test_a_listing_carries_no_bytes(store: LocalObjectStore) -> None:
    put(store, "a", b"12345")
    put(store, "b", b"y" * (INLINE_MAX + 1))
    listed = store.list_objects("bench").objects
    assert [(o.key, o.size) for o in listed] == [("a", 5), ("b", INLINE_MAX + 1)]
    assert not hasattr(listed[0], "data")


def test_a_reader_that_needs_a_path_gets_the_small_object_written_out_once(store: LocalObjectStore) -> None:
    put(store, "model.tar.gz", b"archive bytes")
    path = store.path_of("bench", "model.tar.gz")
    assert path.read_bytes() == b"archive bytes"
    assert store.head("bench", "model.tar.gz").file == path  # the index points at the file from now on
    assert store.path_of("bench", "model.tar.gz") == path and data_files(store) == [path]
    assert read(store, "model.tar.gz") == b"archive bytes"
    with pytest.raises(NoSuchKey):
        store.path_of("bench", "missing")


def test_an_index_from_before_inline_objects_is_upgraded(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    old = LocalObjectStore(root, SystemClock())
    old.create_bucket("bench")
    put(old, "k", b"y" * (INLINE_MAX + 1))  # stored as a file, as every object was then
    old.close()
    with sqlite3.connect(root / "index.db") as conn:
        conn.execute("ALTER TABLE objects DROP COLUMN data")
    store = LocalObjectStore(root, SystemClock())
    assert read(store, "k") == b"y" * (INLINE_MAX + 1)
    put(store, "new", b"small")
    assert read(store, "new") == b"small"


def test_an_overwrite_during_the_write_out_wins(store: LocalObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """path_of writes out the version it read; if a new one lands meanwhile, that version's file is dropped
    and the new object is written out instead."""
    put(store, "model.tar.gz", b"first")
    head = store.head
    overwritten = False

    def head_then_overwrite(bucket: str, key: str) -> ObjectInfo:
        nonlocal overwritten
        info = head(bucket, key)
        if not overwritten:
            overwritten = True
            put(store, key, b"second, written while the first was being written out")
        return info

    monkeypatch.setattr(store, "head", head_then_overwrite)
    path = store.path_of("bench", "model.tar.gz")
    assert path.read_bytes() == b"second, written while the first was being written out"
    assert data_files(store) == [path] and list((store.root / "tmp").iterdir()) == []
