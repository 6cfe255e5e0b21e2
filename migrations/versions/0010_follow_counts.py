"""follow counts: users.follower_count and users.following_count, kept with the follows instead of
counted on every profile read

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The counts are taken once, here: follows made meanwhile by API processes still running the code
# before this migration are not counted, so upgrade past it with the old processes stopped.
def upgrade() -> None:
    op.add_column("users", sa.Column("follower_count", sa.Integer(), server_default="0", nullable=False))
    op.add_column("users", sa.Column("following_count", sa.Integer(), server_default="0", nullable=False))
    op.execute(
        """
        UPDATE users SET follower_count = counted.n
        FROM (SELECT followee_id, count(*) AS n FROM follows GROUP BY followee_id) AS counted
        WHERE users.id = counted.followee_id
        """
    )
    op.execute(
        """
        UPDATE users SET following_count = counted.n
        FROM (SELECT follower_id, count(*) AS n FROM follows GROUP BY follower_id) AS counted
        WHERE users.id = counted.follower_id
        """
    )
    op.create_check_constraint(op.f("ck_users_follower_count_not_negative"), "users", "follower_count >= 0")
    op.create_check_constraint(op.f("ck_users_following_count_not_negative"), "users", "following_count >= 0")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_users_following_count_not_negative"), "users", type_="check")
    op.drop_constraint(op.f("ck_users_follower_count_not_negative"), "users", type_="check")
    op.drop_column("users", "following_count")
    op.drop_column("users", "follower_count")
