"""idempotency keys: the foreign key to the user checked at COMMIT (DEFERRABLE INITIALLY DEFERRED)

Checked when a claim's record was inserted, its key-share lock on the users row was the request's
first lock, taken before the video or cameo the request then locked; the account's deletion takes
those first and the users row last, so the two deadlocked (`app.idempotency`). A change of the
constraint's timing only: no row is read or checked, and claims wait only for the catalog update
(README, upgrade notes).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-13 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op


revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE idempotency_keys ALTER CONSTRAINT fk_idempotency_keys_user_id_users "
        "DEFERRABLE INITIALLY DEFERRED"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE idempotency_keys ALTER CONSTRAINT fk_idempotency_keys_user_id_users "
        "NOT DEFERRABLE INITIALLY IMMEDIATE"
    )
