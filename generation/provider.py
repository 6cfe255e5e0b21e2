"""The video provider behind a small interface, and its implementation on the `openai` SDK.

The rest of the app sees only `VideoProvider`, `ProviderJob` and `ProviderError`, so another
endpoint that speaks the Videos API (OPENAI_BASE_URL), or another model, needs no change
elsewhere. The SDK's own retries are off: the generation job retries with backoff itself, so a
retry survives a worker restart and is visible in the generation's state.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal, Protocol

import httpx2
import msgspec
import openai
from openai import AsyncOpenAI

from app.settings import Settings
from generation.metrics import PROVIDER_CALLS, PROVIDER_SECONDS

Variant = Literal["video", "thumbnail", "spritesheet"]

# The SDK marks every video call deprecated because OpenAI's own Sora endpoint is being retired;
# the provider here may be any endpoint speaking the protocol, so the notice is only noise.
warnings.filterwarnings("ignore", message="The Sora API is scheduled", category=DeprecationWarning)

# Error codes a provider uses for a content-policy refusal; the generation ends `blocked`.
POLICY_CODES = frozenset({"moderation_blocked", "content_policy_violation", "content_filter"})


class ProviderJob(msgspec.Struct, frozen=True):
    id: str
    status: Literal["queued", "in_progress", "completed", "failed"]
    progress: int
    error_code: str | None = None
    error_message: str | None = None

    @property
    def blocked(self) -> bool:
        return self.status == "failed" and (self.error_code or "") in POLICY_CODES


class ProviderError(Exception):
    """A provider call that did not succeed. `retryable` ones (rate limits, timeouts, 5xx,
    unreadable answers) are tried again later; the others end the generation."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retryable: bool,
        blocked: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.blocked = blocked
        self.retry_after = retry_after


class VideoProvider(Protocol):
    name: str

    async def create(
        self,
        *,
        prompt: str,
        model: str,
        seconds: int,
        size: str,
        input_reference: tuple[str, bytes, str] | None,
        idempotency_key: str,
    ) -> ProviderJob: ...

    async def remix(self, provider_video_id: str, *, prompt: str, idempotency_key: str) -> ProviderJob: ...

    async def retrieve(self, provider_video_id: str) -> ProviderJob: ...

    async def download(self, provider_video_id: str, variant: Variant) -> bytes: ...

    async def delete(self, provider_video_id: str) -> None:
        """Deletes the video and its assets at the provider. One the provider no longer has (a 404)
        is deleted already: success. The provider deletes only a completed or failed video: one
        still queued or in progress is refused (a ProviderError, not retryable)."""
        ...

    async def create_character(
        self, *, name: str, video: bytes, filename: str, content_type: str, idempotency_key: str
    ) -> str:
        """Registers a person's likeness from a video of them; the character's id, which prompts
        refer to as `@<id>`."""
        ...

    async def close(self) -> None: ...


class OpenAIVideoProvider:
    """Sora 2 through `AsyncOpenAI().videos`, against OpenAI or any compatible base URL."""

    name = "openai"

    def __init__(self, *, api_key: str, base_url: str | None, timeout_seconds: float) -> None:
        self._client = AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=httpx2.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds)),
        )

    async def create(
        self,
        *,
        prompt: str,
        model: str,
        seconds: int,
        size: str,
        input_reference: tuple[str, bytes, str] | None,
        idempotency_key: str,
    ) -> ProviderJob:
        extra: dict[str, Any] = {"input_reference": input_reference} if input_reference is not None else {}
        async with _call("create"):
            video = await self._client.videos.create(
                prompt=prompt,
                model=model,
                seconds=str(seconds),  # type: ignore[arg-type]
                size=size,  # type: ignore[arg-type]
                extra_headers={"Idempotency-Key": idempotency_key},
                **extra,
            )
        return _job(video)

    async def remix(self, provider_video_id: str, *, prompt: str, idempotency_key: str) -> ProviderJob:
        async with _call("remix"):
            video = await self._client.videos.remix(
                provider_video_id, prompt=prompt, extra_headers={"Idempotency-Key": idempotency_key}
            )
        return _job(video)

    async def retrieve(self, provider_video_id: str) -> ProviderJob:
        async with _call("retrieve"):
            video = await self._client.videos.retrieve(provider_video_id)
        return _job(video)

    async def download(self, provider_video_id: str, variant: Variant) -> bytes:
        async with _call("download"):
            content = await self._client.videos.download_content(provider_video_id, variant=variant)
        return content.content

    async def delete(self, provider_video_id: str) -> None:
        async with _call("delete"):
            try:
                await self._client.videos.delete(provider_video_id)
            except openai.NotFoundError:
                return  # deleted already (an earlier try whose answer was lost, or expired)

    async def create_character(
        self, *, name: str, video: bytes, filename: str, content_type: str, idempotency_key: str
    ) -> str:
        async with _call("create_character"):
            character = await self._client.videos.create_character(
                name=name,
                video=(filename, video, content_type),
                extra_headers={"Idempotency-Key": idempotency_key},
            )
        if not character.id:
            raise ProviderError(
                "provider_bad_response", "The video provider made a character without an id", retryable=False
            )
        return character.id

    async def close(self) -> None:
        await self._client.close()


