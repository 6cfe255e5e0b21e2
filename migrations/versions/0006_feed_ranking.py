"""feed ranking: a user's newest comments, for the ranked feed's interacted authors

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_comments_author_created", "comments", ["author_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_comments_author_created", table_name="comments")
