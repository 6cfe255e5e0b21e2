"""Small helpers shared by the feed HTTP tests."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import Actor


async def publish(
    client: httpx.AsyncClient, actor: Actor, video_id: str, key: str | None = None, **body: Any
) -> httpx.Response:
    headers = dict(actor.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post(f"/v1/videos/{video_id}/publish", headers=headers, json=body)


async def video(client: httpx.AsyncClient, actor: Actor, video_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/videos/{video_id}", headers=actor.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def get_video(client: httpx.AsyncClient, actor: Actor, video_id: str) -> httpx.Response:
    return await client.get(f"/v1/videos/{video_id}", headers=actor.headers)


async def comment(
    client: httpx.AsyncClient, actor: Actor, video_id: str, body: str = "nice!", parent_id: str | None = None
) -> httpx.Response:
    payload: dict[str, Any] = {"body": body}
    if parent_id is not None:
        payload["parent_id"] = parent_id
    return await client.post(f"/v1/videos/{video_id}/comments", headers=actor.headers, json=payload)


async def all_items(
    client: httpx.AsyncClient, actor: Actor, path: str, **params: Any
) -> list[dict[str, Any]]:
    """Every item of a paginated list, following next_cursor."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = dict(params)
        if cursor is not None:
            query["cursor"] = cursor
        response = await client.get(path, headers=actor.headers, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def notifications(client: httpx.AsyncClient, actor: Actor) -> list[dict[str, Any]]:
    return await all_items(client, actor, "/v1/notifications", limit=100)
