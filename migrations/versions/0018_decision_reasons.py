"""decision reasons: the statement of reasons of a moderation decision against a user, the rule
broken (`reason`, a report reason) and what the user is told of it (`statement`), on the decision
and on its audit log entry; null on earlier decisions and on the actions that act against nobody

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REASONS = (
    "('harassment', 'sexual', 'violence', 'hate', 'self_harm', 'spam', 'likeness', 'minor_safety', 'other')"
)


def upgrade() -> None:
    # Nullable columns without a default: adding them rewrites no row, so the audit log's trigger
    # (which refuses UPDATE) is never asked, and no table is held for long.
    for table in ("moderation_decisions", "moderation_audit_log"):
        op.add_column(table, sa.Column("reason", sa.String(length=32), nullable=True))
        op.add_column(table, sa.Column("statement", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_moderation_decisions_reason_known"),
        "moderation_decisions",
        f"reason IS NULL OR reason IN {_REASONS}",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_moderation_decisions_reason_known"), "moderation_decisions", type_="check")
    for table in ("moderation_audit_log", "moderation_decisions"):
        op.drop_column(table, "statement")
        op.drop_column(table, "reason")
