"""Video failures with the stable codes from the API contract."""

from app.errors import Conflict, Forbidden, NotFound


class VideoNotFound(NotFound):
    code = "video_not_found"
    title = "No such video"


class RemixNotAllowed(Forbidden):
    code = "remix_not_allowed"
    title = "This video cannot be remixed"


class NotVideoAuthor(Forbidden):
    code = "not_video_author"
    title = "Only the video's author can do this"


class AlreadyPublished(Conflict):
    code = "already_published"
    title = "This video is already published"


class CommentNotFound(NotFound):
    code = "comment_not_found"
    title = "No such comment"
