"""listed counts: users.post_count and videos.remix_count count published, public videos only (an
unlisted one stays out of every list, so out of the counts); counted again once, here

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 23:00:00.000000
"""

from collections.abc import Sequence

from alembic import op


revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _recount(counted: str) -> None:
    """Set every user's post_count and every video's remix_count to the number of videos matching
    `counted`, writing only the rows whose count changes."""
    op.execute(
        f"""
        UPDATE users SET post_count = counted.n
        FROM (
            SELECT users.id, count(videos.id) AS n
            FROM users LEFT JOIN videos ON videos.author_id = users.id AND {counted}
            GROUP BY users.id
        ) AS counted
        WHERE users.id = counted.id AND users.post_count <> counted.n
        """
    )
    op.execute(
        f"""
        UPDATE videos SET remix_count = counted.n
        FROM (
            SELECT parents.id, count(videos.id) AS n
            FROM videos AS parents LEFT JOIN videos ON videos.remix_of_id = parents.id AND {counted}
            GROUP BY parents.id
        ) AS counted
        WHERE videos.id = counted.id AND videos.remix_count <> counted.n
        """
    )


# Like 0010, the counts are taken once: upgrade with the API processes of the older code stopped,
# or their publications and visibility changes meanwhile move the counts by the older rule.
def upgrade() -> None:
    _recount("videos.status = 'published' AND videos.visibility = 'public' AND videos.deleted_at IS NULL")


def downgrade() -> None:
    _recount("videos.status = 'published' AND videos.deleted_at IS NULL")
