"""Generation failures with the stable codes from the API contract."""

from app.errors import AppError, NotFound, ValidationFailed
from cameo.errors import CameoPermissionDenied


class GenerationNotFound(NotFound):
    code = "generation_not_found"
    title = "No such generation"


class TooManyCameos(ValidationFailed):
    code = "too_many_cameos"
    title = "A generation may use at most two cameos"


class PromptRejected(ValidationFailed):
    code = "prompt_rejected"
    title = "The prompt breaks the content rules"


class QuotaExceeded(AppError):
    status = 429
    code = "quota_exceeded"
    title = "Daily generation limit reached"


class TooManyStreams(AppError):
    status = 429
    code = "too_many_streams"
    title = "Too many progress streams open at once"


class InvalidWebhook(AppError):
    status = 400
    code = "invalid_webhook"
    title = "The webhook could not be verified"


# One class for 403 cameo_permission_denied, wherever it is raised.
__all__ = [
    "CameoPermissionDenied",
    "GenerationNotFound",
    "InvalidWebhook",
    "PromptRejected",
    "QuotaExceeded",
    "TooManyCameos",
    "TooManyStreams",
]
