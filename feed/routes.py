"""HTTP routes of videos, drafts, comments and remix lineage: thin controllers that parse, call a
service and return a schema.

A suspended account (`ActiveUser`, 403 account_suspended) may not publish, edit a video or comment;
it may still read, like and unlike, record views, and delete its own videos and comments.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import Provide
from litestar.params import FromPath, JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from accounts.deps import ACTIVE_USER_DEPENDENCY, ActiveUser, CurrentUser
from app.byte_ranges import media_ask, media_response
from app.errors import problem_responses
from app.head import requested_method
from app.idempotency import IdempotencyKeyHeader
from app.openapi import OptionalBodyOperation, binary_responses
from app.pagination import DEFAULT_LIMIT, CursorParam, LimitParam, Page
from app.ratelimit import EXPENSIVE_READ_LIMITS, IP_READ_LIMIT, Limit, caller_id
from feed import deps
from feed.deps import Engagement, Feed, Lineages, Videos
from feed.schemas import (
    CheckinIn,
    CommentIn,
    CommentOut,
    FeedCut,
    FeedPage,
    FeedPreferencesIn,
    FeedPreferencesOut,
    Lineage,
    PublishIn,
    RemixTree,
    VideoOut,
    VideoPatch,
)
from feed.service.lineage import DEFAULT_TREE_DEPTH, MAX_TREE_DEPTH

AUTHENTICATED: list[dict[str, list[str]]] = [{"bearer": []}]

Variant = Annotated[
    Literal["video", "thumbnail"], Parameter(description="`video` (MP4) or `thumbnail` (an image)")
]
CutParam = Annotated[FeedCut, Parameter(description="`for_you` (ranked), `following` or `latest`")]
TreeDepth = Annotated[
    int, Parameter(ge=1, le=MAX_TREE_DEPTH, description=f"Levels of remixes, 1-{MAX_TREE_DEPTH}")
]

SERVICES = {
    "videos": Provide(deps.provide_video_service, sync_to_thread=False),
    "engagement": Provide(deps.provide_engagement_service, sync_to_thread=False),
    "lineages": Provide(deps.provide_lineage_service, sync_to_thread=False),
    "feed": Provide(deps.provide_feed_service, sync_to_thread=False),
    **ACTIVE_USER_DEPENDENCY,
}

# Feed pages per user: each may rank (the expensive statement), so they have a budget of their own.
FEED_LIMIT = Limit(name="feed", rule=lambda s: s.feed_limit, subject=caller_id)


class VideosController(Controller):
    path = "/v1/videos/{video_id:str}"
    tags = ["videos"]
    security = AUTHENTICATED
    dependencies = SERVICES

    @get("/", responses=problem_responses(401, 404, 422))
    async def video(self, video_id: FromPath[str], current_user: CurrentUser, videos: Videos) -> VideoOut:
        """A video as the caller may see it: a draft, or one a moderator removed, only by its
        author and the people whose cameo is in it."""
        return await videos.get(current_user, video_id)

    @patch("/", responses=problem_responses(400, 401, 403, 404, 409, 422))
    async def update_video(
        self, video_id: FromPath[str], data: JSONBody[VideoPatch], active_user: ActiveUser, videos: Videos
    ) -> VideoOut:
        """Change caption, visibility, remixing or whether the prompt shows (author only). A caption
        that clearly breaks the rules is 422 content_rejected; a borderline one is accepted and
        queued for review. Making a video public is refused as publishing is: 409 cameo_revoked
        when a cameo in it was revoked since, 409 remix_source_removed when the video it remixes
        was removed by a moderator since."""
        return await videos.update(active_user, video_id, data)

    @delete("/", status_code=HTTP_204_NO_CONTENT, responses=problem_responses(401, 403, 404))
    async def delete_video(self, video_id: FromPath[str], current_user: CurrentUser, videos: Videos) -> None:
        """Delete for good: nobody sees it again and its media is deleted. The author may, and so
        may anyone whose cameo is in it (the author is then told, `appearance_removed`)."""
        await videos.delete(current_user, video_id)

    @post(
        "/publish",
        status_code=HTTP_200_OK,
        responses=problem_responses(400, 401, 403, 404, 409, 422),
        operation_class=OptionalBodyOperation,
    )
    async def publish(
        self,
        video_id: FromPath[str],
        active_user: ActiveUser,
        videos: Videos,
        data: JSONBody[PublishIn | None] = None,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> VideoOut:
        """Publish a draft (author only); 409 already_published once it is. Honours Idempotency-Key.
        Every field is optional, and so is the body. The caption is screened as in PATCH. 409
        cameo_revoked when a cameo in it was revoked since it was made, 409 remix_source_removed
        when the video it remixes was removed by a moderator since (until an appeal restores it)."""
        return await videos.publish(active_user, video_id, data or PublishIn(), idempotency_key)

    @get(
        "/content",
        responses=problem_responses(401, 404, 416, 422),
        media_type="application/octet-stream",
        operation_class=binary_responses("video/mp4", "image/webp", "image/jpeg", "image/png", ranges=True),
    )
    async def content(
        self,
        request: Request[Any, Any, Any],
        video_id: FromPath[str],
        current_user: CurrentUser,
        videos: Videos,
        variant: Variant = "video",
    ) -> Response[Any]:
        """The video's bytes (video/mp4) or its thumbnail image, to whoever may see the video.
        Takes a single byte range (206; 416 range_not_satisfiable past the end)."""
        media = await videos.content(current_user, video_id, variant, media_ask(request))
        return media_response(media, {"Cache-Control": "private, max-age=300"})

    @post("/like", status_code=HTTP_204_NO_CONTENT, responses=problem_responses(401, 404, 409))
    async def like(self, video_id: FromPath[str], current_user: CurrentUser, engagement: Engagement) -> None:
        """Like a published video (idempotent)."""
        await engagement.like(current_user, video_id)

    @delete("/like", status_code=HTTP_204_NO_CONTENT, responses=problem_responses(401, 404))
    async def unlike(
        self, video_id: FromPath[str], current_user: CurrentUser, engagement: Engagement
    ) -> None:
        """Take a like back (idempotent)."""
        await engagement.unlike(current_user, video_id)

    @get("/comments", responses=problem_responses(400, 401, 404, 422))
    async def comments(
        self,
        video_id: FromPath[str],
        current_user: CurrentUser,
        engagement: Engagement,
        limit: LimitParam = DEFAULT_LIMIT,
        cursor: CursorParam = None,
    ) -> Page[CommentOut]:
        """Comments, oldest first, without those of people who block or are blocked by the caller."""
        return await engagement.comments(current_user, video_id, cursor, limit)

    @post(
        "/comments", status_code=HTTP_201_CREATED, responses=problem_responses(400, 401, 403, 404, 409, 422)
    )
    async def add_comment(
        self,
        video_id: FromPath[str],
        data: JSONBody[CommentIn],
        active_user: ActiveUser,
        engagement: Engagement,
    ) -> CommentOut:
        """Comment on a published video, or reply to a comment on it with parent_id. A body that
        clearly breaks the rules is 422 content_rejected; a borderline one is accepted and queued
        for review."""
        return await engagement.add_comment(active_user, video_id, data)

    @post("/views", status_code=HTTP_204_NO_CONTENT, responses=problem_responses(401, 404, 409))
    async def view(self, video_id: FromPath[str], current_user: CurrentUser, engagement: Engagement) -> None:
        """Record a view: once per viewer; the author's own views do not count."""
        await engagement.view(current_user, video_id)

    @post("/see-less", status_code=HTTP_204_NO_CONTENT, responses=problem_responses(401, 404))
    async def see_less(self, video_id: FromPath[str], current_user: CurrentUser, feed: Feed) -> None:
        """Show less like this in the ranked feed: this video and, less strongly, its author's
        others (idempotent)."""
        await feed.see_less(current_user, video_id)

    @get("/lineage", responses=problem_responses(401, 404, 422), opt={"rate_limits": EXPENSIVE_READ_LIMITS})
    async def lineage(
        self, video_id: FromPath[str], current_user: CurrentUser, lineages: Lineages
    ) -> Lineage:
        """The videos this one remixes, root first, ending with the direct parent."""
        return await lineages.lineage(current_user, video_id)

    @get(
        "/remixes",
        responses=problem_responses(400, 401, 404, 422),
        opt={"rate_limits": EXPENSIVE_READ_LIMITS},
    )
    async def remixes(
        self,
        video_id: FromPath[str],
        current_user: CurrentUser,
        lineages: Lineages,
        limit: LimitParam = DEFAULT_LIMIT,
        cursor: CursorParam = None,
    ) -> Page[VideoOut]:
        """Direct remixes the caller may see, newest first."""
        return await lineages.remixes(current_user, video_id, cursor, limit)

    @get("/tree", responses=problem_responses(400, 401, 404, 422), opt={"rate_limits": EXPENSIVE_READ_LIMITS})
    async def tree(
        self,
        video_id: FromPath[str],
        current_user: CurrentUser,
        lineages: Lineages,
        max_depth: TreeDepth = DEFAULT_TREE_DEPTH,
    ) -> RemixTree:
        """The remixes below this video, `max_depth` levels deep."""
        return await lineages.tree(current_user, video_id, max_depth)


