"""Multipart uploads of the embedded object store: parts written where they will sit, or aside and joined.

An upload and its parts are rows of the store's index (`index.uploads`, `index.parts`); a part's row is written
only once its bytes are synced, so a part is whole or absent.

Clients upload with one part size for every part but the last (boto3, the AWS CLI, s3fs, rclone), so the upload's
first part of at least MIN_PART_BYTES sets a *stride*, and each later part no longer than it is written straight
into the upload's assembly file (`uploads/<upload-id>/object`) at (number - 1) x stride. When the parts completed
are exactly those, numbered from 1, the assembly file *is* the object: `complete_upload` cuts it to length and
publishes it (`LocalObjectStore.publish`) without copying a byte. Anything else (a part longer than the stride,
one uploaded again or while its region is being written, parts left out, an upload begun before a restart) is
written to a file of its own, and the chosen parts are joined into a new file. The object appears whole or not
at all either way. Which regions are being written, or hold a committed part, is kept in memory under a lock:
one process owns the store.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select

from homeport.errors import EntityTooSmall, InvalidPart, InvalidPartOrder, NoSuchUpload
from homeport.objects import index
from homeport.objects.local import ANY, LocalObjectStore, ObjectInfo, ObjectMeta, WriteCondition, Writer, copy_file
from homeport.objects.names import check_key

MIN_PART_BYTES = 5 * 1024 * 1024  # S3's minimum for every part but the last
MAX_PARTS = 10_000


@dataclass(frozen=True)
class PartInfo:
    number: int
    size: int
    etag: str
    last_modified: float
    checksums: dict[str, str]
    file: Path
    start: int = 0  # where the part's bytes begin in `file`


@dataclass(frozen=True)
class Upload:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    meta: ObjectMeta


@dataclass
class _Layout:
    """How one upload's parts go into its assembly file, in this process."""

    stride: int  # 0: nothing goes in place
    writing: set[int] = field(default_factory=set)  # part numbers whose regions are being written
    done: set[int] = field(default_factory=set)  # part numbers whose regions hold a committed part
    open: bool = True  # False once a completion has begun: no new region is handed out


ASSEMBLY = "object"  # the assembly file's name in the upload's directory


