"""checkin and export retention: the indexes with which the retention jobs find the oldest rows to
delete, a batch at a time, without reading whole tables: wellbeing check-ins by their age (the
existing index leads with the user), and expired or failed data exports by when they ended
(`coalesce(expires_at, completed_at, created_at)`, only over those two statuses)

Built as the other indexes are, not CONCURRENTLY: every migration runs in the one transaction that
holds the migration lock (`pg_advisory_xact_lock`), where that cannot run. Each reads its table once,
and writes to it wait meanwhile (README, upgrade notes).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-12 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_feed_checkins_created_at", "feed_checkins", ["created_at"], unique=False)
    op.create_index(
        "ix_data_exports_ended",
        "data_exports",
        [sa.text("coalesce(expires_at, completed_at, created_at)")],
        unique=False,
        postgresql_where=sa.text("status IN ('expired', 'failed')"),
    )


def downgrade() -> None:
    op.drop_index("ix_data_exports_ended", table_name="data_exports")
    op.drop_index("ix_feed_checkins_created_at", table_name="feed_checkins")
