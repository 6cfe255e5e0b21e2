"""Asking for, listing and downloading personal data exports. Never commits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from app.byte_ranges import MediaAsk, MediaBody, open_media
from app.jobs import JobQueue
from app.pagination import CursorCodec, Page
from app.ratelimit import Usage
from app.security import SigningKeys
from app.settings import Settings
from app.storage import MediaNotFound, MediaStorage
from exports import queries
from exports.errors import ExportExpired, ExportInProgress, ExportNotFound, ExportNotReady
from exports.models import DataExport, ExportStatus
from exports.schemas import ExportError, ExportOut

BUILD_EXPORT_JOB = "exports.build"
# Build runs of one export (SAQ's retries, a worker that died, the sweep's re-enqueues) before it is
# given up as failed.
MAX_BUILD_ATTEMPTS = 3
BUILD_TIMEOUT_SECONDS = 1800


def build_job_key(export_id: UUID) -> str:
    return f"{BUILD_EXPORT_JOB}:{export_id}"


def archive_path(export_id: UUID | str) -> str:
    return f"/v1/me/exports/{export_id}/archive"


def to_schema(export: DataExport) -> ExportOut:
    ready = export.status == ExportStatus.READY.value
    error = None
    if export.status == ExportStatus.FAILED.value:
        error = ExportError(
            code=export.error_code or "export_failed",
            message=export.error_message or "The archive could not be built",
        )
    return ExportOut(
        id=str(export.id),
        status=export.status,  # type: ignore[arg-type]
        requested_at=export.created_at,
        completed_at=export.completed_at,
        expires_at=export.expires_at,
        size_bytes=export.size_bytes if ready else None,
        archive_url=archive_path(export.id) if ready else None,
        error=error,
    )


class ExportService:
    def __init__(
        self,
        session: AsyncSession,
        settings: Settings,
        keys: SigningKeys,
        storage: MediaStorage,
        jobs: JobQueue,
    ) -> None:
        self.session = session
        self.settings = settings
        self.keys = keys
        self.storage = storage
        self.jobs = jobs

    async def request(self, user: User) -> ExportOut:
        """A new pending export, built in the background once this transaction commits. 409
        export_in_progress while another is pending; 429 rate_limited past the setting's number per
        window (failed ones not counted)."""
        await queries.lock_exports_of(self.session, user.id)
        pending = await queries.pending_of(self.session, user.id)
        if pending is not None:
            raise ExportInProgress(f"Export {pending.id} is still being prepared; wait for it to finish")
        rule = self.settings.export_limit
        now = datetime.now(UTC)
        window = timedelta(seconds=rule.window_seconds)
        recent = await queries.counted_since(self.session, user.id, now - window)
        if len(recent) >= rule.limit:
            # Free again when the oldest export inside the window leaves it.
            reset = max(1, int((recent[0] + window - now).total_seconds()) + 1)
            raise Usage(
                limit=rule.limit,
                count=len(recent) + 1,
                reset_seconds=reset,
                window_ends_ms=int((recent[0] + window).timestamp() * 1000),
            ).error()
        export = DataExport(user_id=user.id, status=ExportStatus.PENDING.value)
        self.session.add(export)
        await self.session.flush()
        self.jobs.enqueue_after_commit(
            self.session,
            BUILD_EXPORT_JOB,
            key=build_job_key(export.id),
            timeout_seconds=BUILD_TIMEOUT_SECONDS,
            retries=MAX_BUILD_ATTEMPTS,
            export_id=str(export.id),
        )
        return to_schema(export)

    async def page(self, user: User, cursor: str | None, limit: int) -> Page[ExportOut]:
        codec = CursorCodec(self.keys, f"exports:{user.id}")
        after = codec.decode_position(cursor)
        rows = await queries.page(self.session, user.id, after, limit)
        items, more = rows[:limit], len(rows) > limit
        next_cursor = codec.encode_position(items[-1].created_at, items[-1].id) if more else None
        return Page(items=[to_schema(row) for row in items], next_cursor=next_cursor)

    async def one(self, user: User, raw_id: str) -> ExportOut:
        return to_schema(await self._own(user, raw_id))

    async def archive(self, user: User, raw_id: str, ask: MediaAsk) -> MediaBody:
        """The ready archive's bytes (a range of them when asked). 409 export_not_ready while
        pending or after a failure, 410 export_expired once expired."""
        export = await self._own(user, raw_id)
        if export.status == ExportStatus.EXPIRED.value or (
            export.status == ExportStatus.READY.value
            and export.expires_at is not None
            and export.expires_at <= datetime.now(UTC)
        ):
            raise ExportExpired("The archive has expired; ask for a new export")
        if export.status != ExportStatus.READY.value or export.archive_key is None:
            raise ExportNotReady(f"The export is {export.status}; its archive cannot be downloaded")
        try:
            return await open_media(self.storage, export.archive_key, ask)
        except MediaNotFound as exc:
            # Deleted by the expiry job a moment before its row says so.
            raise ExportExpired("The archive has expired; ask for a new export") from exc

    async def _own(self, user: User, raw_id: str) -> DataExport:
        try:
            export_id = UUID(raw_id)
        except ValueError as exc:
            raise ExportNotFound() from exc
        export = await self.session.get(DataExport, export_id)
        if export is None or export.user_id != user.id:
            raise ExportNotFound()
        return export
