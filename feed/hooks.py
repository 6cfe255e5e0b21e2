"""What other domains check, in the same transaction, when a video changes. Feed may not import
the domains beside or above it (cameo, generation), so they register here, once, from the
composition root; the video service calls them.

- `on_widening(session, author, video)`: a video is about to reach more people than it does: a
  draft is being published, or a video made public (also one a moderator removed, which a granted
  appeal would bring back with that visibility), or a removed video that had been published is
  being restored. A hook may refuse it by raising a problem (the transaction then rolls back; a
  restore keeps the video removed instead, `feed.service.moderation.restore_video`).
- `on_deleted(session, video, deletions)`: a video was deleted (by its author, someone whose cameo
  is in it, or with its author's account); what points at it elsewhere may go after the commit.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from app.hooks import Hooks
from app.media_deletion import MediaDeletions
from feed.models import Video

_widening: Hooks[[AsyncSession, User, Video]] = Hooks()
on_widening = _widening.add
widening = _widening.run

_deleted: Hooks[[AsyncSession, Video, MediaDeletions]] = Hooks()
on_deleted = _deleted.add
deleted = _deleted.run
