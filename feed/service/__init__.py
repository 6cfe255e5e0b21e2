"""Business rules of videos and the feed. Services flush, never commit."""

from feed.service.drafts import Appearance, RenderedVideo, cameos_in, create_draft, remix_source
from feed.service.engagement import EngagementService
from feed.service.lineage import LineageService
from feed.service.videos import VideoService

__all__ = [
    "Appearance",
    "EngagementService",
    "LineageService",
    "RenderedVideo",
    "VideoService",
    "cameos_in",
    "create_draft",
    "remix_source",
]
