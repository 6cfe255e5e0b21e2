"""cameos

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 09:52:21.452949
"""

from collections.abc import Sequence

import sqlalchemy as sa
import advanced_alchemy.types
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('cameos',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('owner_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('permission', sa.String(length=16), nullable=False),
    sa.Column('preferences', sa.Text(), server_default='', nullable=False),
    sa.Column('restrictions', sa.Text(), server_default='', nullable=False),
    sa.Column('challenge_phrase', sa.String(length=16), nullable=False),
    sa.Column('challenge_head_turns', postgresql.ARRAY(sa.String(length=8)), nullable=False),
    sa.Column('challenge_expires_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('recording_key', sa.String(length=255), nullable=True),
    sa.Column('recording_content_type', sa.String(length=64), nullable=True),
    sa.Column('recording_seconds', sa.Float(), nullable=True),
    sa.Column('recording_bytes', sa.Integer(), nullable=True),
    sa.Column('recorded_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('recording_purge_after', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('recording_purged_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('reviewed_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('revoked_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.String(length=16), nullable=True),
    sa.Column('provider_character_id', sa.String(length=128), nullable=True),
    sa.Column('appearance_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint("permission IN ('only_me', 'approved', 'mutuals', 'everyone')", name=op.f('ck_cameos_permission_known')),
    sa.CheckConstraint("status IN ('awaiting_recording', 'pending_review', 'active', 'rejected', 'revoked')", name=op.f('ck_cameos_status_known')),
    sa.CheckConstraint('appearance_count >= 0', name=op.f('ck_cameos_appearance_count_not_negative')),
    sa.CheckConstraint('char_length(preferences) <= 1000', name=op.f('ck_cameos_preferences_length')),
    sa.CheckConstraint('char_length(restrictions) <= 1000', name=op.f('ck_cameos_restrictions_length')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_cameos_owner_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cameos'))
    )
    op.create_index(op.f('ix_cameos_owner_id'), 'cameos', ['owner_id'], unique=False)
    op.create_index('ix_cameos_recording_purge', 'cameos', ['recording_purge_after'], unique=False, postgresql_where=sa.text('recording_key IS NOT NULL AND recording_purge_after IS NOT NULL'))
    op.create_index('uq_cameos_owner_not_revoked', 'cameos', ['owner_id'], unique=True, postgresql_where=sa.text("status <> 'revoked'"))
    op.create_table('cameo_approvals',
    sa.Column('cameo_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('user_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['cameo_id'], ['cameos.id'], name=op.f('fk_cameo_approvals_cameo_id_cameos'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_cameo_approvals_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('cameo_id', 'user_id', name=op.f('pk_cameo_approvals'))
    )
    op.create_table('cameo_uses',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('cameo_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('caster_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('generation_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('video_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('event', sa.String(length=16), nullable=False),
    sa.Column('permission', sa.String(length=16), nullable=False),
    sa.Column('basis', sa.String(length=32), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint("event IN ('requested', 'submitted', 'refused', 'cancelled', 'appeared')", name=op.f('ck_cameo_uses_event_known')),
    sa.ForeignKeyConstraint(['cameo_id'], ['cameos.id'], name=op.f('fk_cameo_uses_cameo_id_cameos'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['caster_id'], ['users.id'], name=op.f('fk_cameo_uses_caster_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cameo_uses'))
    )
    op.create_index('ix_cameo_uses_cameo_created', 'cameo_uses', ['cameo_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_cameo_uses_generation', 'cameo_uses', ['generation_id'], unique=False)
    op.create_table('video_appearances',
    sa.Column('video_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('user_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('cameo_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_video_appearances_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['video_id'], ['videos.id'], name=op.f('fk_video_appearances_video_id_videos'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('video_id', 'user_id', name=op.f('pk_video_appearances'))
    )
    op.create_index('ix_video_appearances_user_created', 'video_appearances', ['user_id', 'created_at', 'video_id'], unique=False)
    op.add_column('generations', sa.Column('cameo_ids', postgresql.ARRAY(sa.Uuid()), server_default='{}', nullable=False))
    op.create_index('ix_generations_cameo_ids', 'generations', ['cameo_ids'], unique=False, postgresql_using='gin')


def downgrade() -> None:
    op.drop_index('ix_generations_cameo_ids', table_name='generations', postgresql_using='gin')
    op.drop_column('generations', 'cameo_ids')
    op.drop_index('ix_video_appearances_user_created', table_name='video_appearances')
    op.drop_table('video_appearances')
    op.drop_index('ix_cameo_uses_generation', table_name='cameo_uses')
    op.drop_index('ix_cameo_uses_cameo_created', table_name='cameo_uses')
    op.drop_table('cameo_uses')
    op.drop_table('cameo_approvals')
    op.drop_index('uq_cameos_owner_not_revoked', table_name='cameos', postgresql_where=sa.text("status <> 'revoked'"))
    op.drop_index('ix_cameos_recording_purge', table_name='cameos', postgresql_where=sa.text('recording_key IS NOT NULL AND recording_purge_after IS NOT NULL'))
    op.drop_index(op.f('ix_cameos_owner_id'), table_name='cameos')
    op.drop_table('cameos')
