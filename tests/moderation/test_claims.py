"""Claims under leases: concurrent claims never hand out an item twice (within one process or
across several), a lapsed lease and a release make an item claimable again, only the holder
decides, and escalated items are for admins only."""

from __future__ import annotations

import asyncio
from datetime import datetime

from accounts.models import Role
from app.factory import create_app
from moderation.jobs import expire_leases
from tests.accounts.helpers import assert_problem
from tests.conftest import make_settings, serve_in_process
from tests.moderation.helpers import claim, claimed, decide, decided, item, queues, reported, takedown


async def _reported_users(client, users, count: int) -> list[str]:
    """`count` users, each reported once (one item each); their ids."""
    reporter = await users.create("reporter")
    ids = []
    for n in range(count):
        person = await users.create(f"person{n}")
        await reported(client, reporter, "user", person.id)
        ids.append(person.id)
    return ids


async def test_nothing_to_claim_is_204_and_unknown_queues_404(client, mod):
    for queue in ("reports", "takedowns", "cameo_verification", "appeals", "automated"):
        response = await claim(client, mod, queue)
        assert response.status_code == 204, response.text
        assert response.content == b""
    assert_problem(await claim(client, mod, "everything"), 404, "queue_not_found")


async def test_queue_listing_shows_every_queue_with_depth_and_age(client, users, mod):
    empty = await queues(client, mod)
    assert list(empty) == ["reports", "takedowns", "cameo_verification", "appeals", "automated"]
    assert all(q["open_count"] == 0 and q["oldest_age_seconds"] is None for q in empty.values())

    await _reported_users(client, users, 2)
    await asyncio.sleep(1.1)
    await claimed(client, mod)  # a claimed item is still undecided

    listed = await queues(client, mod)
    assert listed["reports"]["open_count"] == 2
    assert listed["reports"]["oldest_age_seconds"] >= 1
    assert listed["appeals"]["open_count"] == 0


async def test_concurrent_claims_hand_out_each_item_at_most_once(servers, tmp_path, client, users):
    items = 12
    await _reported_users(client, users, items)
    moderators = [await users.create(f"mod{n}", role=Role.MODERATOR) for n in range(4)]
    # A second API process: its own app and connection pool on the same database.
    async with serve_in_process(create_app(make_settings(servers, tmp_path))) as other:
        attempts = [
            claim(http, moderators[n % len(moderators)]) for n in range(30) for http in (client, other)
        ]
        responses = await asyncio.gather(*attempts)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * items + [204] * (len(responses) - items)
    handed = [response.json()["id"] for response in responses if response.status_code == 200]
    assert len(set(handed)) == items
    for response in responses:
        if response.status_code == 200:
            body = response.json()
            assert body["status"] == "claimed"
            assert body["lease_holder"] in {m.username for m in moderators}


async def test_a_lapsed_lease_makes_the_item_claimable_again(servers, tmp_path, client, users, resources):
    await _reported_users(client, users, 1)
    first_mod = await users.create("first", role=Role.MODERATOR)
    second_mod = await users.create("second", role=Role.MODERATOR)
    app = create_app(make_settings(servers, tmp_path, moderation_lease_seconds=1))
    async with serve_in_process(app) as short:
        held = await claimed(short, first_mod)
        lease = datetime.fromisoformat(held["lease_expires_at"])
        assert 0 < (lease - datetime.fromisoformat(held["reports"][0]["created_at"])).total_seconds() < 30
        assert (await claim(short, second_mod)).status_code == 204

        await asyncio.sleep(1.3)
        # Lapsed: shown open and held by nobody, and claimable by someone else.
        shown = await item(short, second_mod, held["id"])
        assert shown["status"] == "open"
        assert shown["lease_holder"] is None
        again = await claimed(short, second_mod)
        assert again["id"] == held["id"]
        assert again["lease_holder"] == "second"

        # The sweep job puts it back to open in the table too (it was claimable either way).
        assert await expire_leases(resources) == 0  # already claimed again, under a live lease
        # The first holder's lease is gone: no decision, no release.
        assert_problem(await decide(short, first_mod, held["id"], "dismiss"), 409, "lease_not_held")
        released = await short.post(f"/v1/moderation/items/{held['id']}/release", headers=first_mod.headers)
        assert_problem(released, 409, "lease_not_held")
        await decided(short, second_mod, held["id"], "dismiss")


async def test_the_default_lease_is_five_minutes(client, users, mod):
    await _reported_users(client, users, 1)
    held = await claimed(client, mod)
    shown = await item(client, mod, held["id"])
    lease = datetime.fromisoformat(held["lease_expires_at"])
    created = datetime.fromisoformat(shown["created_at"])
    assert 295 <= (lease - created).total_seconds() <= 330


async def test_release_gives_the_item_back_at_once(client, users, mod):
    await _reported_users(client, users, 1)
    other = await users.create("othermod", role=Role.MODERATOR)
    held = await claimed(client, mod)
    assert (await claim(client, other)).status_code == 204

    # Only the holder may release it.
    assert_problem(
        await client.post(f"/v1/moderation/items/{held['id']}/release", headers=other.headers),
        409,
        "lease_not_held",
    )
    released = await client.post(f"/v1/moderation/items/{held['id']}/release", headers=mod.headers)
    assert released.status_code == 204

    assert (await item(client, mod, held["id"]))["status"] == "open"
    taken = await claimed(client, other)
    assert taken["id"] == held["id"]
    assert_problem(await decide(client, mod, held["id"], "dismiss"), 409, "lease_not_held")


