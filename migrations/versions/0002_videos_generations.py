"""videos, engagement, notifications, generations, idempotency keys

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 07:22:01.540364
"""

from collections.abc import Sequence

import sqlalchemy as sa
import advanced_alchemy.types
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('idempotency_keys',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('user_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('scope', sa.String(length=128), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('response_body', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_idempotency_keys_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('user_id', 'scope', 'key', name='uq_idempotency_keys_user_scope_key')
    )
    op.create_table('notifications',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('user_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('actor_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('subject_type', sa.String(length=16), nullable=False),
    sa.Column('subject_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=True),
    sa.Column('read_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_notifications_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_notifications_dedupe_key'))
    )
    op.create_index('ix_notifications_user_created', 'notifications', ['user_id', 'created_at', 'id'], unique=False)
    op.create_table('videos',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('author_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('visibility', sa.String(length=16), nullable=False),
    sa.Column('caption', sa.Text(), server_default='', nullable=False),
    sa.Column('prompt', sa.Text(), nullable=False),
    sa.Column('show_prompt', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('allow_remix', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('model', sa.String(length=32), nullable=False),
    sa.Column('seconds', sa.Integer(), nullable=False),
    sa.Column('size', sa.String(length=16), nullable=False),
    sa.Column('cameos', postgresql.ARRAY(sa.String(length=30)), server_default='{}', nullable=False),
    sa.Column('video_key', sa.String(length=255), nullable=False),
    sa.Column('thumbnail_key', sa.String(length=255), nullable=False),
    sa.Column('spritesheet_key', sa.String(length=255), nullable=True),
    sa.Column('provider_video_id', sa.String(length=128), nullable=True),
    sa.Column('remix_of_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('remix_root_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('remix_depth', sa.Integer(), server_default='0', nullable=False),
    sa.Column('like_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('comment_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('remix_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('view_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('published_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('removed_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('deleted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'published', 'removed')", name=op.f('ck_videos_status_known')),
    sa.CheckConstraint("visibility IN ('public', 'unlisted')", name=op.f('ck_videos_visibility_known')),
    sa.CheckConstraint('(remix_of_id IS NULL) = (remix_root_id IS NULL) AND (remix_of_id IS NULL) = (remix_depth = 0)', name=op.f('ck_videos_lineage_consistent')),
    sa.CheckConstraint('like_count >= 0 AND comment_count >= 0 AND remix_count >= 0 AND view_count >= 0', name=op.f('ck_videos_counts_not_negative')),
    sa.CheckConstraint('remix_depth >= 0', name=op.f('ck_videos_remix_depth_not_negative')),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_videos_author_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['remix_of_id'], ['videos.id'], name=op.f('fk_videos_remix_of_id_videos'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['remix_root_id'], ['videos.id'], name=op.f('fk_videos_remix_root_id_videos'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_videos'))
    )
    op.create_index('ix_videos_author_drafts', 'videos', ['author_id', 'created_at', 'id'], unique=False, postgresql_where=sa.text("status = 'draft'"))
    op.create_index('ix_videos_author_published', 'videos', ['author_id', 'published_at', 'id'], unique=False)
    op.create_index('ix_videos_published_public', 'videos', ['published_at', 'id'], unique=False, postgresql_where=sa.text("status = 'published' AND visibility = 'public' AND deleted_at IS NULL"))
    op.create_index('ix_videos_remix_of_created', 'videos', ['remix_of_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_videos_remix_root_id', 'videos', ['remix_root_id'], unique=False)
    op.create_table('comments',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('video_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('author_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('parent_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint('char_length(body) BETWEEN 1 AND 1000', name=op.f('ck_comments_body_length')),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_comments_author_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['parent_id'], ['comments.id'], name=op.f('fk_comments_parent_id_comments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['video_id'], ['videos.id'], name=op.f('fk_comments_video_id_videos'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_comments'))
    )
    op.create_index(op.f('ix_comments_parent_id'), 'comments', ['parent_id'], unique=False)
    op.create_index('ix_comments_video_created', 'comments', ['video_id', 'created_at', 'id'], unique=False)
    op.create_table('generations',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('user_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Integer(), server_default='0', nullable=False),
    sa.Column('prompt', sa.Text(), nullable=False),
    sa.Column('model', sa.String(length=32), nullable=False),
    sa.Column('seconds', sa.Integer(), nullable=False),
    sa.Column('size', sa.String(length=16), nullable=False),
    sa.Column('cameos', postgresql.ARRAY(sa.String(length=30)), server_default='{}', nullable=False),
    sa.Column('remix_of_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('input_reference_key', sa.String(length=255), nullable=True),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('provider_video_id', sa.String(length=128), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('retry_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('video_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('error_code', sa.String(length=64), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('completed_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('queued', 'in_progress', 'completed', 'failed', 'blocked', 'cancelled')", name=op.f('ck_generations_status_known')),
    sa.CheckConstraint('progress BETWEEN 0 AND 100', name=op.f('ck_generations_progress_percent')),
    sa.ForeignKeyConstraint(['remix_of_id'], ['videos.id'], name=op.f('fk_generations_remix_of_id_videos'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_generations_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['video_id'], ['videos.id'], name=op.f('fk_generations_video_id_videos'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_generations')),
    sa.UniqueConstraint('video_id', name=op.f('uq_generations_video_id'))
    )
    op.create_index('ix_generations_provider_video_id', 'generations', ['provider_video_id'], unique=False)
    op.create_index('ix_generations_user_created', 'generations', ['user_id', 'created_at', 'id'], unique=False)
    op.create_table('likes',
    sa.Column('video_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('user_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_likes_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['video_id'], ['videos.id'], name=op.f('fk_likes_video_id_videos'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('video_id', 'user_id', name=op.f('pk_likes'))
    )
    op.create_index('ix_likes_user_created', 'likes', ['user_id', 'created_at'], unique=False)
    op.create_table('views',
    sa.Column('video_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('viewer_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['video_id'], ['videos.id'], name=op.f('fk_views_video_id_videos'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['viewer_id'], ['users.id'], name=op.f('fk_views_viewer_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('video_id', 'viewer_id', name=op.f('pk_views'))
    )


def downgrade() -> None:
    op.drop_table('views')
    op.drop_index('ix_likes_user_created', table_name='likes')
    op.drop_table('likes')
    op.drop_index('ix_generations_user_created', table_name='generations')
    op.drop_index('ix_generations_provider_video_id', table_name='generations')
    op.drop_table('generations')
    op.drop_index('ix_comments_video_created', table_name='comments')
    op.drop_index(op.f('ix_comments_parent_id'), table_name='comments')
    op.drop_table('comments')
    op.drop_index('ix_videos_remix_root_id', table_name='videos')
    op.drop_index('ix_videos_remix_of_created', table_name='videos')
    op.drop_index('ix_videos_published_public', table_name='videos', postgresql_where=sa.text("status = 'published' AND visibility = 'public' AND deleted_at IS NULL"))
    op.drop_index('ix_videos_author_published', table_name='videos')
    op.drop_index('ix_videos_author_drafts', table_name='videos', postgresql_where=sa.text("status = 'draft'"))
    op.drop_table('videos')
    op.drop_index('ix_notifications_user_created', table_name='notifications')
    op.drop_table('notifications')
    op.drop_table('idempotency_keys')
