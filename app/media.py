"""Serves locally stored media at /media/{key} (production serves the same keys from a CDN)."""

from __future__ import annotations

from litestar import Response, get
from litestar.datastructures import State
from litestar.params import FromPath

from app.errors import NotFound, problem_responses
from app.resources import Resources
from app.storage import MediaNotFound

_ALLOWED_PREFIXES = ("avatars/",)


@get("/media/{key:path}", tags=["media"], responses=problem_responses(404))
async def media(key: FromPath[str], state: State) -> Response[bytes]:
    """Public media (avatars). Private media is served by its own authorised endpoints."""
    key = key.lstrip("/")
    if ".." in key.split("/") or not key.startswith(_ALLOWED_PREFIXES):
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
