"""The consent ledger its owner reads at GET /v1/me/cameo/uses: every use of their cameos, newest
first, with the permission level in force and the rule that allowed it, revoked cameos included."""

from __future__ import annotations

import uuid
from typing import Any

from accounts.models import User
from app.db import in_transaction
from cameo import casting
from cameo.models import Permission, UseEvent
from tests.accounts.helpers import assert_problem


async def use(
    resources, caster, owner_username: str, events: list[UseEvent], video_id: str | None = None
) -> str:
    """What generation does: the casting check, then ledger entries for one generation (each
    event in its own transaction, as the steps of a generation are). Returns the generation id."""
    generation_id = uuid.uuid4()
    for event in events:

        async def work(session: Any, event: UseEvent = event) -> None:
            user = await session.get(User, uuid.UUID(caster.id))
            casts = await casting.authorize(session, user, [owner_username], teens_for_everyone=False)
            casting.record(
                session,
                casts[0],
                caster_id=user.id,
                generation_id=generation_id,
                event=event,
                video_id=uuid.UUID(video_id) if video_id and event == UseEvent.APPEARED else None,
            )

        await in_transaction(resources.session_factory, work)
    return str(generation_id)


async def uses(client, actor, **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/me/cameo/uses", headers=actor.headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_ledger_lists_every_use_newest_first(client, users, cameos, resources):
    alice = await users.create("alice")
    friend = await users.create("friend")
    anyone = await users.create("anyone")
    cameo_id = await cameos.active(alice, permission=Permission.APPROVED, approved=[friend])
    video_id = str(uuid.uuid4())
    by_friend = await use(
        resources, friend, "alice", [UseEvent.REQUESTED, UseEvent.SUBMITTED, UseEvent.APPEARED], video_id
    )
    await client.patch(f"/v1/cameos/{cameo_id}", json={"permission": "everyone"}, headers=alice.headers)
    by_anyone = await use(resources, anyone, "alice", [UseEvent.REQUESTED])
    by_owner = await use(resources, alice, "alice", [UseEvent.REQUESTED])

    items = (await uses(client, alice))["items"]

    assert [(item["generation_id"], item["event"], item["caster"]) for item in items] == [
        (by_owner, "requested", "alice"),
        (by_anyone, "requested", "anyone"),
        (by_friend, "appeared", "friend"),
        (by_friend, "submitted", "friend"),
        (by_friend, "requested", "friend"),
    ]
    assert [(item["permission"], item["basis"]) for item in items] == [
        ("everyone", "owner"),
        ("everyone", "everyone"),
        ("approved", "approved"),
        ("approved", "approved"),
        ("approved", "approved"),
    ]
    assert items[2]["video_id"] == video_id
    assert items[3]["video_id"] is None
    assert all(item["cameo_id"] == cameo_id for item in items)
    assert len({item["id"] for item in items}) == 5
    created = [item["created_at"] for item in items]
    assert created == sorted(created, reverse=True)


async def test_the_ledger_is_the_owners_alone(client, users, cameos, resources):
    alice = await users.create("alice")
    bob = await users.create("bob")
    await cameos.active(alice, permission=Permission.EVERYONE)
    await use(resources, bob, "alice", [UseEvent.REQUESTED])

    assert len((await uses(client, alice))["items"]) == 1
    assert (await uses(client, bob)) == {"items": [], "next_cursor": None}  # bob cast it; not his cameo


async def test_entries_of_a_revoked_cameo_stay_listed(client, users, cameos, resources):
    alice = await users.create("alice")
    bob = await users.create("bob")
    old = await cameos.active(alice, permission=Permission.EVERYONE)
    await use(resources, bob, "alice", [UseEvent.REQUESTED])
    assert (await client.post(f"/v1/cameos/{old}/revoke", headers=alice.headers)).status_code == 200
    new = await cameos.active(alice, permission=Permission.EVERYONE)
    await use(resources, bob, "alice", [UseEvent.REQUESTED])

    items = (await uses(client, alice))["items"]

    assert [item["cameo_id"] for item in items] == [new, old]


async def test_the_ledger_pages_with_a_cursor(client, users, cameos, resources):
    alice = await users.create("alice")
    bob = await users.create("bob")
    await cameos.active(alice, permission=Permission.EVERYONE)
    generations = [await use(resources, bob, "alice", [UseEvent.REQUESTED]) for _ in range(5)]

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await uses(client, alice, **params)
        pages += 1
        assert len(page["items"]) <= 2
        seen += [item["generation_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert seen == list(reversed(generations))
    bad = await client.get("/v1/me/cameo/uses", headers=alice.headers, params={"cursor": "forged"})
    assert_problem(bad, 400, "invalid_cursor")
    assert_problem(await client.get("/v1/me/cameo/uses", headers=alice.headers, params={"limit": 0}), 422)
    # One owner's cursor is refused on another's ledger.
    first = await uses(client, alice, limit=1)
    other_user = await client.get(
        "/v1/me/cameo/uses", headers=bob.headers, params={"cursor": first["next_cursor"]}
    )
    assert_problem(other_user, 400, "invalid_cursor")
