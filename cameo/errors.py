"""Cameo failures with stable codes."""

from app.errors import AppError, Conflict, Forbidden, NotFound, ValidationFailed


class CameoNotFound(NotFound):
    code = "cameo_not_found"
    title = "No such cameo"


class CameoPermissionDenied(Forbidden):
    code = "cameo_permission_denied"
    title = "You may not use that cameo"


class CameoExists(Conflict):
    code = "cameo_exists"
    title = "You already have a cameo"


class CameoNotAwaitingRecording(Conflict):
    code = "cameo_not_awaiting_recording"
    title = "The cameo is not waiting for a recording"


class CameoRevoked(Conflict):
    code = "cameo_revoked"
    title = "The cameo is revoked"


class ChallengeExpired(Conflict):
    code = "challenge_expired"
    title = "The challenge has expired"


class RecordingTooLarge(AppError):
    # 413, as a body too large for the route is, and as image_too_large is.
    status = 413
    code = "recording_too_large"
    title = "The recording is too large"


class InvalidRecording(ValidationFailed):
    code = "invalid_recording"
    title = "The recording is not a usable video"


class RecordingNotFound(NotFound):
    code = "recording_not_found"
    title = "The recording is no longer kept"


class PermissionNotAllowed(ValidationFailed):
    code = "permission_not_allowed"
    title = "That permission is not allowed for this cameo"


class CannotApproveSelf(ValidationFailed):
    code = "cannot_approve_self"
    title = "You may always use your own cameo"


class ApprovedListFull(ValidationFailed):
    code = "approved_list_full"
    title = "The approved list is full"
