"""A remix is made from the video it remixes, people included: the cameos that video features are
cast again by whoever remixes it, under the owner's rule as it is now, and the remix is one of the
owner's appearances (through HTTP, with the simulator)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cameo.models import Permission
from tests.accounts.helpers import assert_problem, block
from tests.cameo.factories import CameoFactory
from tests.cameo.helpers import fresh_simulator, ledger  # noqa: F401 - a fixture
from tests.cameo.test_casting import cast, events_of, set_permission
from tests.factories import Actor, UserFactory
from tests.feed.factories import VideoFactory
from tests.feed.helpers import all_items, publish
from tests.generation.helpers import wait_until_done

pytestmark = pytest.mark.usefixtures("fresh_simulator")


async def featuring(
    client: httpx.AsyncClient, videos: VideoFactory, author: Actor, *cast_in: tuple[Actor, str]
) -> str:
    """A published video of `author` that features these cameos (owner, cameo id)."""
    draft = await videos.draft(author, appearances=list(cast_in))
    response = await publish(client, author, draft.id)
    assert response.status_code == 200, response.text
    return draft.id


async def quota_used(client: httpx.AsyncClient, actor: Actor) -> int:
    response = await client.get("/v1/me/quota", headers=actor.headers)
    assert response.status_code == 200, response.text
    used: int = response.json()["used"]
    return used


async def test_a_remix_features_the_cameos_of_the_video_it_remixes(
    client: httpx.AsyncClient, users: UserFactory, cameos: CameoFactory, videos: VideoFactory
) -> None:
    alice, bob, carol = [await users.create(name) for name in ("alice", "bob", "carol")]
    cameo = await cameos.active(bob, permission=Permission.EVERYONE)
    parent = await featuring(client, videos, alice, (bob, cameo))

    accepted = await cast(client, carol, prompt="the same, at night", remix_of=parent, seconds=4)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["cameos"] == ["bob"]
    done = await wait_until_done(client, carol.headers, accepted.json()["id"])
    assert done["status"] == "completed", done

    # Bob sees the remix among his appearances (a draft of carol's), and may delete it.
    mine = await all_items(client, bob, "/v1/me/appearances")
    assert done["video_id"] in [item["id"] for item in mine]
    assert events_of(await ledger(client, bob), done["id"]) == ["requested", "submitted", "appeared"]
    deleted = await client.delete(f"/v1/videos/{done['video_id']}", headers=bob.headers)
    assert deleted.status_code == 204, deleted.text


@pytest.mark.parametrize("change", ["narrowed", "revoked", "blocked"])
async def test_a_video_whose_cameo_the_remixer_may_not_cast_cannot_be_remixed(
    client: httpx.AsyncClient, users: UserFactory, cameos: CameoFactory, videos: VideoFactory, change: str
) -> None:
    """Also by the video's own author, once the owner has narrowed, revoked or blocked: nothing is
    spent on the refusal."""
    alice, bob = await users.create("alice"), await users.create("bob")
    cameo = await cameos.active(bob, permission=Permission.EVERYONE)
    parent = await featuring(client, videos, alice, (bob, cameo))
    if change == "narrowed":
        await set_permission(client, bob, cameo, "only_me")
    elif change == "revoked":
        revoked = await client.post(f"/v1/cameos/{cameo}/revoke", headers=bob.headers)
        assert revoked.status_code == 200, revoked.text
    else:
        assert (await block(client, bob.headers, "alice")).status_code == 204

    refused = await cast(client, alice, prompt="again, but slower", remix_of=parent, seconds=4)

    assert_problem(refused, 403, "cameo_permission_denied")
    assert await quota_used(client, alice) == 0
    assert (await client.get("/v1/generations", headers=alice.headers)).json()["items"] == []


async def test_the_remixed_videos_cameos_count_towards_the_limit(
    client: httpx.AsyncClient, users: UserFactory, cameos: CameoFactory, videos: VideoFactory
) -> None:
    alice, bob, dave, erin, carol = [
        await users.create(name) for name in ("alice", "bob", "dave", "erin", "carol")
    ]
    featured = [(owner, await cameos.active(owner, permission=Permission.EVERYONE)) for owner in (bob, dave)]
    await cameos.active(erin, permission=Permission.EVERYONE)
    parent = await featuring(client, videos, alice, *featured)

    refused = await cast(client, carol, "erin", remix_of=parent, seconds=4)
    assert_problem(refused, 422, "too_many_cameos")

    # Asking again for one the video already features is not one more.
    accepted = await cast(client, carol, "dave", remix_of=parent, seconds=4)
    assert accepted.status_code == 202, accepted.text
    body: dict[str, Any] = accepted.json()
    assert sorted(body["cameos"]) == ["bob", "dave"]
