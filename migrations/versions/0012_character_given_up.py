"""character given up: cameos.provider_character_given_up_at, so the sweep that finds cameo
registrations lost with a flushed Redis does not ask the provider again for one it refused

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 14:15:00.000000
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op


revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "cameos",
        sa.Column(
            "provider_character_given_up_at",
            advanced_alchemy.types.DateTimeUTC(timezone=True),
            nullable=True,
        ),
    )


def downgrade() -> None:
    op.drop_column("cameos", "provider_character_given_up_at")
