"""Multipart uploads of the embedded object store: parts written aside, then joined into one object.

An upload and its parts are rows of the store's index (`index.uploads`, `index.parts`); a part's bytes are a file
under `uploads/<upload-id>/`, written through a `Writer` and renamed into place before its row is written, so a
part is whole or absent. `complete_upload` joins the chosen parts into one new file and publishes it as any
other object is published (`LocalObjectStore.publish`): the object appears whole or not at all.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, insert, select

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


@dataclass(frozen=True)
class Upload:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    meta: ObjectMeta


class MultipartUploads:
    """CreateMultipartUpload, UploadPart, ListParts, ListMultipartUploads, Complete… and Abort… on `store`."""

    def __init__(self, store: LocalObjectStore) -> None:
        self.store = store

    def create_upload(self, bucket: str, key: str, meta: ObjectMeta) -> Upload:
        check_key(key)
        upload_id = base64.urlsafe_b64encode(secrets.token_bytes(33)).decode()
        now = self.store.clock.now()
        with self.store.transaction() as conn:
            self.store.require_bucket(conn, bucket)
            conn.execute(
                insert(index.uploads).values(
                    upload_id=upload_id, bucket=bucket, key=key, initiated=now, meta=json.dumps(meta.to_json())
                )
            )
        self.store.make_dir(self.store.root / "uploads" / upload_id)
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

    def part_writer(self, bucket: str, key: str, upload_id: str) -> Writer:
        self.upload(bucket, key, upload_id)
        return Writer(self.store.root / "tmp" / uuid.uuid4().hex)

    def commit_part(
        self, writer: Writer, bucket: str, key: str, upload_id: str, number: int, checksums: dict[str, str]
    ) -> PartInfo:
        writer.finish()
        relative = f"{upload_id}/{number}.{uuid.uuid4().hex}"
        target = self.store.root / "uploads" / relative
        try:
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
                    )
                )
        except BaseException:
            writer.path.unlink(missing_ok=True)
            target.unlink(missing_ok=True)
            raise
        if old is not None:
            (self.store.root / "uploads" / old.file).unlink(missing_ok=True)
        return PartInfo(number, writer.size, writer.etag, now, checksums, target)

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
        try:  # the kernel copies the parts (no hashing: the ETag comes from the parts' MD5s)
            with open(joined, "xb") as out:
                for part in parts:
                    with open(part.file, "rb") as source:
                        copy_file(source, out, part.size)
                out.flush()
                os.fsync(out.fileno())
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
        shutil.rmtree(self.store.root / "uploads" / upload_id, ignore_errors=True)
        return info

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        with self.store.transaction() as conn:
            self._upload(conn, bucket, key, upload_id)
            conn.execute(delete(index.parts).where(index.parts.c.upload_id == upload_id))
            conn.execute(delete(index.uploads).where(index.uploads.c.upload_id == upload_id))
        shutil.rmtree(self.store.root / "uploads" / upload_id, ignore_errors=True)


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
