"""The metadata store: SQLite in the data directory by default, or PostgreSQL (`HOMEPORT_DATABASE_URL`), its
schema kept by the migrations in `migrations/`.

Each resource is kept as the document SageMaker's Describe call returns, beside the columns that lists
filter and sort on. One write is one transaction, so a refused request leaves nothing behind.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Float,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    create_engine,
    func,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError

from homeport.errors import ConfigurationError
from homeport.store import migrations
from homeport.store.sqlite import SqliteFile

metadata = MetaData()


class Kind(StrEnum):
    MODEL = "models"
    ENDPOINT_CONFIG = "endpoint_configs"
    ENDPOINT = "endpoints"
    TRANSFORM_JOB = "transform_jobs"
    TRAINING_JOB = "training_jobs"
    PROCESSING_JOB = "processing_jobs"
    INFERENCE_EXPERIMENT = "inference_experiments"
    DATA_QUALITY_JOB_DEFINITION = "data_quality_job_definitions"
    MODEL_QUALITY_JOB_DEFINITION = "model_quality_job_definitions"
    MONITORING_SCHEDULE = "monitoring_schedules"
    MONITORING_EXECUTION = "monitoring_executions"  # named and keyed by its processing job
    MODEL_PACKAGE_GROUP = "model_package_groups"
    MODEL_PACKAGE = "model_packages"  # keyed by its ARN's resource part: `group/version` (lower case), or its name


def _resource_table(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("name", String(128), primary_key=True),
        Column("arn", String(512), nullable=False, unique=True),
        Column("status", String(32)),
        Column("creation_time", Float, nullable=False, index=True),
        Column("last_modified_time", Float, nullable=False),
        Column("doc", Text, nullable=False),
    )


TABLES = {kind: _resource_table(kind.value) for kind in Kind}

tags = Table(
    "tags",
    metadata,
    Column("arn", String(512), nullable=False),
    Column("key", String(128), nullable=False),
    Column("value", String(256), nullable=False),
    PrimaryKeyConstraint("arn", "key"),
)


class Duplicate(Exception):
    """A resource of that name exists already."""


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_token: str | None


@dataclass(frozen=True)
class ListQuery:
    name_contains: str | None = None
    status: str | None = None
    created_after: float | None = None
    created_before: float | None = None
    modified_after: float | None = None
    modified_before: float | None = None
    sort_by: str = "CreationTime"  # Name | CreationTime | Status
    sort_order: str = "Descending"
    max_results: int = 100
    next_token: str | None = None


class BadToken(ValueError):
    pass


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_token(token: str) -> int:
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadToken(token) from exc
    if not isinstance(offset, int) or offset < 0:
        raise BadToken(token)
    return offset


WRITE_LOCK = 0x686F6D65  # PostgreSQL: the advisory lock every writing transaction holds ("home")


class Store:
    def __init__(self, url: str, *, durable: bool = True) -> None:
        self.file = SqliteFile(url, durable=durable) if url.startswith("sqlite") else None
        try:
            self.engine = self.file.writer if self.file else create_engine(url, pool_pre_ping=True)
        except ModuleNotFoundError as exc:
            raise ConfigurationError(
                f"The database URL needs the {exc.name} module: pip install 'homeport[postgres]'."
            ) from None
        except ArgumentError:
            raise ConfigurationError(
                f"{url!r} is not a database URL: give sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DB."
            ) from None
        try:
            with self.transaction() as conn:
                migrations.upgrade(conn)
        except OperationalError as exc:
            self.close()
            shown = make_url(url).render_as_string(hide_password=True)
            raise ConfigurationError(f"Cannot open the database {shown}: {exc.orig}".strip()) from None

    def close(self) -> None:
        if self.file:
            self.file.dispose()
        else:
            self.engine.dispose()

    @contextmanager
    def transaction(self, *, relaxed: bool = False) -> Iterator[Connection]:
        """A transaction that may write: serializable with every other one (SQLite: it holds the write lock).
        Its commit is durable, unless `relaxed`: only for work a power loss may repeat (see `sqlite`)."""
        if self.file is None:
            # One writer at a time, as with SQLite: the services check-then-write (a name free, a limit not
            # reached) and rely on no other write coming between. Readers do not wait for it.
            with self.engine.begin() as conn:
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
                yield conn
        else:
            with self.file.writing(synced=not relaxed) as conn:
                yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read-only transaction: one snapshot, never waiting for writers."""
        if self.file is None:
            with self.engine.begin() as conn:
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield conn
        else:
            with self.file.reading() as conn:
                yield conn

    # --- resources ---------------------------------------------------------------------------

    def insert(
        self, conn: Connection, kind: Kind, doc: dict[str, Any], *, name: str, arn: str, status: str | None = None
    ) -> None:
        table = TABLES[kind]
        if conn.execute(select(table.c.name).where(table.c.name == name)).first() is not None:
            raise Duplicate(name)
        try:
            conn.execute(
                table.insert().values(
                    name=name,
                    arn=arn,
                    status=status,
                    creation_time=doc["CreationTime"],
                    last_modified_time=doc.get("LastModifiedTime", doc["CreationTime"]),
                    doc=json.dumps(doc),
                )
            )
        except IntegrityError as exc:  # a concurrent create won the race
            raise Duplicate(name) from exc

    def replace(self, conn: Connection, kind: Kind, name: str, doc: dict[str, Any], status: str | None = None) -> None:
        table = TABLES[kind]
        conn.execute(
            table.update()
            .where(table.c.name == name)
            .values(
                status=status,
                last_modified_time=doc.get("LastModifiedTime", doc["CreationTime"]),
                doc=json.dumps(doc),
            )
        )

    def get(self, conn: Connection, kind: Kind, name: str) -> dict[str, Any] | None:
        table = TABLES[kind]
        row = conn.execute(select(table.c.doc).where(table.c.name == name)).first()
        return json.loads(row[0]) if row else None

    def delete(self, conn: Connection, kind: Kind, name: str) -> bool:
        table = TABLES[kind]
        arn = conn.execute(select(table.c.arn).where(table.c.name == name)).scalar()
        if arn is None:
            return False
        conn.execute(table.delete().where(table.c.name == name))
        conn.execute(tags.delete().where(tags.c.arn == arn))
        return True

    def count(self, conn: Connection, kind: Kind) -> int:
        return int(conn.execute(select(func.count()).select_from(TABLES[kind])).scalar_one())

    def all(self, conn: Connection, kind: Kind) -> list[dict[str, Any]]:
        table = TABLES[kind]
        return [json.loads(doc) for (doc,) in conn.execute(select(table.c.doc).order_by(table.c.creation_time))]

    def with_status(self, conn: Connection, kind: Kind, statuses: list[str]) -> list[dict[str, Any]]:
        table = TABLES[kind]
        query = select(table.c.doc).where(table.c.status.in_(statuses)).order_by(table.c.creation_time)
        return [json.loads(doc) for (doc,) in conn.execute(query)]

    def page(self, conn: Connection, kind: Kind, query: ListQuery) -> Page:
        table = TABLES[kind]
        stmt = select(table.c.doc)
        if query.name_contains:
            # Case-insensitive, as SageMaker's NameContains is.
            stmt = stmt.where(func.lower(table.c.name).contains(query.name_contains.lower(), autoescape=True))
        if query.status:
            stmt = stmt.where(table.c.status == query.status)
        if query.created_after is not None:
            stmt = stmt.where(table.c.creation_time > query.created_after)
        if query.created_before is not None:
            stmt = stmt.where(table.c.creation_time < query.created_before)
        if query.modified_after is not None:
            stmt = stmt.where(table.c.last_modified_time > query.modified_after)
        if query.modified_before is not None:
            stmt = stmt.where(table.c.last_modified_time < query.modified_before)
        column = {"Name": table.c.name, "Status": table.c.status}.get(query.sort_by, table.c.creation_time)
        ordered = column.asc() if query.sort_order == "Ascending" else column.desc()
        offset = decode_token(query.next_token) if query.next_token else 0
        stmt = stmt.order_by(ordered, table.c.name.asc()).offset(offset).limit(query.max_results + 1)
        docs = [json.loads(doc) for (doc,) in conn.execute(stmt)]
        more = len(docs) > query.max_results
        token = encode_token(offset + query.max_results) if more else None
        return Page(docs[: query.max_results], token)

    # --- tags ----------------------------------------------------------------------------------

    def arn_exists(self, conn: Connection, arn: str) -> bool:
        return any(conn.execute(select(t.c.name).where(t.c.arn == arn)).first() is not None for t in TABLES.values())

    def put_tags(self, conn: Connection, arn: str, pairs: list[dict[str, str]]) -> None:
        for pair in pairs:
            conn.execute(tags.delete().where(tags.c.arn == arn, tags.c.key == pair["Key"]))
            conn.execute(tags.insert().values(arn=arn, key=pair["Key"], value=pair.get("Value", "")))

    def remove_tags(self, conn: Connection, arn: str, keys: list[str]) -> None:
        conn.execute(tags.delete().where(tags.c.arn == arn, tags.c.key.in_(keys)))

    def get_tags(self, conn: Connection, arn: str) -> list[dict[str, str]]:
        rows = conn.execute(select(tags.c.key, tags.c.value).where(tags.c.arn == arn).order_by(tags.c.key))
        return [{"Key": k, "Value": v} for k, v in rows]
