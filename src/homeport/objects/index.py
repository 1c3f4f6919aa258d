"""The object store's index: one SQLite database of buckets, objects, multipart uploads and their parts.

An object's row holds its key, size, ETag, metadata (JSON) and either the name of its data file or, for an
object of at most `local.INLINE_MAX` bytes, its bytes (`data`). A part's row names the file holding its bytes
and where in that file they `start`. The statements every GET, HEAD and PUT runs are built here once. `open_index`
creates the tables, and upgrades an index made before small objects were inline or parts had a `start`.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import (
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    bindparam,
    insert,
    select,
    update,
)

from homeport.store.sqlite import SqliteFile

metadata = MetaData()
buckets = Table("buckets", metadata, Column("name", String(63), primary_key=True), Column("created", Float))
objects = Table(
    "objects",
    metadata,
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
uploads = Table(
    "uploads",
    metadata,
    Column("upload_id", String(64), primary_key=True),
    Column("bucket", String(63), nullable=False, index=True),
    Column("key", Text, nullable=False),
    Column("initiated", Float, nullable=False),
    Column("meta", Text, nullable=False),
)
parts = Table(
    "parts",
    metadata,
    Column("upload_id", String(64), nullable=False),
    Column("number", Integer, nullable=False),
    Column("size", Integer, nullable=False),
    Column("etag", String(64), nullable=False),
    Column("last_modified", Float, nullable=False),
    Column("checksums", Text, nullable=False),
    Column("file", Text, nullable=False),  # under `uploads/`: the part's own file, or the upload's assembly file
    Column("start", Integer, nullable=False, server_default="0"),  # where the part's bytes begin in `file`
    PrimaryKeyConstraint("upload_id", "number"),
)

# The statements every GET, HEAD and PUT runs, built once: building a SQLAlchemy statement costs more than
# running it on SQLite.
o = objects.c
BUCKET = select(buckets.c.name).where(buckets.c.name == bindparam("b_bucket"))
OBJECT = select(objects).where(o.bucket == bindparam("b_bucket"), o.key == bindparam("b_key"))
BUCKET_AND_FILE = select(  # one statement: does the bucket exist, and the file and ETag of the key's object, if any
    BUCKET.scalar_subquery().label("bucket"),
    select(o.file)
    .where(o.bucket == bindparam("b_bucket"), o.key == bindparam("b_key"))
    .scalar_subquery()
    .label("file"),
    select(o.etag)
    .where(o.bucket == bindparam("b_bucket"), o.key == bindparam("b_key"))
    .scalar_subquery()
    .label("etag"),
)
LISTED = select(o.key, o.size, o.etag, o.last_modified)  # what a listing shows of each object
INSERT_OBJECT = insert(objects)
UPDATE_OBJECT = update(objects).where(o.bucket == bindparam("b_bucket"), o.key == bindparam("b_key"))


def open_index(path: Path, *, durable: bool = True) -> SqliteFile:
    index = SqliteFile(f"sqlite:///{path}", durable=durable)
    metadata.create_all(index.writer)
    with index.writing() as conn:  # an index made before small objects were inline, or parts written in place
        columns = {row[1] for row in conn.exec_driver_sql("PRAGMA table_info(objects)")}
        if "data" not in columns:
            conn.exec_driver_sql("ALTER TABLE objects ADD COLUMN data BLOB")
        if "start" not in {row[1] for row in conn.exec_driver_sql("PRAGMA table_info(parts)")}:
            conn.exec_driver_sql("ALTER TABLE parts ADD COLUMN start INTEGER NOT NULL DEFAULT 0")
    return index
