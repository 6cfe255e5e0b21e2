"""cameo revoked from: cameos.revoked_from, the status a cameo had when it was revoked, so granting
the appeal of a moderation revocation puts it back there (a cameo still waiting for review goes
back to review, not to active)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 21:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("cameos", sa.Column("revoked_from", sa.String(length=24), nullable=True))


def downgrade() -> None:
    op.drop_column("cameos", "revoked_from")
