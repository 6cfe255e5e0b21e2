"""notifications video index: the notifications about a video (`data ->> 'video_id'`), which its
deletion or removal retracts across every recipient, found without reading the whole table

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_notifications_video_id",
        "notifications",
        [sa.literal_column("(data ->> 'video_id')")],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_video_id", table_name="notifications")
