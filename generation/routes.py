"""HTTP routes of generation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import State, UploadFile
from litestar.di import NamedDependency, Provide
from litestar.openapi.spec import OpenAPIMediaType, Operation, Reference, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.params import FromPath, FromQuery
from litestar.response import ServerSentEvent
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from accounts.deps import ACTIVE_USER_DEPENDENCY, ActiveUser, CurrentUser
from app.bodies import refuse_duplicate_keys
from app.dependencies import DbSession, SettingsDep, StorageDep
from app.errors import MalformedRequest, given_more_than_once, problem_responses, validation_failed_from
from app.idempotency import IdempotencyKeyHeader
from app.images import MAX_IMAGE_BYTES, UnsupportedMedia
from app.multipart import file_expected, read_form
from app.pagination import DEFAULT_LIMIT, CursorParam, LimitParam, Page
from app.ratelimit import EXEMPT_FROM_WRITE_LIMITS, EXPENSIVE_READ_LIMITS
from app.resources import Resources
from app.screening import content_gate_for
from app.security import PUBLIC
from generation.jobs import provider_for
from generation.schemas import GenerationIn, GenerationOut, QuotaOut, Status
from generation.service import GenerationService
from generation.streams import StreamLease, progress_events
from generation.webhooks import accept_webhook

# A 10 MB reference image plus the other fields and multipart framing.
GENERATION_MAX_BODY = MAX_IMAGE_BYTES + 512 * 1024


def provide_generation_service(
    db_session: DbSession, settings: SettingsDep, storage: StorageDep, resources: NamedDependency[Resources]
) -> GenerationService:
    return GenerationService(
        db_session,
        settings,
        resources.signing_keys,
        storage,
        resources.jobs,
        content_gate_for(resources),
        provider_for(resources).name,
    )


Generations = NamedDependency[GenerationService]


async def read_generation_request(request: Request[Any, Any, Any]) -> tuple[GenerationIn, bytes | None]:
    """JSON, or multipart with the same fields plus an `input_reference` image."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        body = await request.body()
        try:
            data = msgspec.json.decode(body, type=GenerationIn)
        except msgspec.ValidationError as exc:
            raise validation_failed_from(exc) from exc
        except msgspec.DecodeError as exc:
            raise MalformedRequest(f"JSON is malformed: {exc}") from exc
        refuse_duplicate_keys(body)
        return data, None
    if content_type == "multipart/form-data":
        form = await read_form(request)
        fields: dict[str, Any] = {}
        reference: bytes | None = None
        for name, value in form.multi_items():
            if name == "cameos":  # the one list: a part per username
                fields.setdefault("cameos", []).append(value)
                continue
            if name in fields or (name == "input_reference" and reference is not None):
                raise given_more_than_once(name)  # as a JSON key given twice
            if name == "input_reference":
                if not isinstance(value, UploadFile):
                    raise file_expected(name)
                reference = await value.read()
            else:  # a file part anywhere else is refused like an unknown field or a wrong type
                fields[name] = value
        try:
            return msgspec.convert(fields, GenerationIn, strict=False), reference
        except msgspec.ValidationError as exc:
            raise validation_failed_from(exc) from exc
    raise UnsupportedMedia("Send application/json, or multipart/form-data with an input_reference image")


_FIELDS: dict[str, Schema | Reference] = {
    "prompt": Schema(type=OpenAPIType.STRING, min_length=1, max_length=4000),
    "model": Schema(type=OpenAPIType.STRING, enum=["sora-2", "sora-2-pro"], default="sora-2"),
    "seconds": Schema(type=OpenAPIType.INTEGER, enum=[4, 8, 12], default=8),
    "size": Schema(
        type=OpenAPIType.STRING, enum=["720x1280", "1280x720", "1024x1792", "1792x1024"], default="720x1280"
    ),
    "cameos": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.STRING), max_items=2),
    "remix_of": Schema(one_of=[Schema(type=OpenAPIType.STRING), Schema(type=OpenAPIType.NULL)]),
}


@dataclass
class GenerationRequestOperation(Operation):
    """Documents the two bodies POST /v1/generations takes."""

    def __post_init__(self) -> None:
        multipart = dict(_FIELDS)
        multipart["input_reference"] = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
        self.request_body = RequestBody(
            required=True,
            content={
                # Unknown fields are refused (422), in either form.
                "application/json": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        properties=_FIELDS,
                        required=["prompt"],
                        additional_properties=False,
                    )
                ),
                "multipart/form-data": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        properties=multipart,
                        required=["prompt"],
                        additional_properties=False,
                    )
                ),
            },
        )


