"""The embedded object store: buckets and objects under the data directory.

Layout under the store's root:
- `index.db` (SQLite, `index`): buckets, objects (key, size, ETag, metadata, which data file), multipart uploads
  (`multipart`).
- `data/<bucket>/<xx>/<uuid>`: one file per object version that is visible. Keys never become paths, so
  no key (`..`, `/abs`, `%2F`, NUL, 1 KB of anything) can address a file of its own choosing. An object of
  at most INLINE_MAX bytes has no file: its bytes are in its index row, written in the transaction that
  makes it visible (small objects are most of an async endpoint's traffic, and creating and fsyncing a
  file costs ~1 ms on a small VM where the transaction costs ~0.1 ms; the guarantees are the same: the
  index's own commits decide what is visible, and a reader sees the old object or the new one).
- `uploads/<upload-id>/<part>.<uuid>`: the parts of multipart uploads in progress.
- `tmp/`: bytes on their way in. A write lands here, is fsynced, renamed into `data/` and only then
  indexed in one transaction: a reader sees the old object or the new one, never half of one, and a
  crash leaves at most a file in `tmp/` (swept at the next start) or an unindexed data file.
An overwritten object's old file is unlinked after the index points at the new one; a reader that
opened it before keeps reading it (POSIX keeps unlinked open files).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

from sqlalchemy import (
    Connection,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from homeport.core.clock import Clock
from homeport.errors import (
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    IncompleteBody,
    NoSuchBucket,
    NoSuchKey,
    PreconditionFailed,
)
from homeport.objects import index
from homeport.objects.names import after_prefix, check_bucket, check_key

INLINE_MAX = 64 * 1024  # objects up to this size live in their index row
_COPY_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class WriteCondition:
    """S3's conditional writes: `if_none_match` (If-None-Match: *) writes only where no object has the key,
    `if_match` (If-Match: an ETag) only over that version; checked in the transaction that publishes."""

    if_none_match: bool = False
    if_match: str | None = None

    def check(self, key: str, etag: str | None) -> None:
        """Against the key's current object (its ETag, unquoted; None: there is none)."""
        if self.if_none_match and etag is not None:
            raise PreconditionFailed.on("If-None-Match")
        if self.if_match is not None:
            if etag is None:
                raise NoSuchKey("The specified key does not exist.", Key=key)
            if not etag_matches(self.if_match, etag):
                raise PreconditionFailed.on("If-Match")


def etag_matches(header: str, etag: str) -> bool:
    """Whether an If-Match / If-None-Match header (ETags, quoted or not, or '*') names the ETag `etag`."""
    tags = [t.strip().strip('"') for t in header.split(",")]
    return "*" in tags or etag.strip('"') in tags


ANY = WriteCondition()


