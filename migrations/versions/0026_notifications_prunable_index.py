"""notifications prunable index: the retention job's age index leaves out the kinds it keeps

`ix_notifications_created_at` (0023) held every notification, so each batch of
`retention.notifications`, walking it oldest first, stepped over every `moderation_decision` older
than the retention (kept whatever its age) before it reached one it could delete: a cost that grew
with every decision ever made, paid by every batch. The partial index
`ix_notifications_prunable_created_at` holds only the kinds the job deletes; the job's condition
names the kept kinds as literals (`kind NOT IN ('moderation_decision')`), so that PostgreSQL proves
the predicate from it in a generic plan too. Nothing else reads the old index (the lists go by
`ix_notifications_user_created`, the retractions by id, video or actor), so it is dropped.

Built as the other indexes are, not CONCURRENTLY: every migration runs in the one transaction that
holds the migration lock (`pg_advisory_xact_lock`), where that cannot run; and a build that waits for
older snapshots would wait for the processes queued on that lock, which wait for it. It reads the
`notifications` table once, and notification writes wait meanwhile (README, upgrade notes).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-14 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_notifications_prunable_created_at",
        "notifications",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("kind <> 'moderation_decision'"),
    )
    op.drop_index("ix_notifications_created_at", table_name="notifications")


def downgrade() -> None:
    op.create_index("ix_notifications_created_at", "notifications", ["created_at"], unique=False)
    op.drop_index("ix_notifications_prunable_created_at", table_name="notifications")
