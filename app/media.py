"""Serves locally stored media at /media/{key} (production serves the same keys from a CDN)."""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.params import FromPath

from app.byte_ranges import media_ask, media_response, open_media
from app.errors import NotFound, problem_responses
from app.openapi import binary_responses
from app.resources import Resources
from app.security import PUBLIC
from app.storage import MediaNotFound

# Exactly the keys the app writes for public media; anything else is not ours to look up.
_PUBLIC_KEY = re.compile(r"^avatars/[0-9a-f-]{36}/[0-9a-f]{16}-(512|128)\.webp$")


@get(
    "/media/{key:path}",
    tags=["media"],
    opt={PUBLIC: True},
    responses=problem_responses(404, 416),
    media_type="application/octet-stream",
    operation_class=binary_responses("image/webp", ranges=True),
)
async def media(request: Request[Any, Any, Any], key: FromPath[str], state: State) -> Response[Any]:
    """Public media (avatars). Private media is served by its own authorised endpoints. Takes a
    single byte range (206; 416 range_not_satisfiable past the end)."""
    key = key.lstrip("/")
    if not _PUBLIC_KEY.match(key):
        raise NotFound()
    resources: Resources = state.resources
    try:
        body = await open_media(resources.storage, key, media_ask(request))
    except MediaNotFound as exc:
        raise NotFound() from exc
    # Every upload is stored under a key of its own, so the bytes behind a key never change.
    return media_response(body, {"Cache-Control": "public, max-age=31536000, immutable"})