@dataclass(frozen=True)
class ObjectMeta:
    """What a writer says about an object besides its bytes."""

    content_type: str = "binary/octet-stream"
    user: dict[str, str] = field(default_factory=dict)  # x-amz-meta-* without the prefix
    headers: dict[str, str] = field(default_factory=dict)  # content-encoding, cache-control, …
    checksums: dict[str, str] = field(default_factory=dict)  # "CRC32" → base64, as sent and verified
    checksum_algorithm: str | None = None  # multipart: the algorithm named at creation

    def to_json(self) -> dict[str, Any]:
        return {
            "content_type": self.content_type,
            "user": self.user,
            "headers": self.headers,
            "checksums": self.checksums,
            "checksum_algorithm": self.checksum_algorithm,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ObjectMeta:
        return cls(
            doc.get("content_type", "binary/octet-stream"),
            doc.get("user", {}),
            doc.get("headers", {}),
            doc.get("checksums", {}),
            doc.get("checksum_algorithm"),
        )


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str  # without quotes; "<md5>-<parts>" for a multipart object
    last_modified: float
    meta: ObjectMeta
    file: Path | None  # None: the object is small and its bytes are `data`
    parts: int = 0
    data: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Listed:
    """An object as a listing shows it (no metadata, no bytes: a page of 1,000 reads neither)."""

    key: str
    size: int
    etag: str
    last_modified: float


@dataclass(frozen=True)
class Listing:
    objects: list[Listed]
    prefixes: list[str]
    truncated: bool
    resume: tuple[str, str] | None  # (">" or ">=", key): where the next page starts


class Writer:
    """Bytes of a new object or part on their way in; invisible until the store commits them.

    With `inline_max`, the first that many bytes are kept in memory, and the file at `path` is only started
    when the object grows past them: a small object never has a file. With `start`, the bytes go into the
    shared file at `path` (made if missing, never truncated) from that offset, and at most `limit` of them:
    a multipart upload's part written where it will sit in the finished object.
    """

    def __init__(self, path: Path, inline_max: int = 0, *, start: int | None = None, limit: int = 0) -> None:
        self.path = path
        self.start = start
        self._limit = limit
        self._inline_max = inline_max
        self._held: bytearray | None = bytearray() if inline_max else None
        self._file: BinaryIO | None = None
        if start is not None:
            self._file = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644), "wb")
            self._file.seek(start)
        elif not inline_max:
            self._file = open(path, "xb")  # noqa: SIM115 - see finish/abort
        self._md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    @property
    def in_place(self) -> bool:
        return self.start is not None

    def write(self, data: bytes | memoryview) -> None:
        self._md5.update(data)
        self.size += len(data)
        if self.in_place and self.size > self._limit:  # the body checks stop this first; this guards the neighbour
            raise IncompleteBody(f"The body is longer than the {self._limit} bytes its headers declared.")
        if self._held is not None:
            if self.size <= self._inline_max:
                self._held += data
                return
            self._file = open(self.path, "xb")  # noqa: SIM115 - closed in finish/abort
            self._file.write(self._held)
            self._held = None
        assert self._file is not None
        self._file.write(data)

    @property
    def inline(self) -> bytes | None:
        """The whole object when it stayed small enough for its index row; None when it is in the file."""
        return bytes(self._held) if self._held is not None else None

    @property
    def etag(self) -> str:
        return self._md5.hexdigest()

    def finish(self) -> None:
        """Make the bytes durable before they become visible (a crash must not expose a short file)."""
        if self._file is None:
            return  # inline: the index transaction that publishes the bytes is what keeps them
        try:
            self._file.flush()
            (os.fdatasync if self.in_place else os.fsync)(self._file.fileno())
            self._file.close()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Drop what was written: the file, unless it is shared (its region is then simply not committed)."""
        self._held = None
        if self._file is not None:
            self._file.close()
            if not self.in_place:
                self.path.unlink(missing_ok=True)


class LocalObjectStore:
    def __init__(self, root: Path, clock: Clock, *, durable: bool = True) -> None:
        self.root = root
        self.clock = clock
        self.durable = durable  # renames and new directories synced before the index commit that exposes them
        for sub in ("data", "uploads", "tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        for leftover in (root / "tmp").iterdir():  # writes a crash interrupted: never visible, now gone
            leftover.unlink(missing_ok=True)
        self._index = index.open_index(root / "index.db", durable=durable)

    def close(self) -> None:
        self._index.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction that may write: it holds the index's write lock."""
        with self._index.writing() as conn:
            yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read-only transaction: one snapshot of the index, never waiting for writers."""
        with self._index.reading() as conn:
            yield conn

    # --- buckets ----------------------------------------------------------------------------------

    def create_bucket(self, name: str) -> None:
        check_bucket(name)
        try:
            with self.transaction() as conn:
                conn.execute(insert(index.buckets).values(name=name, created=self.clock.now()))
        except IntegrityError:
            raise BucketAlreadyOwnedByYou(
                "Your previous request to create the named bucket succeeded and you already own it.",
                BucketName=name,
            ) from None
        self.make_dir(self.root / "data" / name)

    def buckets(self) -> list[tuple[str, float]]:
        with self.reading() as conn:
            return [(r.name, r.created) for r in conn.execute(select(index.buckets).order_by(index.buckets.c.name))]

    def head_bucket(self, name: str) -> None:
        with self.reading() as conn:
            self.require_bucket(conn, name)

    def delete_bucket(self, name: str) -> None:
        with self.transaction() as conn:
            self.require_bucket(conn, name)
            if conn.execute(select(index.objects.c.key).where(index.objects.c.bucket == name).limit(1)).first():
                raise BucketNotEmpty("The bucket you tried to delete is not empty.", BucketName=name)
            upload_ids = [
                r.upload_id for r in conn.execute(select(index.uploads).where(index.uploads.c.bucket == name))
            ]
            conn.execute(delete(index.parts).where(index.parts.c.upload_id.in_(upload_ids)))
            conn.execute(delete(index.uploads).where(index.uploads.c.bucket == name))
            conn.execute(delete(index.buckets).where(index.buckets.c.name == name))
        for upload_id in upload_ids:
            shutil.rmtree(self.root / "uploads" / upload_id, ignore_errors=True)
        shutil.rmtree(self.root / "data" / name, ignore_errors=True)

    def require_bucket(self, conn: Connection, name: str) -> None:
        if conn.execute(index.BUCKET, {"b_bucket": name}).first() is None:
            raise NoSuchBucket("The specified bucket does not exist", BucketName=name)

    # --- objects ----------------------------------------------------------------------------------

    def writer(self, bucket: str, key: str, *, check_bucket: bool = True) -> Writer:
        """A writer for a new object (key and bucket checked now: a bad one fails before the body is read;
        the commit checks the bucket again in any case)."""
        check_key(key)
        if check_bucket:
            self.head_bucket(bucket)
        return Writer(self.root / "tmp" / uuid.uuid4().hex, INLINE_MAX)

    def commit(
        self, writer: Writer, bucket: str, key: str, meta: ObjectMeta, condition: WriteCondition = ANY
    ) -> ObjectInfo:
        """fsync, move into place, index: the object becomes visible whole, or not at all."""
        writer.finish()
        inline = writer.inline
        source = None if inline is not None else writer.path
        return self.publish(source, bucket, key, writer.size, writer.etag, meta, 0, inline, condition)

    def publish(
        self,
        source: Path | None,
        bucket: str,
        key: str,
        size: int,
        etag: str,
        meta: ObjectMeta,
        parts: int,
        inline: bytes | None = None,
        condition: WriteCondition = ANY,
    ) -> ObjectInfo:
        """Index the object: its bytes are the file `source` (moved into `data/`), or `inline` when None."""
        relative, target = "", None
        try:
            if source is not None:
                relative, target = self._new_data_file(bucket)
                self.move_in(source, target)
            now = self.clock.now()
            doc = {**meta.to_json(), "parts": parts}
            with self.transaction() as conn:
                found = conn.execute(index.BUCKET_AND_FILE, {"b_bucket": bucket, "b_key": key}).one()
                if found.bucket is None:
                    raise NoSuchBucket("The specified bucket does not exist", BucketName=bucket)
                condition.check(key, found.etag)
                old = found if found.file is not None else None
                values = dict(size=size, etag=etag, last_modified=now, meta=json.dumps(doc), file=relative, data=inline)
                if old is None:
                    conn.execute(index.INSERT_OBJECT, {"bucket": bucket, "key": key, **values})
                else:
                    conn.execute(index.UPDATE_OBJECT, {"b_bucket": bucket, "b_key": key, **values})
        except BaseException:
            for leftover in (source, target):
                if leftover is not None:
                    leftover.unlink(missing_ok=True)
            raise
        if old is not None and old.file:
            (self.root / "data" / old.file).unlink(missing_ok=True)
        return ObjectInfo(bucket, key, size, etag, now, meta, target, parts, inline)

    def _new_data_file(self, bucket: str) -> tuple[str, Path]:
        """Where a new data file goes: its path relative to `data/` (what the index keeps), and in full."""
        name = uuid.uuid4().hex
        relative = f"{bucket}/{name[:2]}/{name}"
        target = self.root / "data" / relative
        self.make_dir(target.parent)
        return relative, target

    def make_dir(self, path: Path) -> None:
        """`path` and its parents, the new ones durable (their entries synced) when the store is."""
        if path.is_dir():
            return
        self.make_dir(path.parent)
        path.mkdir(exist_ok=True)
        if self.durable:
            _sync_dir(path.parent)

    def move_in(self, source: Path, target: Path) -> None:
        """Rename a synced file into place; when durable, the rename itself is synced too."""
        os.replace(source, target)
        if self.durable:
            _sync_dir(target.parent)

    def head(self, bucket: str, key: str) -> ObjectInfo:
        with self.reading() as conn:
            row = conn.execute(index.OBJECT, {"b_bucket": bucket, "b_key": key}).first()
            if row is None:
                self.require_bucket(conn, bucket)
                raise NoSuchKey("The specified key does not exist.", Key=key)
        return self._info(row)

    def open(self, bucket: str, key: str) -> tuple[ObjectInfo, BinaryIO]:
        """The object's current version, opened: later overwrites or deletes do not change what is read."""
        for _ in range(3):
            info = self.head(bucket, key)
            if info.file is None:
                return info, io.BytesIO(info.data or b"")
            with suppress(FileNotFoundError):  # overwritten between the lookup and the open: look again
                return info, open(info.file, "rb")
        raise NoSuchKey("The specified key does not exist.", Key=key)

    def path_of(self, bucket: str, key: str) -> Path:
        """A file with the object's bytes, for readers that need a path (a model archive). A small object is
        written out to a data file the first time, and its index row points at that file from then on."""
        for _ in range(3):
            info = self.head(bucket, key)
            if info.file is not None:
                return info.file
            writer = Writer(self.root / "tmp" / uuid.uuid4().hex)
            target = None
            try:
                writer.write(info.data or b"")
                writer.finish()
                relative, target = self._new_data_file(bucket)
                self.move_in(writer.path, target)
                with self.transaction() as conn:  # only the version that was read: an overwrite meanwhile wins
                    moved = conn.execute(
                        update(index.objects)
                        .where(
                            index.o.bucket == bucket, index.o.key == key, index.o.file == "", index.o.etag == info.etag
                        )
                        .where(index.o.last_modified == info.last_modified)
                        .values(file=relative, data=None)
                    ).rowcount
            except BaseException:
                writer.abort()
                if target is not None:
                    target.unlink(missing_ok=True)
                raise
            if moved:
                return target
            target.unlink(missing_ok=True)
        raise NoSuchKey("The specified key does not exist.", Key=key)

    def delete(self, bucket: str, key: str) -> None:
        """S3 semantics: deleting a key that does not exist succeeds; a missing bucket does not."""
        with self.transaction() as conn:
            self.require_bucket(conn, bucket)
            where = (index.objects.c.bucket == bucket, index.objects.c.key == key)
            row = conn.execute(select(index.objects.c.file).where(*where)).first()
            conn.execute(delete(index.objects).where(*where))
        if row is not None and row.file:
            (self.root / "data" / row.file).unlink(missing_ok=True)

    def copy(self, source: ObjectInfo, reader: IO[bytes], bucket: str, key: str, meta: ObjectMeta) -> ObjectInfo:
        writer = self.writer(bucket, key)
        try:
            while chunk := reader.read(_COPY_CHUNK):
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        if writer.size != source.size:
            writer.abort()
            raise NoSuchKey("The source object changed while it was copied; try again.", Key=source.key)
        return self.commit(writer, bucket, key, meta)

    def list_objects(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        resume: tuple[str, str] | None = None,
        max_keys: int = 1000,
    ) -> Listing:
        """One page of keys in order, with keys that share `prefix`…`delimiter` rolled into one prefix."""
        objects: list[Listed] = []
        prefixes: list[str] = []
        op, position = resume or (">=", prefix)
        if position < prefix:
            op, position = ">=", prefix
        upper = after_prefix(prefix) if prefix else None
        with self.reading() as conn:
            self.require_bucket(conn, bucket)
            while True:
                if max_keys <= 0:
                    return Listing(objects, prefixes, False, None)
                query = index.LISTED.where(index.objects.c.bucket == bucket)
                query = query.where(index.objects.c.key > position if op == ">" else index.objects.c.key >= position)
                if upper is not None:
                    query = query.where(index.objects.c.key < upper)
                rows = conn.execute(query.order_by(index.objects.c.key).limit(max_keys + 1)).all()
                regrouped = False
                for row in rows:
                    if len(objects) + len(prefixes) == max_keys:
                        last = prefixes[-1] if prefixes and (not objects or prefixes[-1] > objects[-1].key) else None
                        return Listing(objects, prefixes, True, _after(last) if last else (">", objects[-1].key))
                    cut = row.key.find(delimiter, len(prefix)) if delimiter else -1
                    if cut < 0:
                        objects.append(Listed(row.key, row.size, row.etag, row.last_modified))
                        continue
                    common = row.key[: cut + len(delimiter)]
                    prefixes.append(common)
                    skip = _after(common)
                    if skip is None:
                        return Listing(objects, prefixes, False, None)
                    op, position = skip
                    regrouped = True
                    break  # query again from past this common prefix
                if not regrouped:
                    return Listing(objects, prefixes, False, None)

    def _info(self, row: Any) -> ObjectInfo:
        """An object's row (all of its columns) as ObjectInfo."""
        doc = json.loads(row.meta)
        return ObjectInfo(
            row.bucket,
            row.key,
            row.size,
            row.etag,
            row.last_modified,
            ObjectMeta.from_json(doc),
            self.root / "data" / row.file if row.file else None,
            doc.get("parts", 0),
            row.data,
        )


def copy_file(source: BinaryIO, out: BinaryIO, size: int, start: int = 0) -> None:
    """`size` bytes of source from `start` to the end of out, in the kernel where it can (copy_file_range), else
    through Python."""
    left = size
    source.seek(start)
    try:
        while left > 0:
            copied = os.copy_file_range(source.fileno(), out.fileno(), left)
            if copied == 0:
                break
            left -= copied
    except (AttributeError, OSError):
        source.seek(start + size - left)
        out.seek(0, os.SEEK_END)
        while left > 0 and (chunk := source.read(min(left, _COPY_CHUNK))):
            out.write(chunk)
            left -= len(chunk)
    if left:
        raise OSError(f"{source.name} ended {left} bytes early")


def _after(common: str) -> tuple[str, str] | None:
    upper = after_prefix(common)
    return (">=", upper) if upper is not None else None


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
