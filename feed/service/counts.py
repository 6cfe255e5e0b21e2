"""What a video adds to the counts everyone sees: its author's `post_count` and its parent's
`remix_count`, kept on the rows (a profile or a page of videos reads them, it never counts).

A video counts while anyone may list it: published, `public`, neither removed nor deleted, as the
author's video list and the parent's remix list show it to others. An unlisted one opens by link
but stays out of every list, so out of the counts. A block does not change them: they are one
number for everyone, like likes and comments, and leaving out what each viewer's blocks hide would
mean counting on every read of every video, on the feed's hot path, for a difference of a few.
Every change of status, visibility or deletion goes through `recount` with what the video was
before (the caller holds its row lock).

Rows are taken in one order: the video, then its parent, then the author's users row. Deleting a
remix and its source at once (the same author's) otherwise deadlocked: the remix's request held
the users row and waited for the source's, which held the source and waited for the users row.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from feed import queries
from feed.models import Video, VideoStatus, Visibility


def counted(video: Video) -> bool:
    return (
        video.deleted_at is None
        and video.status == VideoStatus.PUBLISHED
        and video.visibility == Visibility.PUBLIC
    )


async def recount(session: AsyncSession, video: Video, *, was_counted: bool) -> None:
    """Move the author's and the parent's counts when the video started or stopped counting."""
    now = counted(video)
    if now == was_counted:
        return
    delta = 1 if now else -1
    if video.remix_of_id is not None:
        await queries.bump_video(session, video.remix_of_id, remix_count=delta)
    await queries.bump_post_count(session, video.author_id, delta)
