"""The simulator's HTTP app: OpenAI's Videos and Moderations APIs under /v1, and a control API under
/_simulator.

/v1 speaks the real protocol closely enough for the unmodified `openai` SDK: multipart create,
JSON remix, OpenAI's error body, bearer auth, list pages, binary downloads, and text moderation
(POST /v1/moderations, scored by the trigger words in policy.py), and Idempotency-Key as a real
provider keeps it: bound to the first valid request sent with it (its endpoint and body), that
request's video made once, the key refused on any other request. /_simulator is for
tests: injected faults, a forced job failure, request counts and a reset.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import io
import logging
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import av
import httpx
import msgspec
from litestar import Litestar, Request, Response, delete, get, post
from litestar.datastructures import UploadFile
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from PIL import Image, UnidentifiedImageError

from generation.simulator import policy
from generation.simulator.protocol import (
    DEFAULT_MODERATION_MODEL,
    DEFAULT_SECONDS,
    DEFAULT_SIZE,
    IMAGE_CATEGORIES,
    LIST_LIMIT_DEFAULT,
    LIST_LIMIT_MAX,
    MODERATION_CATEGORIES,
    MODERATION_MODELS,
    MODERATION_SNAPSHOTS,
    SECONDS,
    SIZES,
    VARIANTS,
    ApiError,
    ModerationResponse,
    ModerationResult,
    VideoDeleted,
    VideoError,
    VideoList,
    check_choice,
    check_model,
    check_prompt,
    missing,
    not_found,
    size_pixels,
    unknown_parameter,
)
from generation.simulator.render import MediaCache
from generation.simulator.state import FailNextJob, Fault, Job, Operation, SimulatorState
from generation.simulator.webhooks import WebhookSender

log = logging.getLogger(__name__)

# How often the background task looks for jobs that have just finished (webhooks, prefetch).
WATCH_INTERVAL_SECONDS = 0.05
MAX_BODY_BYTES = 64 * 1024 * 1024
REFERENCE_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})  # as Pillow names them
CONTENT_TYPES = {"video": "video/mp4", "thumbnail": "image/webp", "spritesheet": "image/jpeg"}
# Labelled JSON but not JSON (a proxy's error page, cut short): the SDK fails to parse it rather than
# quietly handing back a string, which is what a non-JSON content type would get.
GARBAGE_BODY = b'<html><body><h1>502 Bad Gateway</h1></body></html>\n{"id": "video_'

# Set by the middleware for each request; before_request puts a delay fault's seconds in it.
_answer_delay: ContextVar[list[float] | None] = ContextVar("answer_delay", default=None)

CREATE_FIELDS = {"prompt", "model", "seconds", "size", "input_reference"}
REFERENCE_FIELDS = {"image_url", "file_id"}

NO_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)


class _Simulator:
    """State plus the parts that belong to a running event loop (media renders, webhooks)."""

    def __init__(self, state: SimulatorState, webhook_url: str | None, webhook_secret: str | None) -> None:
        self.state = state
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.media = MediaCache(on_render=self._count_render)
        self.sender: WebhookSender | None = None
        # Held while a request with an Idempotency-Key looks for, or makes, its job: racing
        # retries with one key must make one job.
        self._keyed = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None

    def one_at_a_time(self, idempotency_key: str | None) -> AbstractAsyncContextManager[object]:
        return self._keyed if idempotency_key else nullcontext()

    def _count_render(self) -> None:
        self.state.renders += 1

    def _count_delivered(self) -> None:
        self.state.webhooks_delivered += 1

    def _count_failed(self) -> None:
        self.state.webhooks_failed += 1

    async def start(self) -> None:
        # Made afresh inside the loop that will use them.
        self.media = MediaCache(on_render=self._count_render)
        self._keyed = asyncio.Lock()
        if self.webhook_url and self.webhook_secret:
            self.sender = WebhookSender(
                self.webhook_url,
                self.webhook_secret,
                on_delivered=self._count_delivered,
                on_failed=self._count_failed,
            )
        self._watcher = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        if self.sender is not None:
            await self.sender.close()

    async def _watch(self) -> None:
        """Act on each job once it is past its end: send its webhook, start rendering its media."""
        while True:
            try:
                self._finish_due(time.time())
            except Exception:  # keep watching: one bad pass must not stop every later webhook
                log.exception("the Sora simulator could not finish due jobs")
            await asyncio.sleep(WATCH_INTERVAL_SECONDS)

    def _finish_due(self, now: float) -> None:
        for job in list(self.state.jobs.values()):
            if job.finished or now < job.done_at:
                continue
            self.state.mark_finished(job)
            if job.failure is None and now < job.expires_at():
                self.media.prefetch(job.size, job.seconds, job.prompt)
            if self.sender is not None:
                self.sender.send("video.failed" if job.failure else "video.completed", job.id)


def create_simulator_app(
    *,
    seconds_per_video: float,
    state_dir: Path | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> Litestar:
    """A standalone app that simulates OpenAI's Sora 2 Videos API.

    Each job takes `seconds_per_video` from creation to its end. With `state_dir`, jobs survive a
    restart. With both `webhook_url` and `webhook_secret`, finished jobs are announced there.
    """
    if (webhook_url is None) != (webhook_secret is None):
        raise ValueError("give both webhook_url and webhook_secret, or neither")
    sim = _Simulator(
        SimulatorState(seconds_per_video=seconds_per_video, state_dir=state_dir), webhook_url, webhook_secret
    )
    state = sim.state

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await sim.start()
        try:
            yield
        finally:
            await sim.stop()

    async def before_request(request: Request[Any, Any, Any]) -> Response[bytes] | None:
        operation: Operation | None = request.route_handler.opt.get("operation")
        if operation is None:
            return None  # the control API: no key, no faults
        state.requests[operation] += 1
        _authenticate(request)
        fault = state.take_fault(operation)
        if fault is None:
            return None
        if fault.status is None and not fault.garbage:
            # A pure delay: the request is carried out now and only its answer is held back, so a
            # client that times out has still made its video (what Idempotency-Key is for).
            holder = _answer_delay.get()
            if holder is not None:
                holder[0] = fault.delay_seconds
            return None
        await asyncio.sleep(fault.delay_seconds)
        if fault.garbage:
            return Response(GARBAGE_BODY, status_code=200, media_type="application/json")
        return _error_response(_fault_error(fault))

    # /v1: the Videos API

    @post("/v1/videos", status_code=200, opt={"operation": "create"})
    async def create_video(request: Request[Any, Any, Any]) -> Response[bytes]:
        key = request.headers.get("idempotency-key")
        async with sim.one_at_a_time(key):
            fields = await _create_fields(request)
            prompt = check_prompt(_text(fields, "prompt"))
            model = check_model(_text(fields, "model"))
            seconds = check_choice("seconds", _text(fields, "seconds"), SECONDS, DEFAULT_SECONDS)
            size = check_choice("size", _text(fields, "size"), SIZES, DEFAULT_SIZE)
            reference = fields.get("input_reference")
            image = b""
            if reference is not None:
                image = await _reference_bytes(reference)
                _check_reference(image, size)
            _bind(state, key, "create", prompt, model, seconds, size, image)
            replayed = state.replay("create", key)
            if replayed is not None:
                return _video_response(replayed)
            job = state.create_job(
                prompt=_moderated(prompt),
                model=model,
                seconds=seconds,
                size=size,
                failure=_output_failure(prompt),
            )
            state.remember("create", key, job)
        return _video_response(job)

    @get("/v1/videos/{video_id:str}", opt={"operation": "retrieve"})
    async def retrieve_video(video_id: FromPath[str]) -> Response[bytes]:
        return _video_response(_job(state, video_id))

    @get("/v1/videos", opt={"operation": "list"})
    async def list_videos(request: Request[Any, Any, Any]) -> Response[bytes]:
        query = request.query_params
        limit = _limit(query.get("limit"))
        order = check_choice("order", query.get("order"), ("asc", "desc"), "desc")
        jobs = list(state.jobs.values())
        if order == "desc":
            jobs.reverse()
        after = query.get("after")
        if after:
            positions = {job.id: index for index, job in enumerate(jobs)}
            if after not in positions:
                raise ApiError(400, f"Invalid 'after': no video with id '{after}'.", param="after")
            jobs = jobs[positions[after] + 1 :]
        page, now = jobs[:limit], time.time()
        return _json(
            VideoList(
                object="list",
                data=[job.view(now) for job in page],
                first_id=page[0].id if page else None,
                last_id=page[-1].id if page else None,
                has_more=len(jobs) > limit,
            )
        )

    @delete("/v1/videos/{video_id:str}", status_code=200, opt={"operation": "delete"})
    async def delete_video(video_id: FromPath[str]) -> Response[bytes]:
        """As the real API documents it: a completed or failed video is deleted with its assets
        (later retrieves, downloads and remixes of it are 404); one still queued or in progress is
        refused, since the API has no way to cancel a render. What the real API answers then is
        not documented: here a 400, the request not carried out."""
        job = _job(state, video_id)
        status, _ = job.status_at(time.time())
        if status not in ("completed", "failed"):
            raise ApiError(
                400, f"Video '{video_id}' is {status}; only completed or failed videos can be deleted."
            )
        state.delete_job(video_id)
        return _json(VideoDeleted(id=video_id, object="video.deleted", deleted=True))

    @get("/v1/videos/{video_id:str}/content", opt={"operation": "content"})
    async def download_content(video_id: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
        variant = check_choice("variant", request.query_params.get("variant"), VARIANTS, "video")
        job = _job(state, video_id)
        now = time.time()
        status, _ = job.status_at(now)
        if status == "failed":
            raise ApiError(400, f"Video '{video_id}' failed to generate and has no content.")
        if status != "completed":
            raise ApiError(
                404, f"Video '{video_id}' is not ready yet, use GET /v1/videos/{video_id} to check status."
            )
        if now >= job.expires_at():
            raise ApiError(404, f"The content of video '{video_id}' has expired.")
        media = await sim.media.get(job.size, job.seconds, job.prompt)
        content = {"video": media.video, "thumbnail": media.thumbnail, "spritesheet": media.spritesheet}
        return Response(content[variant], media_type=CONTENT_TYPES[variant])

    @post("/v1/videos/{video_id:str}/remix", status_code=200, opt={"operation": "remix"})
    async def remix_video(video_id: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
        key = request.headers.get("idempotency-key")
        async with sim.one_at_a_time(key):
            body = await _json_body(request)
            for name in body:
                if name != "prompt":
                    raise unknown_parameter(name)
            prompt = check_prompt(_json_text(body, "prompt"))
            # Bound before the source is looked up: a remix refused for its source (gone, expired,
            # unfinished) has used its key all the same.
            _bind(state, key, f"remix:{video_id}", prompt)
            replayed = state.replay(f"remix:{video_id}", key)
            if replayed is not None:
                return _video_response(replayed)
            source = _job(state, video_id)
            status, _ = source.status_at(time.time())
            if status != "completed":
                raise ApiError(
                    400,
                    f"Video '{video_id}' is {status}; only completed videos can be remixed.",
                    param="video_id",
                )
            job = state.create_job(
                prompt=_moderated(prompt),
                model=source.model,
                seconds=source.seconds,
                size=source.size,
                remixed_from_video_id=source.id,
                failure=_output_failure(prompt),
            )
            state.remember(f"remix:{video_id}", key, job)
        return _video_response(job)

    @post("/v1/videos/characters", status_code=200, opt={"operation": "characters"})
    async def create_character(request: Request[Any, Any, Any]) -> Response[bytes]:
        key = request.headers.get("idempotency-key")
        async with sim.one_at_a_time(key):
            name, video = await _character_request(request)
            _bind(state, key, "characters", name, video)
            replayed = state.replay_character(key)
            if replayed is not None:
                return _json(replayed)
            return _json(state.add_character(name, key))

    @get("/v1/videos/characters/{character_id:str}", opt={"operation": "characters"})
    async def get_character(character_id: FromPath[str]) -> Response[bytes]:
        character = state.characters.get(character_id)
        if character is None:
            raise not_found("Character", character_id)
        return _json(character)

    # /v1/moderations: text (and image) moderation

    @post("/v1/moderations", status_code=200, opt={"operation": "moderations"})
    async def create_moderation(request: Request[Any, Any, Any]) -> Response[bytes]:
        body = await _json_body(request)
        for name in body:
            if name not in ("input", "model"):
                raise unknown_parameter(name)
        model = _json_text(body, "model") or DEFAULT_MODERATION_MODEL
        if model not in MODERATION_MODELS:
            raise ApiError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                param="model",
                code="model_not_found",
            )
        if "input" not in body:
            raise missing("input")
        inputs = _moderation_inputs(body["input"], omni=model.startswith("omni-"))
        return _json(
            ModerationResponse(
                id=f"modr-{secrets.token_hex(16)}",
                model=MODERATION_SNAPSHOTS.get(model, model),
                results=[_moderation_result(text, with_image) for text, with_image in inputs],
            )
        )

    # /_simulator: the control API

    @post("/_simulator/faults", status_code=200)
    async def add_fault(request: Request[Any, Any, Any]) -> Response[bytes]:
        fault = _decode(await request.body(), Fault)
        if fault.status is not None and not 400 <= fault.status <= 599:
            raise ApiError(400, "status must be an HTTP error status (400-599).", param="status")
        if fault.times < 1:
            raise ApiError(400, "times must be at least 1.", param="times")
        if fault.status is None and not fault.garbage and fault.delay_seconds <= 0:
            raise ApiError(400, "a fault needs a status, garbage or a delay_seconds.")
        state.faults.append(fault)
        return _json({"faults": state.faults})

    @delete("/_simulator/faults", status_code=200)
    async def clear_faults() -> Response[bytes]:
        state.faults.clear()
        return _json({"faults": state.faults})

    @post("/_simulator/fail-next-job", status_code=200)
    async def fail_next_job(request: Request[Any, Any, Any]) -> Response[bytes]:
        body = await request.body()
        wanted = _decode(body, FailNextJob) if body.strip() else FailNextJob()
        state.set_fail_next(VideoError(code=wanted.code, message=wanted.message))
        return _json({"fail_next": state.fail_next})

    @get("/_simulator/stats")
    async def stats() -> Response[bytes]:
        return _json(state.stats())

    @post("/_simulator/reset", status_code=200)
    async def reset() -> Response[bytes]:
        state.reset()
        sim.media.clear()
        return _json({"reset": True})

    return Litestar(
        route_handlers=[
            create_video,
            retrieve_video,
            list_videos,
            delete_video,
            download_content,
            remix_video,
            create_character,
            get_character,
            create_moderation,
            add_fault,
            clear_faults,
            fail_next_job,
            stats,
            reset,
        ],
        lifespan=[lifespan],
        before_request=before_request,
        exception_handlers={
            ApiError: _api_error_handler,
            HTTPException: _http_error_handler,
            Exception: _server_error_handler,
        },
        middleware=[_answer_middleware],
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=None,
        logging_config=None,  # it runs inside other processes (serve, tests): their logging stands
        debug=False,
    )


# Requests


def _authenticate(request: Request[Any, Any, Any]) -> None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, NO_KEY_MESSAGE)


def _bind(state: SimulatorState, key: str | None, endpoint: str, *body: str | bytes) -> None:
    """Binds `key` to this request (its endpoint and body) if it is its first, as a real
    provider's Idempotency-Key is; a key first used with another request is refused (400), never
    answered as that request nor carried out as a new one. Called once the request is valid:
    a request refused for its parameters binds nothing, and may be sent again corrected."""
    if not key:
        return
    digest = hashlib.sha256()
    for part in body:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    if not state.bind(key, f"{endpoint} {digest.hexdigest()}"):
        raise ApiError(
            400,
            f"Idempotency-Key '{key}' was first used with another request (another endpoint or "
            "other parameters); send a new request with a key of its own.",
            code="idempotency_key_reused",
        )


def _job(state: SimulatorState, video_id: str) -> Job:
    job = state.jobs.get(video_id)
    if job is None:
        raise not_found("Video", video_id)
    return job


def _moderated(prompt: str) -> str:
    word = policy.blocked_word(prompt)
    if word is not None:
        raise ApiError(400, policy.INPUT_BLOCKED_MESSAGE, code="moderation_blocked")
    return prompt


def _output_failure(prompt: str) -> VideoError | None:
    if policy.blocks_output(prompt):
        return VideoError(code="moderation_blocked", message=policy.OUTPUT_BLOCKED_MESSAGE)
    return None


def _moderation_inputs(raw: object, *, omni: bool) -> list[tuple[str, bool]]:
    """(text, has an image) per result: a string is one; a list of strings is one each; a list of
    multi-modal parts ({"type": "text", "text"} or {"type": "image_url", "image_url": {"url"}})
    is one for all of them together, as the real API answers."""
    if isinstance(raw, str):
        return [(raw, False)]
    if not isinstance(raw, list):
        raise ApiError(
            400,
            "Invalid type for 'input': expected a string, an array of strings, or an array of objects.",
            param="input",
            code="invalid_type",
        )
    if not raw:
        raise ApiError(
            400,
            "Invalid 'input': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param="input",
            code="empty_array",
        )
    if all(isinstance(item, str) for item in raw):
        return [(item, False) for item in raw]
    texts: list[str] = []
    with_image = False
    for index, part in enumerate(raw):
        param = f"input[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url" and isinstance(part.get("image_url"), dict) and part["image_url"].get("url"):
            if not omni:
                raise ApiError(400, "Image inputs are only supported by omni-moderation models.", param=param)
            with_image = True
        else:
            raise ApiError(
                400,
                f"Invalid '{param}': expected a string, or an object of type 'text' (with 'text') "
                "or 'image_url' (with 'image_url.url'); every item must be of the same kind.",
                param=param,
                code="invalid_type",
            )
    return [("\n".join(texts), with_image)]


def _moderation_result(text: str, with_image: bool) -> ModerationResult:
    scores = policy.moderation_scores(text)
    marked = {
        category: scores[category] >= policy.MODERATION_FLAG_SCORE for category in MODERATION_CATEGORIES
    }
    applied = {
        category: ["text", "image"] if with_image and category in IMAGE_CATEGORIES else ["text"]
        for category in MODERATION_CATEGORIES
    }
    return ModerationResult(
        flagged=any(marked.values()),
        categories=marked,
        category_scores=scores,
        category_applied_input_types=applied,
    )


async def _create_fields(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The create body, multipart (what the SDK sends) or JSON, with input_reference gathered up."""
    if request.content_type[0] == "application/json":
        body = await _json_body(request)
        for name in body:
            if name not in CREATE_FIELDS:
                raise unknown_parameter(name)
        for name in ("prompt", "model", "seconds", "size"):
            _json_text(body, name)
        return body
    form = await request.form()
    fields: dict[str, Any] = {}
    reference: dict[str, str] = {}
    for name, value in form.multi_items():
        if name.startswith("input_reference[") and name.endswith("]"):
            part = name[len("input_reference[") : -1]
            if part not in REFERENCE_FIELDS:
                raise unknown_parameter(name)
            reference[part] = value if isinstance(value, str) else ""
        elif name in CREATE_FIELDS:
            fields[name] = value
        else:
            raise unknown_parameter(name)
    if reference:
        fields["input_reference"] = reference
    return fields


