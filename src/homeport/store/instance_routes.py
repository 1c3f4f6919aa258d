"""The leader's healthy instances, where front doors that do not run them (followers) read their routes from.

The leader rewrites the table whenever the set changes (an instance became healthy, failed or stopped); a
follower joins it with the endpoints' documents to build the same route table the leader's router holds.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Column, Connection, String, Table, Text, delete, select

from homeport.store.db import metadata

instance_routes = Table(
    "instance_routes",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("endpoint", String(63), nullable=False),
    Column("config", String(63), nullable=False),
    Column("variant", String(63), nullable=False),
    Column("address", Text, nullable=False),  # unix:/path/to/socket or tcp://SECRET@HOST:PORT (runtime/address.py)
    Column("zone", String(64), nullable=False),
)


@dataclass(frozen=True)
class InstanceRoute:
    id: str
    endpoint: str
    config: str
    variant: str
    address: str
    zone: str


def replace(conn: Connection, routes: Collection[InstanceRoute]) -> None:
    conn.execute(delete(instance_routes))
    if routes:
        conn.execute(instance_routes.insert(), [vars(r) for r in routes])


def read(conn: Connection) -> list[InstanceRoute]:
    return [InstanceRoute(**row) for row in conn.execute(select(instance_routes)).mappings()]
