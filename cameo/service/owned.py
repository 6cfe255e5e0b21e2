"""Finding a cameo for its owner: anyone else's is 404, as if it did not exist."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from cameo import queries
from cameo.errors import CameoNotFound
from cameo.models import Cameo


def parse_cameo_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError as exc:
        raise CameoNotFound() from exc


async def own_cameo(session: AsyncSession, owner: User, raw_id: str, *, lock: bool) -> Cameo:
    """The owner's cameo `raw_id` (row-locked when `lock`), or 404 cameo_not_found."""
    cameo_id = parse_cameo_id(raw_id)
    cameo = await queries.cameo_for_update(session, cameo_id) if lock else await session.get(Cameo, cameo_id)
    if cameo is None or cameo.owner_id != owner.id:
        raise CameoNotFound()
    return cameo
