"""Accepting generation requests: every refusal happens here, before anything is queued."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, time, timedelta
from uuid import UUID

import anyio.to_thread
import msgspec
from PIL import Image, ImageOps
from sqlalchemy.ext.asyncio import AsyncSession
from uuid_utils.compat import uuid7

from accounts.models import User
from app.errors import FieldError, NotAuthenticated, ValidationFailed
from app.idempotency import claim, request_fingerprint
from app.images import open_upload
from app.jobs import JobQueue
from app.pagination import CursorCodec, Page
from app.screening import ContentGate
from app.security import SigningKeys
from app.settings import Settings
from app.storage import MediaStorage
from cameo import casting
from cameo.casting import Cast
from cameo.errors import CameoPermissionDenied
from cameo.models import UseEvent
from feed.models import Video
from feed.service import cameos_in, remix_source
from generation import queries
from generation.errors import (
    GenerationNotFound,
    PromptRejected,
    QuotaExceeded,
    TooManyCameos,
)
from generation.models import Generation, GenerationStatus
from generation.references import store_reference
from generation.schemas import GenerationError, GenerationIn, GenerationOut, QuotaOut

MAX_CAMEOS = 2
IDEMPOTENCY_SCOPE = "POST /v1/generations"
ADVANCE_JOB = "generation.advance"


def advance_job_key(generation_id: UUID | str, suffix: int | str = 0) -> str:
    """One key per generation for its step chain (suffix 0); other suffixes are one-off steps
    (a webhook's), which may run beside the chain under the row lock."""
    return f"generation:{generation_id}" if suffix == 0 else f"generation:{generation_id}:{suffix}"


def to_schema(generation: Generation) -> GenerationOut:
    error = (
        GenerationError(code=generation.error_code, message=generation.error_message or "")
        if generation.error_code
        else None
    )
    return GenerationOut(
        id=str(generation.id),
        status=generation.status,  # type: ignore[arg-type]
        progress=generation.progress,
        prompt=generation.prompt,
        model=generation.model,  # type: ignore[arg-type]
        seconds=generation.seconds,  # type: ignore[arg-type]
        size=generation.size,  # type: ignore[arg-type]
        cameos=list(generation.cameos),
        remix_of=str(generation.remix_of_id) if generation.remix_of_id else None,
        video_id=str(generation.video_id) if generation.video_id else None,
        error=error,
        created_at=generation.created_at,
        completed_at=generation.completed_at,
    )


def fit_reference(data: bytes, size: str) -> bytes:
    """The reference image cropped and resized to exactly the requested video size (the provider
    requires equal dimensions), re-encoded as PNG without the upload's metadata. Blocking."""
    width, height = (int(part) for part in size.split("x"))
    image = open_upload(data).convert("RGB")
    fitted = ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    fitted.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _day_start(now: datetime) -> datetime:
    return datetime.combine(now.date(), time.min, tzinfo=UTC)


class GenerationService:
    def __init__(
        self,
        session: AsyncSession,
        settings: Settings,
        keys: SigningKeys,
        storage: MediaStorage,
        jobs: JobQueue,
        gate: ContentGate,
        provider_name: str,
    ) -> None:
        self.session = session
        self.settings = settings
        self.keys = keys
        self.storage = storage
        self.jobs = jobs
        self.gate = gate
        self.provider_name = provider_name

    async def request(
        self, user: User, data: GenerationIn, reference: bytes | None, idempotency_key: str | None
    ) -> GenerationOut:
        if not data.prompt.strip():
            # The provider refuses it as empty: the generation would fail, charged to the quota.
            raise ValidationFailed(
                "The prompt is empty", errors=[FieldError(field="prompt", message="1 to 4000 characters")]
            )
        reference_digest = hashlib.sha256(reference).hexdigest() if reference is not None else None
        idempotency = await claim(
            self.session,
            user_id=user.id,
            scope=IDEMPOTENCY_SCOPE,
            key=idempotency_key,
            fingerprint=request_fingerprint(data, reference_digest),
        )
        if idempotency.replay is not None:
            return _replayed(idempotency.replay.body)

        # Before anything else is spent (screening, quota): a refused cameo costs nothing.
        casts = await self._check_cameos(user, data.cameos)
        # A clear violation is 422 prompt_rejected; a borderline prompt is accepted and flagged.
        verdict = await self.gate.admit(data.prompt, kind="prompt", refusal=PromptRejected)
        remix_of_id: UUID | None = None
        if data.remix_of is not None:
            source = await remix_source(self.session, user, data.remix_of)
            remix_of_id = source.id
            casts += await self._inherited_casts(user, source, casts)
        if reference is not None:
            # Read without the lock, so a user already over the quota (the common refusal) is
            # answered before the image is fitted and stored; the locked check below decides.
            await self._check_quota(user)
        fitted = (
            await anyio.to_thread.run_sync(fit_reference, reference, data.size)
            if reference is not None
            else None
        )
        # Chosen here (a UUIDv7, as the model would) so the reference image has its key before the
        # row exists: it is stored before the quota lock, which the user's other requests wait for.
        generation_id = uuid7()
        input_reference_key = (
            await store_reference(self.session, self.storage, self.jobs, generation_id, fitted)
            if fitted is not None
            else None
        )
        if remix_of_id is not None:
            await queries.share_remix_source(self.session, remix_of_id)
            # Read again under that lock: the source may have been deleted, removed or closed to
            # remixes while the image was stored, and cannot change from here on.
            self.session.expire(source)
            await remix_source(self.session, user, remix_of_id)
        await casting.share(self.session, casts)
        await self._take_quota_slot(user)

        generation = Generation(
            id=generation_id,
            user_id=user.id,
            status=GenerationStatus.QUEUED.value,
            prompt=data.prompt,
            model=data.model,
            seconds=data.seconds,
            size=data.size,
            cameos=[cast.owner.username for cast in casts],
            cameo_ids=[cast.cameo.id for cast in casts],
            remix_of_id=remix_of_id,
            provider=self.provider_name,
            input_reference_key=input_reference_key,
        )
        self.session.add(generation)
        await self.session.flush()
        for cast in casts:
            casting.record(
                self.session, cast, caster_id=user.id, generation_id=generation.id, event=UseEvent.REQUESTED
            )
        self.jobs.enqueue_after_commit(
            self.session, ADVANCE_JOB, key=advance_job_key(generation.id, 0), generation_id=str(generation.id)
        )
        self.gate.flag_after_commit(
            self.session,
            verdict,
            target_type="generation",
            target_id=generation.id,
            text_kind="prompt",
            text=generation.prompt,
        )
        await self.session.flush()
        out = to_schema(generation)
        await idempotency.record(202, out)
        return out

    async def _check_cameos(self, user: User, cameos: list[str]) -> list[Cast]:
        """The cameos cast, in the order asked: at most two, each once, each one the caller may
        use now (403 cameo_permission_denied otherwise; checked again before the provider)."""
        if len(cameos) > MAX_CAMEOS:
            raise TooManyCameos(
                f"A generation may use at most {MAX_CAMEOS} cameos",
                errors=[FieldError(field="cameos", message=f"at most {MAX_CAMEOS}")],
            )
        if len(set(cameos)) != len(cameos):
            raise ValidationFailed(
                "Each cameo may appear once",
                errors=[FieldError(field="cameos", message="duplicate username")],
            )
        # No lock on the cameos yet: the prompt screening that follows may call a remote service,
        # and a revocation must not wait for it (they are shared just before the quota lock). One
        # committed after this check finds the generation (or the job's check before the provider
        # call finds the revocation) and cancels it.
        return await casting.authorize(
            self.session, user, cameos, teens_for_everyone=self.settings.teen_cameos_for_everyone
        )

    async def _inherited_casts(self, user: User, source: Video, asked: list[Cast]) -> list[Cast]:
        """A remix is made from the video it remixes, people included: each cameo that video
        features is cast again, by the caller, under the same rule as one asked for (403
        cameo_permission_denied, also when it has been revoked since), and counts towards the
        limit. So a cameo's owner decides who may remix their likeness, and sees the remix."""
        asked_ids = {cast.cameo.id for cast in asked}
        featured = await cameos_in(self.session, source)
        inherited = [cameo_id for cameo_id in featured if cameo_id not in asked_ids]
        if not inherited:
            return []
        if len(asked) + len(inherited) > MAX_CAMEOS:
            raise TooManyCameos(
                f"A video may feature at most {MAX_CAMEOS} cameos, and the one you remix already "
                f"features {len(inherited)} you did not ask for",
                errors=[FieldError(field="cameos", message=f"at most {MAX_CAMEOS} with the remixed video's")],
            )
        casts = await casting.recheck(
            self.session, user, inherited, teens_for_everyone=self.settings.teen_cameos_for_everyone
        )
        if len(casts) < len(inherited) or not all(cast.verdict.allowed for cast in casts):
            raise CameoPermissionDenied("The video you remix features a cameo you may not use")
        return casts

    async def _take_quota_slot(self, user: User) -> None:
        """Under the user's quota lock, which the account's deletion waits for (or which waits for
        it): the rows it locks first (the remixed video, the cameos) are held by now, and a
        deletion committed meanwhile is seen (401), so no generation is made for the tombstone."""
        if not await queries.lock_user_for_quota(self.session, user.id):
            raise NotAuthenticated("The account no longer exists")
        await self._check_quota(user)

    async def _check_quota(self, user: User) -> None:
        """429 quota_exceeded when the user has no generation left today. Only under the user's
        quota lock (`_take_quota_slot`) does a pass hold until the generation is recorded."""
        quota = await self.quota(user)
        if quota.remaining <= 0:
            retry_after = max(1, int((quota.resets_at - datetime.now(UTC)).total_seconds()))
            raise QuotaExceeded(
                f"You have used all {quota.limit} generations for today",
                headers={"Retry-After": str(retry_after)},
            )

    async def quota(self, user: User) -> QuotaOut:
        now = datetime.now(UTC)
        start = _day_start(now)
        used = await queries.count_since(self.session, user.id, start)
        limit = self.settings.daily_generation_limit
        return QuotaOut(
            limit=limit, used=used, remaining=max(0, limit - used), resets_at=start + timedelta(days=1)
        )

    async def get(self, user: User, generation_id: str) -> GenerationOut:
        return to_schema(await self.owned(user, generation_id))

    async def owned(self, user: User, generation_id: str) -> Generation:
        try:
            identifier = UUID(generation_id)
        except ValueError as exc:
            raise GenerationNotFound() from exc
        generation = await queries.owned(self.session, user.id, identifier)
        if generation is None:
            raise GenerationNotFound()
        return generation

    async def list(
        self, user: User, status: str | None, cursor: str | None, limit: int
    ) -> Page[GenerationOut]:
        codec = CursorCodec(self.keys, f"generations:{user.id}:{status}")
        after = codec.decode_position(cursor)
        rows = await queries.page(self.session, user_id=user.id, status=status, after=after, limit=limit)
        items, more = rows[:limit], len(rows) > limit
        next_cursor = codec.encode_position(items[-1].created_at, items[-1].id) if more else None
        return Page(items=[to_schema(row) for row in items], next_cursor=next_cursor)


def _replayed(body: dict[str, object]) -> GenerationOut:
    return msgspec.convert(body, GenerationOut, strict=False)
