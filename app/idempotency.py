"""Idempotency-Key for unsafe requests: the same key with the same body answers the first
response again; the same key with another body is 409 `idempotency_key_reused`.

The key is claimed inside the request's transaction with an INSERT on a unique index, so two
racing requests with one key serialise on that index: the second waits for the first to commit
and then replays its answer. A request that fails rolls its claim back, so the key can be retried.

The claim takes no lock on the caller's users row: the record's foreign key to it is checked at
COMMIT (`DEFERRABLE INITIALLY DEFERRED`), so the key-share lock that check takes comes after every
lock the request took, as the one order of locks has it (a request takes the rows of the domain it
changes, a video, a cameo, before its users row). Checked when the record is inserted, it was the
request's first lock: a request that then waited for a video the account's deletion held
(`accounts.service.deletion`), while the deletion waited for that users row, deadlocked with it.

Records are kept `REMIXFEED_IDEMPOTENCY_RETENTION_HOURS` (`app.retention`): the same key sent after
that is a new request. A claim whose request is still running is not committed, so no other
transaction sees it: the retention job neither deletes it nor waits for it.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from advanced_alchemy.base import UUIDv7AuditBase
from litestar.params import HeaderParameter
from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import delete_oldest
from app.errors import Conflict, FieldError, ValidationFailed

MAX_KEY_LENGTH = 255
# Visible ASCII (RFC 5234 VCHAR), 1 to 255 of them: a key of spaces, or of bytes that reach the app as
# latin-1 characters, was stored as given, and no client can be sure to send it back the same way.
KEY_PATTERN = r"^[\x21-\x7e]+$"
_KEY = re.compile(KEY_PATTERN)

# The request header, for route signatures.
IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=KEY_PATTERN,
        description="Repeat a request safely: the same key and body answer the first answer again"
        " (visible ASCII)",
    ),
]


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    title = "That Idempotency-Key was used with a different request"


class IdempotencyRecord(UUIDv7AuditBase):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "scope", "key", name="uq_idempotency_keys_user_scope_key"),
        # What the retention job deletes, oldest first.
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    # Checked at COMMIT, so the claim holds no lock on the users row before the domain's rows.
    user_id: Mapped[UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE", deferrable=True, initially="DEFERRED")
    )
    scope: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column(Integer, default=None)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)


class Replay(msgspec.Struct, frozen=True):
    status: int
    body: dict[str, Any]


def request_fingerprint(*parts: object) -> str:
    return hashlib.sha256(msgspec.json.encode(parts, order="sorted")).hexdigest()


class IdempotencyClaim:
    """Returned by `claim`: either a replay of the first answer, or the right to answer now and
    `record` that answer in the same transaction."""

    def __init__(self, session: AsyncSession, record_id: UUID | None, replay: Replay | None) -> None:
        self._session = session
        self._record_id = record_id
        self.replay = replay

    async def record(self, status: int, body: Any) -> None:
        if self._record_id is None:
            return
        await self._session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == self._record_id)
            .values(response_status=status, response_body=msgspec.to_builtins(body))
        )


async def claim(
    session: AsyncSession, *, user_id: UUID, scope: str, key: str | None, fingerprint: str
) -> IdempotencyClaim:
    if key is None:
        return IdempotencyClaim(session, None, None)
    if len(key) > MAX_KEY_LENGTH or _KEY.fullmatch(key) is None:
        raise ValidationFailed(
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
            errors=[FieldError(field="Idempotency-Key", message="1 to 255 visible ASCII characters")],
        )
    # Twice at most: the record the INSERT ran into may be deleted by the retention job before it
    # is read (a retry just as the key expires); the key is free again then, and taken anew.
    for _ in range(2):
        inserted = await session.scalar(
            pg_insert(IdempotencyRecord)
            .values(user_id=user_id, scope=scope, key=key, request_hash=fingerprint)
            .on_conflict_do_nothing(constraint="uq_idempotency_keys_user_scope_key")
            .returning(IdempotencyRecord.id)
        )
        if inserted is not None:
            return IdempotencyClaim(session, inserted, None)
        existing = await session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.user_id == user_id,
                IdempotencyRecord.scope == scope,
                IdempotencyRecord.key == key,
            )
        )
        if existing is not None:
            break
    if existing is None or existing.request_hash != fingerprint:
        raise IdempotencyKeyReused()
    if existing.response_status is None or existing.response_body is None:
        # Only possible if the first request committed without recording; treat as a reuse.
        raise IdempotencyKeyReused("That Idempotency-Key's first request did not finish")
    return IdempotencyClaim(session, None, Replay(existing.response_status, existing.response_body))


async def delete_expired(session: AsyncSession, before: datetime, limit: int) -> int:
    """One batch of the records made before `before`, oldest first (`ix_idempotency_keys_created_at`);
    how many were deleted. Rows another transaction holds are skipped, left for the next batch."""
    deleted = await delete_oldest(
        session,
        IdempotencyRecord,
        IdempotencyRecord.created_at,
        IdempotencyRecord.created_at < before,
        limit=limit,
    )
    return len(deleted)
