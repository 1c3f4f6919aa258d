"""Async request owners: the front door whose claim a running request is.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("async_requests") as batch:
        batch.add_column(sa.Column("owner", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("async_requests") as batch:
        batch.drop_column("owner")
