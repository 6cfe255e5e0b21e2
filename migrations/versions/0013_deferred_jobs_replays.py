"""deferred jobs replays: outbox rows now stay until their job has run, so the table holds every
durable job in flight; the replay's poll (every 2 s per worker) finds the due ones by index, and
counts how often it enqueued each (deferred_jobs.replays) to give up on one that never completes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deferred_jobs", sa.Column("replays", sa.Integer(), server_default="0", nullable=False))
    op.create_index(op.f("ix_deferred_jobs_replay_after"), "deferred_jobs", ["replay_after"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_deferred_jobs_replay_after"), table_name="deferred_jobs")
    op.drop_column("deferred_jobs", "replays")