def _job(video: openai.types.Video) -> ProviderJob:
    error = video.error
    return ProviderJob(
        id=video.id,
        status=video.status,
        progress=max(0, min(100, int(video.progress or 0))),
        error_code=error.code if error else None,
        error_message=error.message if error else None,
    )


@asynccontextmanager
async def _call(operation: str) -> AsyncIterator[None]:
    """One call to the provider: the SDK's exceptions become ProviderError (deciding what is worth
    retrying), and the call is counted and timed by outcome."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except openai.OpenAIError as exc:
        error = _translate(exc)
        outcome = error.code
        raise error from exc
    except ValueError as exc:
        # The SDK lets a body that claims to be JSON but is not escape as a plain ValueError.
        outcome = "provider_bad_response"
        raise ProviderError(
            "provider_bad_response", "The video provider sent an unreadable answer", retryable=True
        ) from exc
    except BaseException:
        outcome = "error"
        raise
    finally:
        PROVIDER_CALLS.labels(operation=operation, outcome=outcome).inc()
        PROVIDER_SECONDS.labels(operation=operation).observe(time.perf_counter() - started)


def _translate(exc: openai.OpenAIError) -> ProviderError:
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError("provider_timeout", "The video provider did not answer in time", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(
            "provider_unreachable", "The video provider could not be reached", retryable=True
        )
    if isinstance(exc, openai.APIResponseValidationError):
        return ProviderError(
            "provider_bad_response", "The video provider sent an unreadable answer", retryable=True
        )
    if isinstance(exc, openai.APIStatusError):
        return _obey_retry_hint(_status_error(exc), exc.response)
    return ProviderError("provider_error", str(exc), retryable=True)


def _status_error(exc: openai.APIStatusError) -> ProviderError:
    if isinstance(exc, openai.RateLimitError):
        return ProviderError(
            "provider_rate_limited",
            "The video provider is rate limiting requests",
            retryable=True,
            retry_after=_retry_after(exc.response),
        )
    code = _error_code(exc)
    if code in POLICY_CODES:
        return ProviderError(
            "content_policy",
            "The video provider refused this prompt under its content policy",
            retryable=False,
            blocked=True,
        )
    if exc.status_code == 408:
        return ProviderError(
            "provider_timeout",
            "The video provider timed out on the request",
            retryable=True,
            retry_after=_retry_after(exc.response),
        )
    # 409 is a lock timeout (or a request with the same Idempotency-Key still running): with the
    # SDK's own retries off, the statuses it would retry are retried here.
    if exc.status_code >= 500 or exc.status_code == 409:
        return ProviderError(
            "provider_error",
            f"The video provider failed ({exc.status_code})",
            retryable=True,
            retry_after=_retry_after(exc.response),
        )
    return ProviderError(
        "provider_rejected", f"The video provider refused the request: {exc.message}", retryable=False
    )


def _obey_retry_hint(error: ProviderError, response: httpx2.Response) -> ProviderError:
    """The provider's `x-should-retry` answer header outranks its status, as it does for the SDK's
    own retries: exactly `true` retries even a refusal, exactly `false` retries not even a 5xx."""
    hint = response.headers.get("x-should-retry")
    if hint == "true" and not error.retryable:
        return ProviderError(
            error.code,
            error.message,
            retryable=True,
            blocked=error.blocked,
            retry_after=_retry_after(response),
        )
    if hint == "false" and error.retryable:
        return ProviderError(error.code, error.message, retryable=False, blocked=error.blocked)
    return error


def _error_code(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("code"):
            return str(error["code"])
    return str(getattr(exc, "code", "") or "")


def _retry_after(response: httpx2.Response) -> float | None:
    headers = response.headers
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except ValueError:
        return None
    return None


def create_provider(settings: Settings, simulator_url: str | None = None) -> VideoProvider:
    """OpenAI (or OPENAI_BASE_URL) with a key; the local simulator without one."""
    if settings.openai_api_key:
        return OpenAIVideoProvider(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            timeout_seconds=settings.provider_timeout_seconds,
        )
    base_url = simulator_url or settings.openai_base_url
    if not base_url:
        raise RuntimeError(
            "no OPENAI_API_KEY and no simulator URL: start the simulator or set OPENAI_API_KEY"
        )
    return OpenAIVideoProvider(
        api_key="simulator", base_url=base_url, timeout_seconds=settings.provider_timeout_seconds
    )
