"""Providers of the feed domain's services for its routes."""

from __future__ import annotations

from litestar.di import NamedDependency

from app.dependencies import DbSession, SettingsDep, SigningKeysDep, StorageDep
from app.media_deletion import MediaDeletions
from app.resources import Resources
from app.screening import content_gate_for
from feed.pacing import FeedPacer
from feed.service import EngagementService, LineageService, VideoService
from feed.service.feed import FeedService
from feed.service.present import VideoPresenter
from feed.timeline import FeedRanker
from feed.timeline.fanout import FanOut
from feed.timeline.ranking import InlineRankings

Videos = NamedDependency[VideoService]
Engagement = NamedDependency[EngagementService]
Lineages = NamedDependency[LineageService]
Feed = NamedDependency[FeedService]


def provide_video_service(
    db_session: DbSession, storage: StorageDep, resources: NamedDependency[Resources]
) -> VideoService:
    return VideoService(
        db_session,
        storage,
        resources.signing_keys,
        content_gate_for(resources),
        MediaDeletions.of(resources),
        fanout=FanOut(resources),
    )


def provide_engagement_service(
    db_session: DbSession, storage: StorageDep, resources: NamedDependency[Resources]
) -> EngagementService:
    return EngagementService(db_session, storage, resources.signing_keys, content_gate_for(resources))


def provide_lineage_service(
    db_session: DbSession, storage: StorageDep, signing_keys: SigningKeysDep
) -> LineageService:
    return LineageService(db_session, storage, signing_keys)


def provide_feed_service(
    db_session: DbSession, storage: StorageDep, settings: SettingsDep, resources: NamedDependency[Resources]
) -> FeedService:
    return FeedService(
        db_session,
        FeedPacer(resources.redis, settings, db_session),
        FeedRanker(db_session, resources.redis, settings, resources.jobs, InlineRankings.of(resources)),
        VideoPresenter(db_session, storage),
        resources.signing_keys,
    )
