"""Serves locally stored media at /media/{key} (production serves the same keys from a CDN)."""

from __future__ import annotations

import re

from litestar import Response, get
from litestar.datastructures import State
from litestar.params import FromPath

from app.errors import NotFound, problem_responses
from app.resources import Resources
from app.security import PUBLIC
from app.storage import MediaNotFound

# Exactly the keys the app writes for public media; anything else is not ours to look up.
_PUBLIC_KEY = re.compile(r"^avatars/[0-9a-f-]{36}/[0-9a-f]{16}-(512|128)\.webp$")


@get("/media/{key:path}", tags=["media"], opt={PUBLIC: True}, responses=problem_responses(404))
async def media(key: FromPath[str], state: State) -> Response[bytes]:
    """Public media (avatars). Private media is served by its own authorised endpoints."""
    key = key.lstrip("/")
    if not _PUBLIC_KEY.match(key):
        raise NotFound()
    resources: Resources = state.resources
    try:
        data, content_type = await resources.storage.get(key)
    except MediaNotFound as exc:
        raise NotFound() from exc
    # Keys carry a content digest, so the bytes behind a key never change.
    return Response(
        data, media_type=content_type, headers={"Cache-Control": "public, max-age=31536000, immutable"}
    )
