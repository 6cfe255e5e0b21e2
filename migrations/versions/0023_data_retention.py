"""data retention: the indexes with which the retention jobs find the oldest rows to delete, a
batch at a time, without reading whole tables: idempotency records and notifications by their
age, logins by when they ended (`least(revoked_at, expires_at)`: LEAST leaves out a NULL), refresh
tokens by their expiry

Built as the other indexes are, not CONCURRENTLY: every migration runs in the one transaction that
holds the migration lock (`pg_advisory_xact_lock`), where that cannot run. Each reads its table once,
and writes to it wait meanwhile (README, upgrade notes).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-10 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"], unique=False)
    op.create_index("ix_notifications_created_at", "notifications", ["created_at"], unique=False)
    op.create_index(
        "ix_login_sessions_ended_at", "login_sessions", [sa.text("least(revoked_at, expires_at)")], unique=False
    )
    op.create_index("ix_refresh_tokens_expires_at", "refresh_tokens", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_refresh_tokens_expires_at", table_name="refresh_tokens")
    op.drop_index("ix_login_sessions_ended_at", table_name="login_sessions")
    op.drop_index("ix_notifications_created_at", table_name="notifications")
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
