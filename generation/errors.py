"""Generation failures with the stable codes from the API contract."""

from app.errors import AppError, Forbidden, NotFound, ValidationFailed


class GenerationNotFound(NotFound):
    code = "generation_not_found"
    title = "No such generation"


class CameoPermissionDenied(Forbidden):
    code = "cameo_permission_denied"
    title = "You may not use that cameo"


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


class InvalidWebhook(AppError):
    status = 400
    code = "invalid_webhook"
    title = "The webhook could not be verified"
