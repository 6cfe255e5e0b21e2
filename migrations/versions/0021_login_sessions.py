"""login sessions: one row per login (a refresh-token family, its id the family's), for listing and
ending a user's devices and refusing the access tokens of a login that has ended; filled from the
refresh tokens already issued

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import advanced_alchemy
import sqlalchemy as sa
from alembic import op


revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_sessions",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("user_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("last_used_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("revoked_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_login_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_sessions")),
    )
    op.create_index(op.f("ix_login_sessions_user_id"), "login_sessions", ["user_id"], unique=False)
    # The logins made so far: logged in when the family's first token was issued, last used at its
    # newest, expiring with it; ended unless a token of it is neither rotated nor revoked. Their
    # devices were never recorded.
    op.execute(
        """
        INSERT INTO login_sessions
            (id, user_id, device, last_used_at, expires_at, revoked_at, created_at, updated_at)
        SELECT family_id, user_id, 'Unknown device', max(created_at), max(expires_at),
               CASE WHEN bool_or(revoked_at IS NULL AND rotated_at IS NULL) THEN NULL
                    ELSE coalesce(max(revoked_at), max(created_at)) END,
               min(created_at), now()
        FROM refresh_tokens
        GROUP BY family_id, user_id
        """
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_login_sessions_user_id"), table_name="login_sessions")
    op.drop_table("login_sessions")