class MultipartUploads:
    """CreateMultipartUpload, UploadPart, ListParts, ListMultipartUploads, Complete… and Abort… on `store`."""

    def __init__(self, store: LocalObjectStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._layouts: dict[str, _Layout] = {}

    _PARTS_OF = select(index.parts.c.number).where(index.parts.c.upload_id == bindparam("u")).limit(1)

    def create_upload(self, bucket: str, key: str, meta: ObjectMeta) -> Upload:
        check_key(key)
        upload_id = base64.urlsafe_b64encode(secrets.token_bytes(33)).decode()
        now = self.store.clock.now()
        directory = self.store.root / "uploads" / upload_id
        self.store.make_dir(directory)  # before the row: an upload the index knows always has its directory
        try:
            with self.store.transaction() as conn:
                self.store.require_bucket(conn, bucket)
                conn.execute(
                    insert(index.uploads).values(
                        upload_id=upload_id, bucket=bucket, key=key, initiated=now, meta=json.dumps(meta.to_json())
                    )
                )
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return Upload(upload_id, bucket, key, now, meta)

    def upload(self, bucket: str, key: str, upload_id: str) -> Upload:
        with self.store.reading() as conn:
            return self._upload(conn, bucket, key, upload_id)

    def _upload(self, conn: Connection, bucket: str, key: str, upload_id: str) -> Upload:
        row = conn.execute(select(index.uploads).where(index.uploads.c.upload_id == upload_id)).first()
        if row is None or row.bucket != bucket or row.key != key:
            self.store.require_bucket(conn, bucket)
            raise NoSuchUpload(
                "The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
                "aborted or completed.",
                UploadId=upload_id,
            )
        return _upload_of(row)

    def part_writer(self, bucket: str, key: str, upload_id: str, number: int, length: int | None) -> Writer:
        """A writer for part `number` of `length` bytes (None: not declared): in its region of the assembly file
        when it fits the upload's stride and nothing else holds the region, else in a file of its own."""
        with self.store.reading() as conn:
            self._upload(conn, bucket, key, upload_id)
            # Parts stored before this process knew the upload came before a restart: their regions are unknown.
            begun = upload_id not in self._layouts and conn.execute(self._PARTS_OF, {"u": upload_id}).first()
        start = None
        if length:
            with self._lock:
                layout = self._layouts.setdefault(
                    upload_id, _Layout(length if length >= MIN_PART_BYTES and not begun else 0)
                )
                free = number not in layout.writing and number not in layout.done
                if layout.open and free and length <= layout.stride:
                    layout.writing.add(number)
                    start = (number - 1) * layout.stride
        if start is None:
            return Writer(self.store.root / "tmp" / uuid.uuid4().hex)
        try:
            return Writer(self.store.root / "uploads" / upload_id / ASSEMBLY, start=start, limit=length or 0)
        except FileNotFoundError:  # completed or aborted meanwhile
            self._settle(upload_id, number, committed=False)
            self.upload(bucket, key, upload_id)
            raise

    def commit_part(
        self, writer: Writer, bucket: str, key: str, upload_id: str, number: int, checksums: dict[str, str]
    ) -> PartInfo:
        if writer.in_place:
            relative, start = f"{upload_id}/{ASSEMBLY}", writer.start or 0
        else:
            relative, start = f"{upload_id}/{number}.{uuid.uuid4().hex}", 0
        target = self.store.root / "uploads" / relative
        committed = False
        try:
            writer.finish()
            if not writer.in_place:
                self.store.move_in(writer.path, target)
            now = self.store.clock.now()
            with self.store.transaction() as conn:
                self._upload(conn, bucket, key, upload_id)
                where = (index.parts.c.upload_id == upload_id, index.parts.c.number == number)
                old = conn.execute(select(index.parts.c.file).where(*where)).first()
                conn.execute(delete(index.parts).where(*where))
                conn.execute(
                    insert(index.parts).values(
                        upload_id=upload_id,
                        number=number,
                        size=writer.size,
                        etag=writer.etag,
                        last_modified=now,
                        checksums=json.dumps(checksums),
                        file=relative,
                        start=start,
                    )
                )
            committed = True
        except BaseException:
            writer.abort()
            if not writer.in_place:
                target.unlink(missing_ok=True)
            raise
        finally:
            if writer.in_place:
                self._settle(upload_id, number, committed)
        if old is not None and not old.file.endswith(f"/{ASSEMBLY}"):
            (self.store.root / "uploads" / old.file).unlink(missing_ok=True)
        return PartInfo(number, writer.size, writer.etag, now, checksums, target, start)

    def _settle(self, upload_id: str, number: int, committed: bool) -> None:
        """Part `number`'s region is no longer being written; it holds a committed part if `committed`."""
        with self._lock:
            layout = self._layouts.get(upload_id)
            if layout is not None:
                layout.writing.discard(number)
                if committed:
                    layout.done.add(number)

    def parts(self, bucket: str, key: str, upload_id: str, after: int = 0, max_parts: int = 1000) -> list[PartInfo]:
        with self.store.reading() as conn:
            self._upload(conn, bucket, key, upload_id)
            rows = conn.execute(
                select(index.parts)
                .where(index.parts.c.upload_id == upload_id, index.parts.c.number > after)
                .order_by(index.parts.c.number)
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
            self.store.root / "uploads" / row.file,
            row.start,
        )

    def uploads(self, bucket: str) -> list[Upload]:
        with self.store.reading() as conn:
            self.store.require_bucket(conn, bucket)
            rows = conn.execute(
                select(index.uploads).where(index.uploads.c.bucket == bucket).order_by(index.uploads.c.key)
            ).all()
        return [
            Upload(r.upload_id, r.bucket, r.key, r.initiated, ObjectMeta.from_json(json.loads(r.meta))) for r in rows
        ]

    def complete_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        chosen: Iterable[tuple[int, str]],
        condition: WriteCondition = ANY,
    ) -> ObjectInfo:
        """Join the chosen parts (number, ETag) into the object, in one new file, then index it. A failed
        `condition` leaves the upload as it was (unless the object changes while the parts are joined)."""
        chosen = list(chosen)
        with self.store.transaction() as conn:
            upload = self._upload(conn, bucket, key, upload_id)
            current = conn.execute(index.BUCKET_AND_FILE, {"b_bucket": bucket, "b_key": key}).one()
            condition.check(key, current.etag)
            stored = {
                r.number: self._part(r)
                for r in conn.execute(select(index.parts).where(index.parts.c.upload_id == upload_id))
            }
        parts = _check_parts(chosen, stored)
        self.store.head_bucket(bucket)
        joined = self.store.root / "tmp" / uuid.uuid4().hex
        try:
            if self._in_place(upload_id, parts, stored):
                # The assembly file is the object: cut off what lies past the last part, and give it a second name
                # to publish under, so that a failure below leaves the upload as it was.
                os.truncate(parts[-1].file, sum(p.size for p in parts))
                _sync_file(parts[-1].file)
                os.link(parts[-1].file, joined)
            else:  # the kernel copies the parts (no hashing: the ETag comes from the parts' MD5s)
                self._join(parts, joined)
        except FileNotFoundError:  # completed or aborted meanwhile
            joined.unlink(missing_ok=True)
            self.upload(bucket, key, upload_id)
            raise
        except BaseException:
            joined.unlink(missing_ok=True)
            raise
        size = sum(p.size for p in parts)
        etag = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in parts), usedforsecurity=False).hexdigest()
        meta = upload.meta
        try:
            with self.store.transaction() as conn:  # the upload may have been aborted or completed meanwhile
                self._upload(conn, bucket, key, upload_id)
                conn.execute(delete(index.parts).where(index.parts.c.upload_id == upload_id))
                conn.execute(delete(index.uploads).where(index.uploads.c.upload_id == upload_id))
        except BaseException:
            joined.unlink(missing_ok=True)
            raise
        info = self.store.publish(joined, bucket, key, size, f"{etag}-{len(parts)}", meta, len(parts), None, condition)
        self._forget(upload_id)
        return info

    def _in_place(self, upload_id: str, parts: list[PartInfo], stored: dict[int, PartInfo]) -> bool:
        """Whether the chosen `parts` are the whole assembly file, as it will stay: every stored part chosen, numbered
        from 1, each in its region; no region being written. Closes the upload to new regions either way."""
        with self._lock:
            layout = self._layouts.get(upload_id)
            if layout is None or not layout.open or layout.writing:
                return False
            layout.open = False
            stride = layout.stride
        if len(parts) != len(stored) or [p.number for p in parts] != list(range(1, len(parts) + 1)):
            return False
        return all(
            p.file.name == ASSEMBLY and p.start == (p.number - 1) * stride and (p.size == stride or p is parts[-1])
            for p in parts
        )

    def _join(self, parts: list[PartInfo], joined: Path) -> None:
        with open(joined, "xb") as out:
            for part in parts:
                with open(part.file, "rb") as source:
                    copy_file(source, out, part.size, part.start)
            out.flush()
            os.fsync(out.fileno())

    def _forget(self, upload_id: str) -> None:
        """The upload is gone: its directory and what this process knew of it."""
        shutil.rmtree(self.store.root / "uploads" / upload_id, ignore_errors=True)
        with self._lock:
            self._layouts.pop(upload_id, None)

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        with self.store.transaction() as conn:
            self._upload(conn, bucket, key, upload_id)
            conn.execute(delete(index.parts).where(index.parts.c.upload_id == upload_id))
            conn.execute(delete(index.uploads).where(index.uploads.c.upload_id == upload_id))
        self._forget(upload_id)


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


def _sync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _upload_of(row: Any) -> Upload:
    return Upload(row.upload_id, row.bucket, row.key, row.initiated, ObjectMeta.from_json(json.loads(row.meta)))
