"""Takedown requests: anyone may ask for a video they can see (not their own) to be taken down
because it shows their likeness or impersonates them. A published video stays requestable across
a block, so an impersonator cannot escape a takedown by blocking the person they impersonate.
Requests on one video join its undecided item in the `takedowns` queue, with the video as it is
now and every requester (each request is a `Report` row on that item). The decision is applied
like any other; each requester is told the outcome (`takedown_outcome`) and sees it in their list
of requests. One requester has one open request per video: another while it is open is 409
takedown_request_exists."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from accounts.queries import is_blocked_either_way
from app.pagination import CursorCodec, Page
from app.security import SigningKeys
from feed.errors import VideoNotFound
from feed.models import Video, VideoStatus
from feed.visibility import parse_video_id, viewable_video
from moderation import policy, queries
from moderation.errors import CannotReportSelf, TakedownNotFound, TakedownRequestExists
from moderation.models import ItemStatus, ModerationItem, Queue, Report
from moderation.schemas import TakedownIn, TakedownOut
from moderation.service.reports import filings_page, own_filing
from moderation.service.targets import refuse_removed, video_snapshot


def takedown_out(request: Report, item: ModerationItem, outcome: str | None) -> TakedownOut:
    closed = item.status == ItemStatus.CLOSED
    return TakedownOut(
        id=str(request.id),
        status="closed" if closed else "open",
        video_id=str(request.target_id),
        reason=request.reason,
        details=request.details,
        outcome=outcome if closed else None,
        created_at=request.created_at,
    )


async def _requestable_video(session: AsyncSession, requester: User, video_id: str) -> Video:
    """The video as the requester may see it, or else a published one whose author they block or
    are blocked by; anything else is 404 as usual (the answer shows nothing of the video)."""
    try:
        return await viewable_video(session, requester, video_id)
    except VideoNotFound:
        video = await session.get(Video, parse_video_id(video_id))
        if (
            video is None
            or video.deleted_at is not None
            or video.status != VideoStatus.PUBLISHED
            or not await is_blocked_either_way(session, requester.id, video.author_id)
        ):
            raise
        return video


class TakedownService:
    def __init__(self, session: AsyncSession, keys: SigningKeys) -> None:
        self.session = session
        self.keys = keys

    async def request(self, requester: User, data: TakedownIn) -> TakedownOut:
        video = await _requestable_video(self.session, requester, data.video_id)
        if video.author_id == requester.id:
            raise CannotReportSelf("You cannot ask for your own video to be taken down; delete it instead")
        refuse_removed(video)
        author = await self.session.get(User, video.author_id)
        item_id = await queries.join_open_item(
            self.session,
            queue=Queue.TAKEDOWNS.value,
            target_type="video",
            target_id=video.id,
            subject_user_id=video.author_id,
            snapshot=video_snapshot(video, author),
            reporter_id=requester.id,
        )
        # The item's row is locked until commit (see join_open_item), so a request racing this
        # one by the same requester sees it here once it is committed.
        earlier = await queries.first_report_by(self.session, item_id, requester.id)
        if earlier is not None:
            raise TakedownRequestExists(
                f"Your request {earlier.id} for this video is still open; it is followed in "
                "GET /v1/me/takedown-requests"
            )
        request = Report(
            reporter_id=requester.id,
            item_id=item_id,
            target_type="video",
            target_id=video.id,
            reason=data.reason,
            details=data.details.strip(),
        )
        self.session.add(request)
        await self.session.flush()
        reasons, requesters = await queries.report_signals(self.session, item_id)
        await queries.set_priority(self.session, item_id, policy.priority(reasons, requesters))
        return TakedownOut(
            id=str(request.id),
            status="open",
            video_id=str(video.id),
            reason=request.reason,
            details=request.details,
            outcome=None,
            created_at=request.created_at,
        )

    async def own(self, requester: User, request_id: str) -> TakedownOut:
        """One of the caller's requests; anyone else's (or an ordinary report) is 404."""
        request, item, outcome = await own_filing(
            self.session, requester, request_id, Queue.TAKEDOWNS, TakedownNotFound
        )
        return takedown_out(request, item, outcome)

    async def mine(self, requester: User, cursor: str | None, limit: int) -> Page[TakedownOut]:
        return await filings_page(
            self.session,
            CursorCodec(self.keys, f"takedowns:{requester.id}"),
            requester,
            Queue.TAKEDOWNS,
            takedown_out,
            cursor=cursor,
            limit=limit,
        )
