"""follows version: users.follows_version, moved by every follow and unfollow the user makes, so the
feed tells that someone's follows changed from their users row instead of a query on every page

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column("users", sa.Column("follows_version", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    op.drop_column("users", "follows_version")