class GenerationController(Controller):
    path = "/v1/generations"
    tags = ["generation"]
    security = [{"bearer": []}]
    dependencies = {
        "generations": Provide(provide_generation_service, sync_to_thread=False),
        **ACTIVE_USER_DEPENDENCY,
    }

    @post(
        "/",
        status_code=HTTP_202_ACCEPTED,
        request_max_body_size=GENERATION_MAX_BODY,
        opt={"too_large_code": "image_too_large"},
        operation_class=GenerationRequestOperation,
        responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429),
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        active_user: ActiveUser,
        generations: Generations,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> GenerationOut:
        """Ask for a video. Answers at once with the queued generation; follow it with GET or the
        event stream. With an Idempotency-Key, a repeat of the same request answers the first
        generation again. The prompt is screened first: a clear violation is 422 prompt_rejected,
        a borderline one is accepted and queued for review. 403 account_suspended while the
        caller is suspended. In multipart, `input_reference` is a part with a filename or an image
        Content-Type; 413 image_too_large for a larger image or body, 413 request_too_large for a
        body over a part limit (more than 32 parts, a part header line over 4224 bytes or more
        than 8 of them)."""
        data, reference = await read_generation_request(request)
        return await generations.request(active_user, data, reference, idempotency_key)

    @get("/", responses=problem_responses(400, 401, 422))
    async def list_generations(
        self,
        current_user: CurrentUser,
        generations: Generations,
        status: FromQuery[Status | None] = None,
        limit: LimitParam = DEFAULT_LIMIT,
        cursor: CursorParam = None,
    ) -> Page[GenerationOut]:
        """The caller's generations, newest first."""
        return await generations.list(current_user, status, cursor, limit)

    @get("/{generation_id:str}", responses=problem_responses(401, 404, 422))
    async def get_generation(
        self, generation_id: FromPath[str], current_user: CurrentUser, generations: Generations
    ) -> GenerationOut:
        """One of the caller's generations."""
        return await generations.get(current_user, generation_id)

    @get(
        "/{generation_id:str}/events",
        media_type="text/event-stream",
        responses=problem_responses(401, 404, 422, 429),
        opt={"rate_limits": EXPENSIVE_READ_LIMITS},
    )
    async def events(
        self, generation_id: FromPath[str], current_user: CurrentUser, generations: Generations, state: State
    ) -> ServerSentEvent:
        """Server-sent events: `progress` while it runs, then one `completed`, `failed`, `blocked`
        or `cancelled` event, and the stream ends. A user holds at most
        REMIXFEED_PROGRESS_STREAMS_PER_USER streams at once (429 `too_many_streams`)."""
        generation = await generations.owned(current_user, generation_id)
        resources: Resources = state.resources
        lease = await StreamLease.take(resources, current_user.id)
        return ServerSentEvent(progress_events(resources, generation.id, lease))


class QuotaController(Controller):
    path = "/v1/me/quota"
    tags = ["generation"]
    security = [{"bearer": []}]
    dependencies = {"generations": Provide(provide_generation_service, sync_to_thread=False)}

    @get("/", responses=problem_responses(401, 422))
    async def quota(self, current_user: CurrentUser, generations: Generations) -> QuotaOut:
        """Today's generations: the daily limit, how many are used, and when the count resets
        (midnight UTC)."""
        return await generations.quota(current_user)


@post(
    "/v1/webhooks/sora",
    status_code=HTTP_204_NO_CONTENT,
    tags=["generation"],
    # Authenticated by its signature instead; the provider's deliveries are not the client writes
    # the write limits are for, and a refused one would only be retried.
    opt={PUBLIC: True, EXEMPT_FROM_WRITE_LIMITS: True},
    request_max_body_size=256 * 1024,
    responses=problem_responses(400, 404, 413),
)
async def sora_webhook(
    request: Request[Any, Any, Any], db_session: DbSession, resources: NamedDependency[Resources]
) -> None:
    """Provider callbacks (Standard Webhooks signatures, OPENAI_WEBHOOK_SECRET). A verified
    `video.completed` or `video.failed` moves the matching generation on at once; duplicates are
    harmless, and polling covers any callback that never comes."""
    body = await request.body()
    await accept_webhook(db_session, resources, provider_for(resources).name, body, dict(request.headers))


route_handlers = [GenerationController, QuotaController, sora_webhook]
