"""The consent ledger as its owner reads it: every use of every cameo they have had."""

from __future__ import annotations

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from app.pagination import CursorCodec, Page
from app.security import SigningKeys
from cameo import queries
from cameo.models import CameoUse
from cameo.schemas import CameoUseOut


def _entry(use: CameoUse, caster: str | None) -> CameoUseOut:
    return msgspec.convert(
        {
            "id": str(use.id),
            "cameo_id": str(use.cameo_id),
            "event": use.event,
            "caster": caster,
            "generation_id": str(use.generation_id),
            "video_id": str(use.video_id) if use.video_id else None,
            "permission": use.permission,
            "basis": use.basis,
            "created_at": use.created_at,
        },
        CameoUseOut,
    )


class LedgerService:
    def __init__(self, session: AsyncSession, keys: SigningKeys) -> None:
        self.session = session
        self.keys = keys

    async def uses(self, owner: User, cursor: str | None, limit: int) -> Page[CameoUseOut]:
        """Newest first, revoked cameos' entries included; the caster is null once their account
        is gone."""
        codec = CursorCodec(self.keys, f"cameo:uses:{owner.id}")
        after = codec.decode_position(cursor)
        rows = await queries.uses_page(self.session, owner_id=owner.id, after=after, limit=limit)
        page, more = rows[:limit], len(rows) > limit
        next_cursor = codec.encode_position(page[-1][0].created_at, page[-1][0].id) if more else None
        return Page(items=[_entry(use, caster) for use, caster in page], next_cursor=next_cursor)
