"""Video failures with the stable codes from the API contract."""

from app.errors import Conflict, Forbidden, NotFound, ServiceUnavailable, ValidationFailed


class VideoNotFound(NotFound):
    code = "video_not_found"
    title = "No such video"


class RemixNotAllowed(Forbidden):
    code = "remix_not_allowed"
    title = "This video cannot be remixed"


class RemixSourceRemoved(Conflict):
    code = "remix_source_removed"
    title = "The video this remixes was removed by a moderator"


class NotVideoAuthor(Forbidden):
    code = "not_video_author"
    title = "Only the video's author can do this"


class AlreadyPublished(Conflict):
    code = "already_published"
    title = "This video is already published"


class CommentNotFound(NotFound):
    code = "comment_not_found"
    title = "No such comment"


class VideoNotPublished(Conflict):
    code = "video_not_published"
    title = "Only published videos can be liked or commented on"


class InvalidParentComment(ValidationFailed):
    code = "invalid_parent"
    title = "parent_id is not a comment on this video"


class NotCommentAuthor(Forbidden):
    code = "not_comment_author"
    title = "Only the comment's author or the video's author can delete it"


class MediaNotFound(NotFound):
    code = "media_not_found"
    title = "This video's media is not available"


class FeedUnavailable(ServiceUnavailable):
    """The feed counts its sessions in Redis; without them it would serve unpaced, so it does not."""

    code = "feed_unavailable"
    title = "The feed is unavailable"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or "The feed is unavailable; try again shortly", headers={"Retry-After": "5"})
