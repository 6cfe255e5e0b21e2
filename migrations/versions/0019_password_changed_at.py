"""password changed at: when the user last changed their password; access tokens issued before it
stop working (null: never changed)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 08:00:00.000000
"""

from collections.abc import Sequence

import advanced_alchemy
import sqlalchemy as sa
from alembic import op


revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable without a default: no row is rewritten.
    op.add_column(
        "users",
        sa.Column(
            "password_changed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True
        ),
    )


def downgrade() -> None:
    op.drop_column("users", "password_changed_at")
