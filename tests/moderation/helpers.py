"""Small helpers shared by the moderation HTTP tests."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import Actor
from tests.feed.helpers import all_items


async def report(
    client: httpx.AsyncClient,
    actor: Actor,
    target_type: str,
    target_id: str,
    reason: str = "spam",
    **extra: Any,
) -> httpx.Response:
    body = {"target_type": target_type, "target_id": target_id, "reason": reason, **extra}
    return await client.post("/v1/reports", headers=actor.headers, json=body)


async def reported(
    client: httpx.AsyncClient, actor: Actor, target_type: str, target_id: str, reason: str = "spam"
) -> dict[str, Any]:
    response = await report(client, actor, target_type, target_id, reason)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def takedown(
    client: httpx.AsyncClient, actor: Actor, video_id: str, reason: str = "my_likeness", **extra: Any
) -> httpx.Response:
    body = {"video_id": video_id, "reason": reason, **extra}
    return await client.post("/v1/takedown-requests", headers=actor.headers, json=body)


async def claim(client: httpx.AsyncClient, actor: Actor, queue: str = "reports") -> httpx.Response:
    return await client.post(f"/v1/moderation/queues/{queue}/claim", headers=actor.headers)


async def claimed(client: httpx.AsyncClient, actor: Actor, queue: str = "reports") -> dict[str, Any]:
    response = await claim(client, actor, queue)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def decide(
    client: httpx.AsyncClient, actor: Actor, item_id: str, action: str, note: str = "checked", **extra: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/moderation/items/{item_id}/decision",
        headers=actor.headers,
        json={"action": action, "note": note, **extra},
    )


async def decided(
    client: httpx.AsyncClient, actor: Actor, item_id: str, action: str, **extra: Any
) -> dict[str, Any]:
    response = await decide(client, actor, item_id, action, **extra)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def item(client: httpx.AsyncClient, actor: Actor, item_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/moderation/items/{item_id}", headers=actor.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def queues(client: httpx.AsyncClient, actor: Actor) -> dict[str, dict[str, Any]]:
    response = await client.get("/v1/moderation/queues", headers=actor.headers)
    assert response.status_code == 200, response.text
    return {queue["name"]: queue for queue in response.json()}


async def audit_log(client: httpx.AsyncClient, actor: Actor) -> list[dict[str, Any]]:
    return await all_items(client, actor, "/v1/moderation/audit-log", limit=100)


async def appeal(
    client: httpx.AsyncClient, actor: Actor, decision_id: str, statement: str = "I disagree"
) -> httpx.Response:
    return await client.post(
        "/v1/appeals", headers=actor.headers, json={"decision_id": decision_id, "statement": statement}
    )


async def notifications_of(client: httpx.AsyncClient, actor: Actor, kind: str) -> list[dict[str, Any]]:
    items = await all_items(client, actor, "/v1/notifications", limit=100)
    return [item for item in items if item["kind"] == kind]


async def decision_id_for(client: httpx.AsyncClient, actor: Actor) -> str:
    """The decision named in the newest `moderation_decision` notification of `actor`."""
    (latest, *_) = await notifications_of(client, actor, "moderation_decision")
    assert latest["subject"]["type"] == "decision", latest
    decision_id: str = latest["subject"]["id"]
    return decision_id
