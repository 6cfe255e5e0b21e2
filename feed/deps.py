"""Providers of the feed domain's services for its routes."""

from __future__ import annotations

from litestar.di import NamedDependency

from app.dependencies import DbSession, SettingsDep, StorageDep
from app.resources import Resources
from app.screening import content_gate_for
from feed.service import EngagementService, LineageService, VideoService

Videos = NamedDependency[VideoService]
Engagement = NamedDependency[EngagementService]
Lineages = NamedDependency[LineageService]


def provide_video_service(
    db_session: DbSession, storage: StorageDep, settings: SettingsDep, resources: NamedDependency[Resources]
) -> VideoService:
    assert settings.secret_key is not None
    return VideoService(db_session, storage, settings.secret_key, content_gate_for(resources))


def provide_engagement_service(
    db_session: DbSession, storage: StorageDep, settings: SettingsDep, resources: NamedDependency[Resources]
) -> EngagementService:
    assert settings.secret_key is not None
    return EngagementService(db_session, storage, settings.secret_key, content_gate_for(resources))


def provide_lineage_service(
    db_session: DbSession, storage: StorageDep, settings: SettingsDep
) -> LineageService:
    assert settings.secret_key is not None
    return LineageService(db_session, storage, settings.secret_key)