async def test_only_the_lease_holder_decides(client, users, mod, admin):
    await _reported_users(client, users, 1)
    other = await users.create("othermod", role=Role.MODERATOR)
    held = await claimed(client, mod)

    for someone in (other, admin):
        assert_problem(await decide(client, someone, held["id"], "dismiss"), 409, "lease_not_held")
    closed = await decided(client, mod, held["id"], "dismiss")
    assert closed["status"] == "closed"
    assert closed["lease_holder"] is None
    assert closed["closed_at"] is not None
    # A closed item has no lease to hold.
    assert_problem(await decide(client, mod, held["id"], "dismiss"), 409, "lease_not_held")
    assert_problem(
        await client.post(f"/v1/moderation/items/{held['id']}/release", headers=mod.headers),
        409,
        "lease_not_held",
    )
    assert_problem(
        await decide(client, mod, "00000000-0000-0000-0000-000000000000", "dismiss"), 404, "item_not_found"
    )
    assert_problem(await decide(client, mod, "nope", "dismiss"), 404, "item_not_found")


async def test_escalated_items_go_to_admins_only(client, users, mod, admin):
    await _reported_users(client, users, 2)
    first = await claimed(client, mod)

    escalated = await decided(client, mod, first["id"], "escalate", note="needs an admin")
    assert escalated["status"] == "open"
    assert escalated["escalated"] is True
    assert escalated["lease_holder"] is None
    assert [d["action"] for d in escalated["history"]] == ["escalate"]
    assert (await queues(client, mod))["reports"]["escalated_count"] == 1

    # The moderator gets the other item, then nothing; the admin gets the escalated one first.
    second = await claimed(client, mod)
    assert second["id"] != first["id"]
    assert (await claim(client, mod)).status_code == 204
    taken = await claimed(client, admin)
    assert taken["id"] == first["id"]
    assert taken["escalated"] is True
    closed = await decided(client, admin, first["id"], "warn_user", note="warned")
    assert [d["action"] for d in closed["history"]] == ["escalate", "warn_user"]
    assert [d["moderator"] for d in closed["history"]] == ["mod", "boss"]


async def test_nobody_is_handed_an_item_about_themselves(client, users, mod):
    reporter = await users.create("reporter")
    other = await users.create("othermod", role=Role.MODERATOR)
    await reported(client, reporter, "user", mod.id, "harassment")

    assert (await claim(client, mod)).status_code == 204
    taken = await claimed(client, other)
    assert taken["subject"]["user"]["username"] == "mod"


async def test_nobody_is_handed_an_item_they_reported(client, users, mod, published):
    """A moderator who reports something, or asks for it to be taken down, does not judge it."""
    author = await users.create("author")
    other = await users.create("othermod", role=Role.MODERATOR)
    video_id = await published(author)
    await reported(client, mod, "video", video_id, "spam")
    filed = await takedown(client, mod, video_id, "my_likeness")
    assert filed.status_code == 201, filed.text

    assert (await claim(client, mod)).status_code == 204
    assert (await claim(client, mod, "takedowns")).status_code == 204
    assert (await claimed(client, other))["target"] == {"type": "video", "id": video_id}
    assert (await claimed(client, other, "takedowns"))["target"] == {"type": "video", "id": video_id}


async def test_a_moderator_who_reports_an_item_they_hold_gives_it_back(client, users, mod, published):
    """Reporting (or asking to take down) what one holds would otherwise let the reporter judge
    it: the claim that leaves out items one reported comes too late for one already held."""
    reporter = await users.create("reporter")
    author = await users.create("author")
    other = await users.create("othermod", role=Role.MODERATOR)
    video_id = await published(author)
    await reported(client, reporter, "video", video_id, "spam")
    asked = await takedown(client, reporter, video_id, "my_likeness")
    assert asked.status_code == 201, asked.text
    held = await claimed(client, mod)
    held_takedown = await claimed(client, mod, "takedowns")

    await reported(client, mod, "video", video_id, "violence")
    filed = await takedown(client, mod, video_id, "my_likeness")
    assert filed.status_code == 201, filed.text

    for queue, taken in (("reports", held), ("takedowns", held_takedown)):
        assert_problem(await decide(client, mod, taken["id"], "dismiss"), 409, "lease_not_held")
        back = await item(client, other, taken["id"])
        assert (back["status"], back["lease_holder"], back["report_count"]) == ("open", None, 2)
        assert (await claim(client, mod, queue)).status_code == 204
        assert (await claimed(client, other, queue))["id"] == taken["id"]
    # Someone else's report leaves the holder's lease alone.
    second = await users.create("second")
    await reported(client, second, "video", video_id, "spam")
    assert (await decided(client, other, held["id"], "dismiss"))["status"] == "closed"


async def test_the_sweep_returns_lapsed_items_to_open(servers, tmp_path, client, users, resources):
    await _reported_users(client, users, 2)
    holder = await users.create("holder", role=Role.MODERATOR)
    # The long lease first: claimed after the short one lapsed (a slow server shutdown under load),
    # it would be handed the lapsed item itself.
    live = await claimed(client, holder)
    app = create_app(make_settings(servers, tmp_path, moderation_lease_seconds=1))
    async with serve_in_process(app) as short:
        lapsing = await claimed(short, holder)
    await asyncio.sleep(1.2)

    assert await expire_leases(resources) == 1
    assert (await item(client, holder, lapsing["id"]))["status"] == "open"
    assert (await item(client, holder, live["id"]))["status"] == "claimed"
    await decided(client, holder, live["id"], "dismiss")
