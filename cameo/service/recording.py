"""The verification recording: accepted only as a real MP4, MOV or WebM video of 2 to 20 seconds
and at most 25 MB, recognised by its content (never by the name or type the client gave), probed
with PyAV in a worker thread, stored privately, and readable only by its owner and moderators.

Accepting one puts the cameo in `pending_review` and calls `cameo.hooks.recording_submitted`,
where moderation files the verification item.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from fractions import Fraction

import anyio.to_thread
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.deps import suspension_error
from accounts.models import Role, User
from app.byte_ranges import MediaAsk, MediaBody, open_media
from app.db import after_rollback, commit_outcome_unknown, confirming_transaction
from app.errors import FieldError
from app.images import UnsupportedMedia
from app.media_deletion import MediaDeletions
from app.storage import MediaNotFound, MediaStorage
from cameo import hooks, queries
from cameo.errors import (
    CameoNotAwaitingRecording,
    CameoNotFound,
    ChallengeExpired,
    InvalidRecording,
    RecordingNotFound,
    RecordingTooLarge,
)
from cameo.models import Cameo, CameoStatus
from cameo.schemas import CameoOut
from cameo.service.owned import own_cameo, parse_cameo_id
from cameo.service.present import present_owner_view

MAX_RECORDING_BYTES = 25 * 1024 * 1024
MIN_SECONDS = 2.0
MAX_SECONDS = 20.0
MAX_SIDE = 4096
# Demuxing stops after this many packets (20 s at 240 fps is 4800): a file claiming more is refused.
MAX_PACKETS = 20_000
# Frames found may fall this short of the length the container claims before it counts as truncated.
TRUNCATION_SLACK_SECONDS = 1.0

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Kind:
    extension: str
    content_type: str
    demuxer: str  # the FFmpeg demuxer to open it with, so nothing else gets to guess


MP4 = Kind("mp4", "video/mp4", "mov")
MOV = Kind("mov", "video/quicktime", "mov")
WEBM = Kind("webm", "video/webm", "matroska")

_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
# ISO base media files start with a box whose type is at bytes 4-8; QuickTime files written
# without an `ftyp` box start with one of these instead.
_QUICKTIME_FIRST_BOXES = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")


@dataclass(frozen=True)
class Probe:
    seconds: float
    width: int
    height: int


def sniff(data: bytes) -> Kind | None:
    """MP4, MOV or WebM from the first bytes, or None for anything else."""
    box = data[4:8]
    if box == b"ftyp":
        return MOV if data[8:12] == b"qt  " else MP4
    if box in _QUICKTIME_FIRST_BOXES:
        return MOV
    # WebM is Matroska with DocType "webm", declared in the EBML header at the start.
    if data.startswith(_EBML_MAGIC) and b"webm" in data[:64]:
        return WEBM
    return None


def _invalid(message: str) -> InvalidRecording:
    return InvalidRecording(message, errors=[FieldError(field="file", message=message)])


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None or value <= 0:
        return None
    return float(value * time_base)


def probe(data: bytes, kind: Kind) -> Probe:
    """Open the upload as `kind`, require a decodable video stream of sane dimensions, and measure
    its length. Blocking: call it in a worker thread. Whatever FFmpeg makes of a corrupt, truncated
    or hostile file ends in 422 invalid_recording."""
    # Imported here: PyAV and its FFmpeg libraries cost an API process tens of MB, and most
    # processes never probe a recording.
    import av

    try:
        with av.open(io.BytesIO(data), mode="r", format=kind.demuxer) as container:
            if not container.streams.video:
                raise _invalid("The file has no video in it")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            if width > MAX_SIDE or height > MAX_SIDE:
                raise _invalid(f"The video may be at most {MAX_SIDE} pixels on a side")
            # The video stream's own length when the container records it, else the container's.
            seconds = _seconds(stream.duration, stream.time_base) or _seconds(
                container.duration, Fraction(1, av.time_base)
            )
            first: float | None = None
            last: float | None = None
            packets = 0
            decoded = None
            for packet in container.demux(stream):
                if packet.size == 0:  # the flushing packet at the end
                    continue
                packets += 1
                if packets > MAX_PACKETS:
                    raise _invalid("The video has too many frames")
                if packet.pts is not None and packet.time_base is not None:
                    start = float(packet.pts * packet.time_base)
                    end = start + float((packet.duration or 0) * packet.time_base)
                    first = start if first is None else min(first, start)
                    last = end if last is None else max(last, end)
                if decoded is None:
                    frames = stream.codec_context.decode(packet)
                    decoded = frames[0] if frames else None
            if packets == 0:
                raise _invalid("The video has no frames")
            if decoded is None:  # the decoder may hold its first frames back until flushed
                frames = stream.codec_context.decode(None)
                decoded = frames[0] if frames else None
            if decoded is None:
                raise _invalid("No frame of the video could be decoded")
            span = last - first if first is not None and last is not None else None
            if seconds is None:
                seconds = span
            elif span is not None and span + TRUNCATION_SLACK_SECONDS < seconds:
                raise _invalid(
                    f"The video is truncated: it holds {span:.1f} s of the {seconds:.1f} s it claims"
                )
            elif span is not None and span > seconds + TRUNCATION_SLACK_SECONDS:
                # Its frames last longer than its header says: the frames are what gets played, so
                # a long video cannot pass as a short one by understating its length.
                seconds = span
            width, height = width or decoded.width, height or decoded.height
    except InvalidRecording:
        raise
    except Exception as exc:  # av.error.FFmpegError, and whatever else a hostile file provokes
        raise _invalid("The file is corrupt, truncated or not a video") from exc
    if width <= 0 or height <= 0 or width > MAX_SIDE or height > MAX_SIDE:
        raise _invalid(f"The video must be 1 to {MAX_SIDE} pixels on a side")
    if seconds is None:
        raise _invalid("The length of the video could not be read")
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise _invalid(f"The video is {seconds:.1f} s long; it must be {MIN_SECONDS:g} to {MAX_SECONDS:g} s")
    return Probe(seconds=round(seconds, 3), width=width, height=height)


def check_upload(data: bytes) -> tuple[Kind, Probe]:
    """The size, type and content checks, in that order. Blocking: call it in a worker thread."""
    if len(data) > MAX_RECORDING_BYTES:
        raise RecordingTooLarge("The recording may be at most 25 MB")
    kind = sniff(data)
    if kind is None:
        raise UnsupportedMedia("Upload the recording as an MP4, MOV or WebM video")
    return kind, probe(data, kind)


class RecordingService:
    def __init__(self, session: AsyncSession, storage: MediaStorage, deletions: MediaDeletions) -> None:
        self.session = session
        self.storage = storage
        self.deletions = deletions

    async def submit(self, owner: User, cameo_id: str, data: bytes) -> CameoOut:
        """Accept the recording answering the cameo's current challenge: the cameo awaits review."""
        cameo = await own_cameo(self.session, owner, cameo_id, lock=False)
        self._check_accepting(cameo, datetime.now(UTC))
        kind, measured = await anyio.to_thread.run_sync(check_upload, data)
        # Again under the row lock: a concurrent upload or challenge may have changed it meanwhile.
        cameo = await own_cameo(self.session, owner, cameo_id, lock=True)
        self._check_accepting(cameo, datetime.now(UTC))
        key = f"cameos/{cameo.id}/recording-{uuid.uuid4().hex}.{kind.extension}"
        previous = cameo.recording_key
        await self.storage.put(key, data, kind.content_type)

        cameo_row = cameo.id  # the rollback expires `cameo`: no reading it in the callback

        async def delete_unrecorded() -> None:
            # Nothing points at the stored object: do not keep someone's likeness around.
            if commit_outcome_unknown(self.session) and await self._recorded(cameo_row, key):
                return
            await self.storage.delete(key)

        after_rollback(self.session, delete_unrecorded)
        cameo.recording_key = key
        cameo.recording_content_type = kind.content_type
        cameo.recording_seconds = measured.seconds
        cameo.recording_bytes = len(data)
        cameo.recorded_at = datetime.now(UTC)
        cameo.recording_purge_after = None
        cameo.recording_purged_at = None
        cameo.status = CameoStatus.PENDING_REVIEW.value
        await self.session.flush()
        await hooks.recording_submitted(self.session, cameo)
        if previous and previous != key:
            # Someone's likeness, which nothing points at any more.
            self.deletions.after_commit(self.session, [previous])
        return await present_owner_view(self.session, cameo, owner.username)

    async def _recorded(self, cameo_id: uuid.UUID, key: str) -> bool:
        """After a COMMIT that raised, which may have committed all the same: whether the cameo
        points at the recording, read under the row lock the upload held (so once its transaction
        has ended). Not sure (the database unreachable, the lock still held), it is deleted, unlike
        an avatar: an unreferenced copy of someone's likeness is worse than a cameo whose owner is
        asked to record again (its review finds the recording missing)."""
        try:
            async with confirming_transaction(self.session) as check:
                found = await queries.cameo_for_update(check, cameo_id)
                return found is not None and found.recording_key == key
        except (SQLAlchemyError, OSError) as exc:
            log.warning("recording_deleted_commit_unknown", key=key, error=str(exc))
            return False

    @staticmethod
    def _check_accepting(cameo: Cameo, now: datetime) -> None:
        if cameo.status != CameoStatus.AWAITING_RECORDING:
            raise CameoNotAwaitingRecording(
                "The cameo is not waiting for a recording"
                + (
                    " (ask for a new challenge to record again)"
                    if cameo.status == CameoStatus.REJECTED
                    else ""
                )
            )
        if cameo.challenge_expires_at <= now:
            raise ChallengeExpired(
                f"The challenge has expired: ask for a new one (POST /v1/cameos/{cameo.id}/challenge)"
                " and record again"
            )

    async def content(self, viewer: User, cameo_id: str, ask: MediaAsk) -> MediaBody:
        """The recording as `ask` wants it (app.byte_ranges), for its owner and for moderators; 404
        for everyone else."""
        cameo = await self.session.get(Cameo, parse_cameo_id(cameo_id))
        if cameo is None or not _may_see_recording(viewer, cameo):
            raise CameoNotFound()
        if cameo.recording_key is None:
            raise RecordingNotFound()
        try:
            body = await open_media(self.storage, cameo.recording_key, ask)
        except MediaNotFound as exc:
            raise RecordingNotFound() from exc
        return replace(body, content_type=cameo.recording_content_type or "application/octet-stream")


def _may_see_recording(viewer: User, cameo: Cameo) -> bool:
    if viewer.id == cameo.owner_id:
        return True
    # A suspended moderator does not moderate while suspended (as with the moderation routes).
    return viewer.role in (Role.MODERATOR, Role.ADMIN) and suspension_error(viewer) is None
