"""job outbox: deferred_jobs rows written in the transaction that promises the job, replayed after a
grace unless the request settled them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 05:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import advanced_alchemy.types
from alembic import op


revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "deferred_jobs",
        sa.Column(
            "replay_after",
            advanced_alchemy.types.datetime.DateTimeUTC(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("deferred_jobs", "replay_after")
