"""account deletion: `users.deleted_at` marks a tombstone (the account deleted by its owner, the
row kept so moderation history keeps pointing at it and the username stays reserved), and
`users.purged_at` when the background purge of what it left behind has finished; the partial
index is what the sweep re-running unfinished purges scans, and what reads scan to leave out the
follows of deleted accounts not yet ended by their purge; `ix_notifications_actor_id` finds the
notifications naming a deleted account, which its purge deletes

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_users_purge_pending",
        "users",
        ["deleted_at"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NOT NULL AND purged_at IS NULL"),
    )
    op.create_index("ix_notifications_actor_id", "notifications", ["actor_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_notifications_actor_id", table_name="notifications")
    op.drop_index(
        "ix_users_purge_pending",
        table_name="users",
        postgresql_where=sa.text("deleted_at IS NOT NULL AND purged_at IS NULL"),
    )
    op.drop_column("users", "purged_at")
    op.drop_column("users", "deleted_at")