class CommentsController(Controller):
    path = "/v1/comments/{comment_id:str}"
    tags = ["videos"]
    security = AUTHENTICATED
    dependencies = SERVICES

    @delete("/", status_code=HTTP_204_NO_CONTENT, responses=problem_responses(401, 403, 404))
    async def delete_comment(
        self, comment_id: FromPath[str], current_user: CurrentUser, engagement: Engagement
    ) -> None:
        """Delete a comment and its replies (the comment's author or the video's author)."""
        await engagement.delete_comment(current_user, comment_id)


class DraftsController(Controller):
    path = "/v1/me/drafts"
    tags = ["videos"]
    security = AUTHENTICATED
    dependencies = SERVICES

    @get("/", responses=problem_responses(400, 401, 422))
    async def drafts(
        self,
        current_user: CurrentUser,
        videos: Videos,
        limit: LimitParam = DEFAULT_LIMIT,
        cursor: CursorParam = None,
    ) -> Page[VideoOut]:
        """The caller's unpublished drafts, newest first."""
        return await videos.drafts(current_user, cursor, limit)


class AppearancesController(Controller):
    path = "/v1/me/appearances"
    tags = ["videos", "cameos"]
    security = AUTHENTICATED
    dependencies = SERVICES

    @get("/", responses=problem_responses(400, 401, 422))
    async def appearances(
        self,
        current_user: CurrentUser,
        videos: Videos,
        limit: LimitParam = DEFAULT_LIMIT,
        cursor: CursorParam = None,
    ) -> Page[VideoOut]:
        """Every video the caller's cameo is in, others' drafts and removed ones (status removed)
        included, newest first. The caller may read each of them and delete any
        (DELETE /v1/videos/{id})."""
        return await videos.appearances(current_user, cursor, limit)