def _text(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None or isinstance(value, str):
        return value
    raise ApiError(400, f"Invalid type for '{name}': expected a string.", param=name, code="invalid_type")


def _json_text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    kind = {bool: "a boolean", int: "an integer", float: "a decimal", list: "an array", dict: "an object"}
    got = kind.get(type(value), "another type")
    expected = "one of '4', '8', or '12'" if name == "seconds" else "a string"
    raise ApiError(
        400,
        f"Invalid type for '{name}': expected {expected}, but got {got} instead.",
        param=name,
        code="invalid_type",
    )


async def _json_body(request: Request[Any, Any, Any]) -> dict[str, Any]:
    try:
        body = msgspec.json.decode(await request.body())
    except msgspec.DecodeError:
        raise ApiError(
            400,
            "We could not parse the JSON body of your request. The OpenAI API expects a JSON payload.",
        ) from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body


def _limit(raw: str | None) -> int:
    if raw is None:
        return LIST_LIMIT_DEFAULT
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(
            400, f"Invalid 'limit': expected an integer, but got '{raw}'.", param="limit", code="invalid_type"
        ) from None
    if limit < 1:
        raise ApiError(
            400,
            f"Invalid 'limit': integer below minimum value. Expected a value >= 1, but got {limit} instead.",
            param="limit",
            code="integer_below_min_value",
        )
    if limit > LIST_LIMIT_MAX:
        raise ApiError(
            400,
            f"Invalid 'limit': integer above maximum value. Expected a value <= {LIST_LIMIT_MAX}, "
            f"but got {limit} instead.",
            param="limit",
            code="integer_above_max_value",
        )
    return limit


async def _reference_bytes(reference: object) -> bytes:
    """The bytes of input_reference: an uploaded file, or {"image_url"} (data: or http URL)."""
    if isinstance(reference, UploadFile):
        return await reference.read()
    if isinstance(reference, dict):
        if reference.get("file_id"):
            raise ApiError(
                400,
                f"No file found with id '{reference['file_id']}'. The simulator has no Files API; "
                "upload the image or pass an image_url.",
                param="input_reference",
                code="invalid_value",
            )
        url = reference.get("image_url")
        if isinstance(url, str) and url:
            return await _fetch_image(url)
    raise ApiError(
        400,
        "Invalid 'input_reference': expected an image file, or an object with an image_url.",
        param="input_reference",
        code="invalid_type",
    )


async def _fetch_image(url: str) -> bytes:
    if url.startswith("data:"):
        header, _, payload = url.partition(",")
        try:
            if header.endswith(";base64"):
                return base64.b64decode(payload, validate=True)
        except binascii.Error:
            pass
        raise ApiError(
            400, "Invalid 'input_reference.image_url': not a base64 data URL.", param="input_reference"
        )
    if not url.startswith(("http://", "https://")):
        raise ApiError(400, "Invalid 'input_reference.image_url': not a URL.", param="input_reference")
    try:
        async with httpx.AsyncClient(timeout=10.0, follow_redirects=True) as client:
            response = await client.get(url)
            response.raise_for_status()
    except httpx.HTTPError:
        raise ApiError(
            400, f"Could not download the image at '{url}'.", param="input_reference", code="invalid_value"
        ) from None
    return response.content


def _check_reference(data: bytes, size: str) -> None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format, dimensions = image.format, image.size
    except (UnidentifiedImageError, OSError):
        image_format, dimensions = None, (0, 0)
    if image_format not in REFERENCE_FORMATS:
        raise ApiError(
            400,
            "Invalid file 'input_reference': unsupported image format. Supported file formats are "
            "'image/jpeg', 'image/png', and 'image/webp'.",
            param="input_reference",
            code="invalid_value",
        )
    if dimensions != size_pixels(size):
        # The real API says exactly this (with param and code null); the param is named here.
        raise ApiError(
            400, "Inpaint image must match the requested width and height", param="input_reference"
        )


async def _character_request(request: Request[Any, Any, Any]) -> tuple[str, bytes]:
    """The name and video of a valid create-character request."""
    form = await request.form()
    for field in form:
        if field not in ("name", "video"):
            raise unknown_parameter(field)
    name = _text(form, "name")
    if name is None:
        raise missing("name")
    if not name.strip():
        raise ApiError(400, "Invalid 'name': empty string.", param="name", code="empty_string")
    upload = form.get("video")
    if upload is None:
        raise missing("video")
    if not isinstance(upload, UploadFile):
        raise ApiError(400, "Invalid 'video': expected a file upload.", param="video", code="invalid_type")
    data = await upload.read()
    if not await asyncio.to_thread(_is_video, data):
        raise ApiError(
            400, "Invalid 'video': the file is not a readable video.", param="video", code="invalid_value"
        )
    return name, data


def _is_video(data: bytes) -> bool:
    try:
        with av.open(io.BytesIO(data)) as container:
            # A still image opens as a one-frame "video" without a duration; a clip has one.
            return isinstance(container, av.container.InputContainer) and bool(
                container.streams.video and container.duration
            )
    except (av.FFmpegError, ValueError):
        return False


def _decode(body: bytes, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(body, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ApiError(400, f"Invalid control request: {exc}") from None


# Responses


def _json(value: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response[bytes]:
    return Response(
        msgspec.json.encode(value), status_code=status, media_type="application/json", headers=headers
    )


def _video_response(job: Job) -> Response[bytes]:
    return _json(job.view(time.time()))


def _error_response(error: ApiError) -> Response[bytes]:
    return _json(error.body(), status=error.status, headers=error.headers)


def _fault_error(fault: Fault) -> ApiError:
    status = fault.status or 500
    headers = {"retry-after": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
    if fault.should_retry is not None:
        # OpenAI's own hint, which the SDK obeys over the status when deciding to retry.
        headers["x-should-retry"] = "true" if fault.should_retry else "false"
    if status == 429:
        return ApiError(
            429,
            "Rate limit reached for requests. Please try again later.",
            type="requests",
            code="rate_limit_exceeded",
            headers=headers,
        )
    if status >= 500:
        message = (
            "The server had an error while processing your request. Sorry about that!"
            if status == 500
            else "The server is overloaded or not ready yet."
        )
        return ApiError(status, message, type="server_error", headers=headers)
    return ApiError(status, f"Simulated {status} error.", code=fault.code, headers=headers)


def _api_error_handler(_: Request[Any, Any, Any], exc: ApiError) -> Response[bytes]:
    return _error_response(exc)


def _http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    """Litestar's own refusals (unknown route, wrong method, oversized body) in OpenAI's shape."""
    kind = "server_error" if exc.status_code >= 500 else "invalid_request_error"
    message = exc.detail
    if exc.status_code == 404:
        message = f"Invalid URL ({request.method} {request.url.path})"  # OpenAI's words for it
    return _error_response(ApiError(exc.status_code, message, type=kind, headers=exc.headers))


def _server_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """A bug in the simulator: logged, and answered as OpenAI answers its own failures."""
    log.error("the Sora simulator failed on %s %s", request.method, request.url.path, exc_info=exc)
    return _error_response(
        ApiError(
            500,
            "The server had an error while processing your request. Sorry about that!",
            type="server_error",
        )
    )


def _answer_middleware(app: ASGIApp) -> ASGIApp:
    """Adds an x-request-id to every answer, as OpenAI does (the SDK exposes it on errors), and
    holds the answer back when a delay fault asks for it."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        delay = [0.0]

        async def send_answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                if delay[0] > 0:
                    await asyncio.sleep(delay[0])
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", f"req_{secrets.token_hex(16)}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        token = _answer_delay.set(delay)
        try:
            await app(scope, receive, send_answer)
        finally:
            _answer_delay.reset(token)

    return middleware
