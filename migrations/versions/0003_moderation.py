"""moderation

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 08:08:58.910866
"""

from collections.abc import Sequence

import sqlalchemy as sa
import advanced_alchemy.types
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('moderation_audit_log',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('moderator_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('decision_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('item_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('note', sa.Text(), server_default='', nullable=False),
    sa.Column('subject', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_audit_log'))
    )
    op.create_index('ix_moderation_audit_log_created', 'moderation_audit_log', ['created_at', 'id'], unique=False)
    op.create_table('moderation_items',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('queue', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('target_type', sa.String(length=16), nullable=False),
    sa.Column('target_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('subject_user_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('snapshot', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('priority', sa.Integer(), server_default='0', nullable=False),
    sa.Column('report_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('escalated', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('lease_holder_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('lease_expires_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('claimed_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('closed_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint("(status = 'claimed') = (lease_holder_id IS NOT NULL)", name=op.f('ck_moderation_items_lease_only_when_claimed')),
    sa.CheckConstraint("queue IN ('reports', 'takedowns', 'cameo_verification', 'appeals', 'automated')", name=op.f('ck_moderation_items_queue_known')),
    sa.CheckConstraint("status IN ('open', 'claimed', 'closed')", name=op.f('ck_moderation_items_status_known')),
    sa.CheckConstraint("target_type IN ('video', 'comment', 'user', 'cameo', 'decision')", name=op.f('ck_moderation_items_target_type_known')),
    sa.ForeignKeyConstraint(['lease_holder_id'], ['users.id'], name=op.f('fk_moderation_items_lease_holder_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['subject_user_id'], ['users.id'], name=op.f('fk_moderation_items_subject_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_items'))
    )
    op.create_index('ix_moderation_items_claimable', 'moderation_items', ['queue', sa.literal_column('priority DESC'), 'created_at'], unique=False, postgresql_where=sa.text("status <> 'closed'"))
    op.create_index('uq_moderation_items_open_target', 'moderation_items', ['queue', 'target_type', 'target_id'], unique=True, postgresql_where=sa.text("status <> 'closed'"))
    op.create_table('moderation_decisions',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('item_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('moderator_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('note', sa.Text(), server_default='', nullable=False),
    sa.Column('duration_hours', sa.Integer(), nullable=True),
    sa.Column('affected_user_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint("action IN ('dismiss', 'remove_content', 'restore_content', 'warn_user', 'suspend_user', 'approve_cameo', 'reject_cameo', 'escalate')", name=op.f('ck_moderation_decisions_action_known')),
    sa.ForeignKeyConstraint(['affected_user_id'], ['users.id'], name=op.f('fk_moderation_decisions_affected_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['item_id'], ['moderation_items.id'], name=op.f('fk_moderation_decisions_item_id_moderation_items'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['moderator_id'], ['users.id'], name=op.f('fk_moderation_decisions_moderator_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_decisions'))
    )
    op.create_index(op.f('ix_moderation_decisions_affected_user_id'), 'moderation_decisions', ['affected_user_id'], unique=False)
    op.create_index(op.f('ix_moderation_decisions_item_id'), 'moderation_decisions', ['item_id'], unique=False)
    op.create_table('reports',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('reporter_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('item_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('target_type', sa.String(length=16), nullable=False),
    sa.Column('target_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('details', sa.Text(), server_default='', nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint("reason IN ('harassment', 'sexual', 'violence', 'hate', 'self_harm', 'spam', 'likeness', 'minor_safety', 'other', 'my_likeness', 'impersonation')", name=op.f('ck_reports_reason_known')),
    sa.CheckConstraint("target_type IN ('video', 'comment', 'user', 'cameo', 'decision')", name=op.f('ck_reports_target_type_known')),
    sa.ForeignKeyConstraint(['item_id'], ['moderation_items.id'], name=op.f('fk_reports_item_id_moderation_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reporter_id'], ['users.id'], name=op.f('fk_reports_reporter_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports'))
    )
    op.create_index(op.f('ix_reports_item_id'), 'reports', ['item_id'], unique=False)
    op.create_index('ix_reports_reporter_created', 'reports', ['reporter_id', 'created_at'], unique=False)
    op.create_table('moderation_appeals',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('decision_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('appellant_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('item_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('statement', sa.Text(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['appellant_id'], ['users.id'], name=op.f('fk_moderation_appeals_appellant_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decision_id'], ['moderation_decisions.id'], name=op.f('fk_moderation_appeals_decision_id_moderation_decisions'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['item_id'], ['moderation_items.id'], name=op.f('fk_moderation_appeals_item_id_moderation_items'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_appeals')),
    sa.UniqueConstraint('decision_id', name=op.f('uq_moderation_appeals_decision_id'))
    )
    op.add_column('users', sa.Column('suspended_until', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True))

    # The audit log is append-only: no decision record can be edited or erased afterwards.
    op.execute(
        "CREATE FUNCTION moderation_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'moderation_audit_log is append-only'; END $$"
    )
    op.execute(
        "CREATE TRIGGER moderation_audit_log_append_only BEFORE UPDATE OR DELETE ON moderation_audit_log "
        "FOR EACH ROW EXECUTE FUNCTION moderation_audit_log_append_only()"
    )

def downgrade() -> None:
    op.execute("DROP TRIGGER moderation_audit_log_append_only ON moderation_audit_log")
    op.execute("DROP FUNCTION moderation_audit_log_append_only()")
    op.drop_column('users', 'suspended_until')
    op.drop_table('moderation_appeals')
    op.drop_index('ix_reports_reporter_created', table_name='reports')
    op.drop_index(op.f('ix_reports_item_id'), table_name='reports')
    op.drop_table('reports')
    op.drop_index(op.f('ix_moderation_decisions_item_id'), table_name='moderation_decisions')
    op.drop_index(op.f('ix_moderation_decisions_affected_user_id'), table_name='moderation_decisions')
    op.drop_table('moderation_decisions')
    op.drop_index('uq_moderation_items_open_target', table_name='moderation_items', postgresql_where=sa.text("status <> 'closed'"))
    op.drop_index('ix_moderation_items_claimable', table_name='moderation_items', postgresql_where=sa.text("status <> 'closed'"))
    op.drop_table('moderation_items')
    op.drop_index('ix_moderation_audit_log_created', table_name='moderation_audit_log')
    op.drop_table('moderation_audit_log')