class UserVideosController(Controller):
    path = "/v1/users/{username:str}/videos"
    tags = ["videos"]
    security = AUTHENTICATED
    dependencies = SERVICES

    @get("/", responses=problem_responses(400, 401, 404, 422))
    async def user_videos(
        self,
        username: FromPath[str],
        current_user: CurrentUser,
        videos: Videos,
        limit: LimitParam = DEFAULT_LIMIT,
        cursor: CursorParam = None,
    ) -> Page[VideoOut]:
        """Someone's published videos, newest first (unlisted ones only on one's own list)."""
        return await videos.user_videos(current_user, username, cursor, limit)


class FeedController(Controller):
    path = "/v1/feed"
    tags = ["feed"]
    security = AUTHENTICATED
    dependencies = SERVICES

    @get(
        "/",
        responses=problem_responses(400, 401, 422, 429, 503),
        opt={"rate_limits": [FEED_LIMIT, IP_READ_LIMIT]},
    )
    async def feed(
        self,
        request: Request[Any, Any, Any],
        current_user: CurrentUser,
        feed: Feed,
        cut: CutParam = "for_you",
        limit: LimitParam = DEFAULT_LIMIT,
        cursor: CursorParam = None,
    ) -> FeedPage:
        """A page of the feed, each item with the `reason` it was chosen, never a video already
        served in this feed session. After a set number of videos the page carries `break` (the
        page that reaches it carries its last items too) and later pages only the break, until
        POST /v1/feed/resume; a teen's daily cap holds until the next UTC midnight whatever they
        resume. A cursor is bound to the caller, the session and the cut (400 invalid_cursor
        otherwise, also after a resume). 503 feed_unavailable when the session counts cannot be
        read."""
        if requested_method(request) == "HEAD":
            # Answered as the GET (app.head), a page would count videos nobody is shown toward the
            # break and a teen's day: a HEAD gets the GET's status and headers, and fills nothing.
            return FeedPage(items=[], next_cursor=None, break_=None)
        return await feed.page(current_user, cut, limit, cursor)

    @post("/resume", status_code=HTTP_204_NO_CONTENT, responses=problem_responses(401, 503))
    async def resume(self, current_user: CurrentUser, feed: Feed) -> None:
        """Start a new feed session after a break. Before a break it changes nothing; it does not
        lift a teen's daily cap."""
        await feed.resume(current_user)

    @post("/checkins", status_code=HTTP_204_NO_CONTENT, responses=problem_responses(400, 401, 422))
    async def checkin(self, data: JSONBody[CheckinIn], current_user: CurrentUser, feed: Feed) -> None:
        """Answer a wellbeing check: `more_relaxed` or `more_energized` nudges the ranked feed
        that way, `same` lets an earlier nudge fade."""
        await feed.checkin(current_user, data)


class FeedPreferencesController(Controller):
    path = "/v1/me/feed-preferences"
    tags = ["feed"]
    security = AUTHENTICATED
    dependencies = SERVICES

    @get("/", responses=problem_responses(401))
    async def preferences(self, current_user: CurrentUser, feed: Feed) -> FeedPreferencesOut:
        """How the caller steers their ranked feed (defaults when never set)."""
        return await feed.preferences(current_user)

    @put("/", responses=problem_responses(400, 401, 422))
    async def set_preferences(
        self, data: JSONBody[FeedPreferencesIn], current_user: CurrentUser, feed: Feed
    ) -> FeedPreferencesOut:
        """Steer the ranked feed with free text (interpreted into topics to favour and avoid) and
        turn personalisation on or off. Omitted fields keep their value."""
        return await feed.set_preferences(current_user, data)


route_handlers = [
    FeedController,
    FeedPreferencesController,
    VideosController,
    CommentsController,
    DraftsController,
    AppearancesController,
    UserVideosController,
]
