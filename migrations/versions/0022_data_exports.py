"""data exports: one row per personal data export a user asked for (GDPR access and portability),
its status, and the archive in media storage while it is ready

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-09 09:00:00.000000
"""

from collections.abc import Sequence

import advanced_alchemy
import sqlalchemy as sa
from alembic import op


revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_exports",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("user_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("archive_key", sa.String(length=255), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("completed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'ready', 'failed', 'expired')", name=op.f("ck_data_exports_status_known")
        ),
        sa.CheckConstraint(
            "(status = 'ready') = (archive_key IS NOT NULL)",
            name=op.f("ck_data_exports_archive_only_when_ready"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_data_exports_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_exports")),
    )
    op.create_index(
        "uq_data_exports_user_pending",
        "data_exports",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_data_exports_user_created", "data_exports", ["user_id", "created_at", "id"], unique=False
    )
    op.create_index(
        "ix_data_exports_pending",
        "data_exports",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_data_exports_ready_expiry",
        "data_exports",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'ready'"),
    )


def downgrade() -> None:
    op.drop_index("ix_data_exports_ready_expiry", table_name="data_exports")
    op.drop_index("ix_data_exports_pending", table_name="data_exports")
    op.drop_index("ix_data_exports_user_created", table_name="data_exports")
    op.drop_index("uq_data_exports_user_pending", table_name="data_exports")
    op.drop_table("data_exports")
