"""deferred jobs replay index: outbox rows now stay until their job has run, so the table holds every
durable job in flight, and the replay's poll (every 2 s per worker) finds the due ones by index

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 18:00:00.000000
"""

from collections.abc import Sequence

from alembic import op


revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_deferred_jobs_replay_after"), "deferred_jobs", ["replay_after"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_deferred_jobs_replay_after"), table_name="deferred_jobs")
