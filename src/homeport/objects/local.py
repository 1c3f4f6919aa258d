"""The embedded object store: buckets and objects under the data directory.

Layout under the store's root:
- `index.db` (SQLite): buckets, objects (key, size, ETag, metadata, which data file), multipart uploads.
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

import base64
import hashlib
import io
import json
import os
import secrets
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

from sqlalchemy import (
    Column,
    Connection,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from homeport.core.clock import Clock
from homeport.errors import (
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    EntityTooSmall,
    InvalidPart,
    InvalidPartOrder,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
)
from homeport.objects.names import after_prefix, check_bucket, check_key
from homeport.store.db import SQLITE_POOL, sqlite_pragmas

INLINE_MAX = 64 * 1024  # objects up to this size live in their index row
MIN_PART_BYTES = 5 * 1024 * 1024  # S3's minimum for every part but the last
MAX_PARTS = 10_000
_COPY_CHUNK = 1024 * 1024

_meta = MetaData()
_buckets = Table("buckets", _meta, Column("name", String(63), primary_key=True), Column("created", Float))
_objects = Table(
    "objects",
    _meta,
    Column("bucket", String(63), nullable=False),
    Column("key", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("etag", String(64), nullable=False),
    Column("last_modified", Float, nullable=False),
    Column("meta", Text, nullable=False),  # JSON: content type, x-amz-meta-*, checksums, parts
    Column("file", Text, nullable=False),  # "" when the bytes are inline, in `data`
    Column("data", LargeBinary, nullable=True),
    PrimaryKeyConstraint("bucket", "key"),
)
_uploads = Table(
    "uploads",
    _meta,
    Column("upload_id", String(64), primary_key=True),
    Column("bucket", String(63), nullable=False, index=True),
    Column("key", Text, nullable=False),
    Column("initiated", Float, nullable=False),
    Column("meta", Text, nullable=False),
)
_parts = Table(
    "parts",
    _meta,
    Column("upload_id", String(64), nullable=False),
    Column("number", Integer, nullable=False),
    Column("size", Integer, nullable=False),
    Column("etag", String(64), nullable=False),
    Column("last_modified", Float, nullable=False),
    Column("checksums", Text, nullable=False),
    Column("file", Text, nullable=False),
    PrimaryKeyConstraint("upload_id", "number"),
)

# The statements every GET, HEAD and PUT runs, built once: building a SQLAlchemy statement costs more than
# running it on SQLite.
_o = _objects.c
_BUCKET = select(_buckets.c.name).where(_buckets.c.name == bindparam("b_bucket"))
_OBJECT = select(_objects).where(_o.bucket == bindparam("b_bucket"), _o.key == bindparam("b_key"))
_BUCKET_AND_FILE = select(  # one statement: does the bucket exist, and the file of the key's object, if any
    _BUCKET.scalar_subquery().label("bucket"),
    select(_o.file)
    .where(_o.bucket == bindparam("b_bucket"), _o.key == bindparam("b_key"))
    .scalar_subquery()
    .label("file"),
)
_LISTED = select(_o.key, _o.size, _o.etag, _o.last_modified)  # what a listing shows of each object
_INSERT_OBJECT = insert(_objects)
_UPDATE_OBJECT = update(_objects).where(_o.bucket == bindparam("b_bucket"), _o.key == bindparam("b_key"))


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


@dataclass(frozen=True)
class PartInfo:
    number: int
    size: int
    etag: str
    last_modified: float
    checksums: dict[str, str]
    file: Path


@dataclass(frozen=True)
class Upload:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    meta: ObjectMeta


class Writer:
    """Bytes of a new object or part on their way in; invisible until the store commits them.

    With `inline_max`, the first that many bytes are kept in memory, and the file at `path` is only started
    when the object grows past them: a small object never has a file.
    """

    def __init__(self, path: Path, inline_max: int = 0) -> None:
        self.path = path
        self._inline_max = inline_max
        self._held: bytearray | None = bytearray() if inline_max else None
        self._file: BinaryIO | None = None if inline_max else open(path, "xb")  # noqa: SIM115 - see finish/abort
        self._md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        self._md5.update(data)
        self.size += len(data)
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
            os.fsync(self._file.fileno())
            self._file.close()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        self._held = None
        if self._file is not None:
            self._file.close()
            self.path.unlink(missing_ok=True)


class LocalObjectStore:
    def __init__(self, root: Path, clock: Clock) -> None:
        self.root = root
        self.clock = clock
        for sub in ("data", "uploads", "tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        for leftover in (root / "tmp").iterdir():  # writes a crash interrupted: never visible, now gone
            leftover.unlink(missing_ok=True)
        self._engine = create_engine(
            f"sqlite:///{root / 'index.db'}",
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=SQLITE_POOL,
            max_overflow=SQLITE_POOL,
        )
        event.listen(self._engine, "connect", sqlite_pragmas)
        _meta.create_all(self._engine)
        with self._tx() as conn:  # an index made before small objects were kept inline
            columns = {row[1] for row in conn.exec_driver_sql("PRAGMA table_info(objects)")}
            if "data" not in columns:
                conn.exec_driver_sql("ALTER TABLE objects ADD COLUMN data BLOB")

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self._engine.begin() as conn:
            yield conn

    # --- buckets ----------------------------------------------------------------------------------

    def create_bucket(self, name: str) -> None:
        check_bucket(name)
        try:
            with self._tx() as conn:
                conn.execute(insert(_buckets).values(name=name, created=self.clock.now()))
        except IntegrityError:
            raise BucketAlreadyOwnedByYou(
                "Your previous request to create the named bucket succeeded and you already own it.",
                BucketName=name,
            ) from None
        (self.root / "data" / name).mkdir(exist_ok=True)

    def buckets(self) -> list[tuple[str, float]]:
        with self._tx() as conn:
            return [(r.name, r.created) for r in conn.execute(select(_buckets).order_by(_buckets.c.name))]

    def head_bucket(self, name: str) -> None:
        with self._tx() as conn:
            self._bucket(conn, name)

    def delete_bucket(self, name: str) -> None:
        with self._tx() as conn:
            self._bucket(conn, name)
            if conn.execute(select(_objects.c.key).where(_objects.c.bucket == name).limit(1)).first():
                raise BucketNotEmpty("The bucket you tried to delete is not empty.", BucketName=name)
            upload_ids = [r.upload_id for r in conn.execute(select(_uploads).where(_uploads.c.bucket == name))]
            conn.execute(delete(_parts).where(_parts.c.upload_id.in_(upload_ids)))
            conn.execute(delete(_uploads).where(_uploads.c.bucket == name))
            conn.execute(delete(_buckets).where(_buckets.c.name == name))
        for upload_id in upload_ids:
            shutil.rmtree(self.root / "uploads" / upload_id, ignore_errors=True)
        shutil.rmtree(self.root / "data" / name, ignore_errors=True)

    def _bucket(self, conn: Connection, name: str) -> None:
        if conn.execute(_BUCKET, {"b_bucket": name}).first() is None:
            raise NoSuchBucket("The specified bucket does not exist", BucketName=name)

    # --- objects ----------------------------------------------------------------------------------

    def writer(self, bucket: str, key: str, *, check_bucket: bool = True) -> Writer:
        """A writer for a new object (key and bucket checked now: a bad one fails before the body is read;
        the commit checks the bucket again in any case)."""
        check_key(key)
        if check_bucket:
            self.head_bucket(bucket)
        return Writer(self.root / "tmp" / uuid.uuid4().hex, INLINE_MAX)

    def commit(self, writer: Writer, bucket: str, key: str, meta: ObjectMeta) -> ObjectInfo:
        """fsync, move into place, index: the object becomes visible whole, or not at all."""
        writer.finish()
        inline = writer.inline
        source = None if inline is not None else writer.path
        return self._publish(source, bucket, key, writer.size, writer.etag, meta, 0, inline)

    def _publish(
        self,
        source: Path | None,
        bucket: str,
        key: str,
        size: int,
        etag: str,
        meta: ObjectMeta,
        parts: int,
        inline: bytes | None = None,
    ) -> ObjectInfo:
        """Index the object: its bytes are the file `source` (moved into `data/`), or `inline` when None."""
        relative, target = "", None
        try:
            if source is not None:
                relative, target = self._new_data_file(bucket)
                os.replace(source, target)
            now = self.clock.now()
            doc = {**meta.to_json(), "parts": parts}
            with self._tx() as conn:
                found = conn.execute(_BUCKET_AND_FILE, {"b_bucket": bucket, "b_key": key}).one()
                if found.bucket is None:
                    raise NoSuchBucket("The specified bucket does not exist", BucketName=bucket)
                old = found if found.file is not None else None
                values = dict(size=size, etag=etag, last_modified=now, meta=json.dumps(doc), file=relative, data=inline)
                if old is None:
                    conn.execute(_INSERT_OBJECT, {"bucket": bucket, "key": key, **values})
                else:
                    conn.execute(_UPDATE_OBJECT, {"b_bucket": bucket, "b_key": key, **values})
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
        target.parent.mkdir(parents=True, exist_ok=True)
        return relative, target

    def head(self, bucket: str, key: str) -> ObjectInfo:
        with self._tx() as conn:
            row = conn.execute(_OBJECT, {"b_bucket": bucket, "b_key": key}).first()
            if row is None:
                self._bucket(conn, bucket)
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
                os.replace(writer.path, target)
                with self._tx() as conn:  # only the version that was read: an overwrite meanwhile wins
                    moved = conn.execute(
                        update(_objects)
                        .where(_o.bucket == bucket, _o.key == key, _o.file == "", _o.etag == info.etag)
                        .where(_o.last_modified == info.last_modified)
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
        with self._tx() as conn:
            self._bucket(conn, bucket)
            where = (_objects.c.bucket == bucket, _objects.c.key == key)
            row = conn.execute(select(_objects.c.file).where(*where)).first()
            conn.execute(delete(_objects).where(*where))
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
        with self._tx() as conn:
            self._bucket(conn, bucket)
            while True:
                if max_keys <= 0:
                    return Listing(objects, prefixes, False, None)
                query = _LISTED.where(_objects.c.bucket == bucket)
                query = query.where(_objects.c.key > position if op == ">" else _objects.c.key >= position)
                if upper is not None:
                    query = query.where(_objects.c.key < upper)
                rows = conn.execute(query.order_by(_objects.c.key).limit(max_keys + 1)).all()
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

    # --- multipart uploads ------------------------------------------------------------------------

    def create_upload(self, bucket: str, key: str, meta: ObjectMeta) -> Upload:
        check_key(key)
        upload_id = base64.urlsafe_b64encode(secrets.token_bytes(33)).decode()
        now = self.clock.now()
        with self._tx() as conn:
            self._bucket(conn, bucket)
            conn.execute(
                insert(_uploads).values(
                    upload_id=upload_id, bucket=bucket, key=key, initiated=now, meta=json.dumps(meta.to_json())
                )
            )
        (self.root / "uploads" / upload_id).mkdir()
        return Upload(upload_id, bucket, key, now, meta)

    def upload(self, bucket: str, key: str, upload_id: str) -> Upload:
        with self._tx() as conn:
            return self._upload(conn, bucket, key, upload_id)

    def _upload(self, conn: Connection, bucket: str, key: str, upload_id: str) -> Upload:
        row = conn.execute(select(_uploads).where(_uploads.c.upload_id == upload_id)).first()
        if row is None or row.bucket != bucket or row.key != key:
            self._bucket(conn, bucket)
            raise NoSuchUpload(
                "The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
                "aborted or completed.",
                UploadId=upload_id,
            )
        return _upload_of(row)

    def part_writer(self, bucket: str, key: str, upload_id: str) -> Writer:
        self.upload(bucket, key, upload_id)
        return Writer(self.root / "tmp" / uuid.uuid4().hex)

    def commit_part(
        self, writer: Writer, bucket: str, key: str, upload_id: str, number: int, checksums: dict[str, str]
    ) -> PartInfo:
        writer.finish()
        relative = f"{upload_id}/{number}.{uuid.uuid4().hex}"
        target = self.root / "uploads" / relative
        try:
            os.replace(writer.path, target)
            now = self.clock.now()
            with self._tx() as conn:
                self._upload(conn, bucket, key, upload_id)
                where = (_parts.c.upload_id == upload_id, _parts.c.number == number)
                old = conn.execute(select(_parts.c.file).where(*where)).first()
                conn.execute(delete(_parts).where(*where))
                conn.execute(
                    insert(_parts).values(
                        upload_id=upload_id,
                        number=number,
                        size=writer.size,
                        etag=writer.etag,
                        last_modified=now,
                        checksums=json.dumps(checksums),
                        file=relative,
                    )
                )
        except BaseException:
            writer.path.unlink(missing_ok=True)
            target.unlink(missing_ok=True)
            raise
        if old is not None:
            (self.root / "uploads" / old.file).unlink(missing_ok=True)
        return PartInfo(number, writer.size, writer.etag, now, checksums, target)

    def parts(self, bucket: str, key: str, upload_id: str, after: int = 0, max_parts: int = 1000) -> list[PartInfo]:
        with self._tx() as conn:
            self._upload(conn, bucket, key, upload_id)
            rows = conn.execute(
                select(_parts)
                .where(_parts.c.upload_id == upload_id, _parts.c.number > after)
                .order_by(_parts.c.number)
                .limit(max_parts + 1)
            ).all()
        return [self._part(r) for r in rows]

    def _part(self, row: Any) -> PartInfo:
        return PartInfo(
            row.number,
            row.size,
            row.etag,
            row.last_modified,
            json.loads(row.checksums),
            self.root / "uploads" / row.file,
        )

    def uploads(self, bucket: str) -> list[Upload]:
        with self._tx() as conn:
            self._bucket(conn, bucket)
            rows = conn.execute(select(_uploads).where(_uploads.c.bucket == bucket).order_by(_uploads.c.key)).all()
        return [
            Upload(r.upload_id, r.bucket, r.key, r.initiated, ObjectMeta.from_json(json.loads(r.meta))) for r in rows
        ]

    def complete_upload(self, bucket: str, key: str, upload_id: str, chosen: Iterable[tuple[int, str]]) -> ObjectInfo:
        """Join the chosen parts (number, ETag) into the object, in one new file, then index it."""
        chosen = list(chosen)
        with self._tx() as conn:
            upload = self._upload(conn, bucket, key, upload_id)
            stored = {
                r.number: self._part(r) for r in conn.execute(select(_parts).where(_parts.c.upload_id == upload_id))
            }
        parts = _check_parts(chosen, stored)
        self.head_bucket(bucket)
        joined = self.root / "tmp" / uuid.uuid4().hex
        try:  # the kernel copies the parts (no hashing: the ETag comes from the parts' MD5s)
            with open(joined, "xb") as out:
                for part in parts:
                    with open(part.file, "rb") as source:
                        _copy_file(source, out, part.size)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            joined.unlink(missing_ok=True)
            raise
        size = sum(p.size for p in parts)
        etag = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in parts), usedforsecurity=False).hexdigest()
        meta = upload.meta
        try:
            with self._tx() as conn:  # the upload may have been aborted or completed meanwhile
                self._upload(conn, bucket, key, upload_id)
                conn.execute(delete(_parts).where(_parts.c.upload_id == upload_id))
                conn.execute(delete(_uploads).where(_uploads.c.upload_id == upload_id))
        except BaseException:
            joined.unlink(missing_ok=True)
            raise
        info = self._publish(joined, bucket, key, size, f"{etag}-{len(parts)}", meta, len(parts))
        shutil.rmtree(self.root / "uploads" / upload_id, ignore_errors=True)
        return info

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        with self._tx() as conn:
            self._upload(conn, bucket, key, upload_id)
            conn.execute(delete(_parts).where(_parts.c.upload_id == upload_id))
            conn.execute(delete(_uploads).where(_uploads.c.upload_id == upload_id))
        shutil.rmtree(self.root / "uploads" / upload_id, ignore_errors=True)


def _copy_file(source: BinaryIO, out: BinaryIO, size: int) -> None:
    """`size` bytes from source to out, in the kernel where it can (copy_file_range), else through Python."""
    left = size
    try:
        while left > 0:
            copied = os.copy_file_range(source.fileno(), out.fileno(), left)
            if copied == 0:
                break
            left -= copied
    except (AttributeError, OSError):
        source.seek(size - left)
        out.seek(0, os.SEEK_END)
        shutil.copyfileobj(source, out, _COPY_CHUNK)
        return
    if left:
        raise OSError(f"{source.name} ended {left} bytes early")


def _check_parts(chosen: list[tuple[int, str]], stored: dict[int, PartInfo]) -> list[PartInfo]:
    if not chosen:
        raise InvalidPart("You must specify at least one part.")
    numbers = [number for number, _ in chosen]
    if numbers != sorted(set(numbers)):
        raise InvalidPartOrder("The list of parts was not in ascending order. Parts must be ordered by part number.")
    parts = []
    for number, etag in chosen:
        part = stored.get(number)
        if part is None or etag.strip('"') != part.etag:
            raise InvalidPart(
                f"One or more of the specified parts could not be found. The part may not have been uploaded, or "
                f"the specified entity tag may not match the part's entity tag (part {number}).",
                PartNumber=number,
            )
        parts.append(part)
    for part in parts[:-1]:
        if part.size < MIN_PART_BYTES:
            raise EntityTooSmall(
                f"Your proposed upload is smaller than the minimum allowed size: part {part.number} has "
                f"{part.size} bytes; every part but the last needs at least {MIN_PART_BYTES}.",
                ProposedSize=part.size,
                MinSizeAllowed=MIN_PART_BYTES,
            )
    return parts


def _upload_of(row: Any) -> Upload:
    return Upload(row.upload_id, row.bucket, row.key, row.initiated, ObjectMeta.from_json(json.loads(row.meta)))


def _after(common: str) -> tuple[str, str] | None:
    upper = after_prefix(common)
    return (">=", upper) if upper is not None else None
