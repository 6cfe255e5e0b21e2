"""Business rules of videos and the feed. Services flush, never commit."""

from feed.service.drafts import RenderedVideo, create_draft, remix_source

__all__ = ["RenderedVideo", "create_draft", "remix_source"]
