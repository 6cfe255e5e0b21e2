"""Request and response bodies for generations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from accounts.schemas import USERNAME_PATTERN

Model = Literal["sora-2", "sora-2-pro"]
Seconds = Literal[4, 8, 12]
Size = Literal["720x1280", "1280x720", "1024x1792", "1792x1024"]
Status = Literal["queued", "in_progress", "completed", "failed", "blocked", "cancelled"]
Prompt = Annotated[str, Meta(min_length=1, max_length=4000)]
CameoName = Annotated[str, Meta(min_length=3, max_length=30, pattern=USERNAME_PATTERN)]


class GenerationIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    prompt: Prompt
    model: Model = "sora-2"
    seconds: Seconds = 8
    size: Size = "720x1280"
    # The two-cameo limit is checked by the service, to answer with its own code.
    cameos: Annotated[list[CameoName], Meta(max_length=50)] = msgspec.field(default_factory=list)
    remix_of: Annotated[str, Meta(max_length=64)] | None = None


class GenerationError(msgspec.Struct):
    code: str
    message: str


class GenerationOut(msgspec.Struct, kw_only=True):
    id: str
    status: Status
    progress: int
    prompt: str
    model: Model
    seconds: Seconds
    size: Size
    cameos: list[str]
    remix_of: str | None
    video_id: str | None
    error: GenerationError | None
    created_at: datetime
    completed_at: datetime | None


class QuotaOut(msgspec.Struct, kw_only=True):
    limit: int
    used: int
    remaining: int
    resets_at: datetime
