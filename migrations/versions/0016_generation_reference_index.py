"""generation reference index: generations still pointing at a reference image, found by the sweep
that deletes the images of ended generations (`generation.sweep_references`); it releases those
of the generations that ended before this version, over its first runs

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_generations_input_reference",
        "generations",
        ["id"],
        unique=False,
        postgresql_where=sa.text("input_reference_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_generations_input_reference",
        table_name="generations",
        postgresql_where=sa.text("input_reference_key IS NOT NULL"),
    )
