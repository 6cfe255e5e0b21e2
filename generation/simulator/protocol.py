"""What goes over the wire: the Videos and Moderations APIs' objects, the error body and the request
rules.

Shapes follow the `openai` SDK's types (openai/types/video*.py, moderation*.py). Messages and codes
follow what the real API answers where that is known; where it is not, OpenAI's usual wording.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

import msgspec

MODELS = ("sora-2", "sora-2-pro")
# Dated snapshots the SDK lists as valid model names; the API echoes whichever name was asked for.
MODEL_SNAPSHOTS = ("sora-2-2025-10-06", "sora-2-pro-2025-10-06", "sora-2-2025-12-08")
SECONDS = ("4", "8", "12")
SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
DEFAULT_MODEL = "sora-2"
DEFAULT_SECONDS = "4"
DEFAULT_SIZE = "720x1280"
MAX_PROMPT_CHARS = 10_000
VARIANTS = ("video", "thumbnail", "spritesheet")
LIST_LIMIT_DEFAULT = 20
LIST_LIMIT_MAX = 100

Status = Literal["queued", "in_progress", "completed", "failed"]

# Moderations: the models the SDK names, and the snapshot each alias answers as.
MODERATION_MODELS = (
    "omni-moderation-latest",
    "omni-moderation-2024-09-26",
    "text-moderation-latest",
    "text-moderation-stable",
    "text-moderation-007",
)
MODERATION_SNAPSHOTS = {
    "omni-moderation-latest": "omni-moderation-2024-09-26",
    "text-moderation-latest": "text-moderation-007",
    "text-moderation-stable": "text-moderation-007",
}
DEFAULT_MODERATION_MODEL = "omni-moderation-latest"
MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
# The categories omni-moderation also scores images for; the others apply to text only.
IMAGE_CATEGORIES = frozenset(
    {"self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "violence", "violence/graphic"}
)


class VideoError(msgspec.Struct):
    code: str
    message: str


class Video(msgspec.Struct):
    """openai.types.Video; every field is always present, null when unset, as the API sends it."""

    id: str
    object: Literal["video"]
    created_at: int
    completed_at: int | None
    expires_at: int | None
    model: str
    progress: int
    prompt: str | None
    remixed_from_video_id: str | None
    seconds: str
    size: str
    status: Status
    error: VideoError | None


class VideoList(msgspec.Struct):
    object: Literal["list"]
    data: list[Video]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VideoDeleted(msgspec.Struct):
    id: str
    object: Literal["video.deleted"]
    deleted: bool


class Character(msgspec.Struct):
    """openai.types.VideoCreateCharacterResponse (and VideoGetCharacterResponse)."""

    id: str
    created_at: int
    name: str


class ModerationResult(msgspec.Struct):
    """openai.types.Moderation: every category is present in all three maps."""

    flagged: bool
    categories: dict[str, bool]
    category_scores: dict[str, float]
    category_applied_input_types: dict[str, list[str]]


class ModerationResponse(msgspec.Struct):
    """openai.types.ModerationCreateResponse."""

    id: str
    model: str
    results: list[ModerationResult]


class ErrorDetail(msgspec.Struct):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(msgspec.Struct):
    error: ErrorDetail


class ApiError(Exception):
    """A refusal answered in OpenAI's error shape: {"error": {message, type, param, code}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> ErrorBody:
        return ErrorBody(ErrorDetail(message=self.message, type=self.type, param=self.param, code=self.code))


def quoted_choices(values: Iterable[str]) -> str:
    """'a', 'b', and 'c' -- the way the API lists supported values."""
    items = [f"'{value}'" for value in values]
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def invalid_value(param: str, value: str, allowed: Iterable[str]) -> ApiError:
    return ApiError(
        400,
        f"Invalid value: '{value}'. Supported values are: {quoted_choices(allowed)}.",
        param=param,
        code="invalid_value",
    )


def missing(param: str) -> ApiError:
    return ApiError(
        400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def unknown_parameter(param: str) -> ApiError:
    return ApiError(400, f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter")


def not_found(kind: str, identifier: str) -> ApiError:
    return ApiError(404, f"{kind} with id '{identifier}' not found.", param=None, code=None)


def check_prompt(prompt: str | None) -> str:
    if prompt is None:
        raise missing("prompt")
    if not prompt.strip():
        raise ApiError(
            400,
            "Invalid 'prompt': empty string. Expected a string with minimum length 1, "
            "but got an empty string instead.",
            param="prompt",
            code="empty_string",
        )
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ApiError(
            400,
            f"Invalid 'prompt': string too long. Expected a string with maximum length "
            f"{MAX_PROMPT_CHARS}, but got a string with length {len(prompt)} instead.",
            param="prompt",
            code="string_above_max_length",
        )
    return prompt


def check_choice(param: str, value: str | None, allowed: tuple[str, ...], default: str) -> str:
    if value is None:
        return default
    if value not in allowed:
        raise invalid_value(param, value, allowed)
    return value


def check_model(value: str | None) -> str:
    if value is not None and value in MODEL_SNAPSHOTS:
        return value
    return check_choice("model", value, MODELS, DEFAULT_MODEL)


def size_pixels(size: str) -> tuple[int, int]:
    width, height = size.split("x")
    return int(width), int(height)
