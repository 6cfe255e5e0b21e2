"""feed

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 10:22:48.126122
"""

from collections.abc import Sequence

import sqlalchemy as sa
import advanced_alchemy.types
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('feed_checkins',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('user_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('mood', sa.Integer(), nullable=False),
    sa.Column('want', sa.String(length=16), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint("want IN ('more_relaxed', 'more_energized', 'same')", name=op.f('ck_feed_checkins_want_known')),
    sa.CheckConstraint('mood BETWEEN 1 AND 5', name=op.f('ck_feed_checkins_mood_range')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_feed_checkins_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_checkins'))
    )
    op.create_index('ix_feed_checkins_user_created', 'feed_checkins', ['user_id', 'created_at'], unique=False)
    op.create_table('feed_preferences',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('user_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('steer', sa.Text(), server_default='', nullable=False),
    sa.Column('personalized', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('favour_topics', postgresql.ARRAY(sa.String(length=64)), server_default='{}', nullable=False),
    sa.Column('avoid_topics', postgresql.ARRAY(sa.String(length=64)), server_default='{}', nullable=False),
    sa.Column('mood_bias', sa.Float(), server_default='0', nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint('char_length(steer) <= 500', name=op.f('ck_feed_preferences_steer_length')),
    sa.CheckConstraint('mood_bias BETWEEN -1 AND 1', name=op.f('ck_feed_preferences_mood_bias_range')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_feed_preferences_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_preferences')),
    sa.UniqueConstraint('user_id', name=op.f('uq_feed_preferences_user_id'))
    )
    op.create_table('see_less',
    sa.Column('user_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('video_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('author_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_see_less_author_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_see_less_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['video_id'], ['videos.id'], name=op.f('fk_see_less_video_id_videos'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'video_id', name=op.f('pk_see_less'))
    )
    op.create_index('ix_see_less_user_author', 'see_less', ['user_id', 'author_id'], unique=False)
    op.add_column('videos', sa.Column('search_vector', postgresql.TSVECTOR(), sa.Computed("to_tsvector('english', caption || ' ' || CASE WHEN show_prompt THEN prompt ELSE '' END)", persisted=True), nullable=False))
    op.create_index('ix_videos_search_vector', 'videos', ['search_vector'], unique=False, postgresql_using='gin')


def downgrade() -> None:
    op.drop_index('ix_videos_search_vector', table_name='videos', postgresql_using='gin')
    op.drop_column('videos', 'search_vector')
    op.drop_index('ix_see_less_user_author', table_name='see_less')
    op.drop_table('see_less')
    op.drop_table('feed_preferences')
    op.drop_index('ix_feed_checkins_user_created', table_name='feed_checkins')
    op.drop_table('feed_checkins')
