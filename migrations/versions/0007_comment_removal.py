"""comment removal

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 10:43:11.042298
"""

from collections.abc import Sequence

import sqlalchemy as sa
import advanced_alchemy.types
from alembic import op


revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "comments",
        sa.Column("removed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("comments", "removed_at")
