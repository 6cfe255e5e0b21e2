"""feed teen days: a teen's count of feed videos for each UTC day, kept in PostgreSQL as well as in
Redis, so that a Redis that loses its data (a flush, a failover without persistence) does not give
a teen a second daily cap that day (`feed.pacing`)

One small row per teen and day they used the feed, keyed by both; `ix_feed_teen_days_day` is how
`retention.feed_teen_days` finds the rows of past days, a batch at a time. A new, empty table:
nothing existing is read or rewritten.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-15 09:00:00.000000
"""

from collections.abc import Sequence

import advanced_alchemy
import sqlalchemy as sa
from alembic import op


revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feed_teen_days",
        sa.Column("user_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("served", sa.Integer(), nullable=False),
        sa.CheckConstraint("served >= 0", name=op.f("ck_feed_teen_days_served_not_negative")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_feed_teen_days_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_feed_teen_days")),
    )
    op.create_index("ix_feed_teen_days_day", "feed_teen_days", ["day"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_feed_teen_days_day", table_name="feed_teen_days")
    op.drop_table("feed_teen_days")
