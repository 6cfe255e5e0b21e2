"""A video featuring a cameo revoked since gains no reach through its author's later edits: as a
draft cannot be published, an unlisted video cannot be made public (409 cameo_revoked). What
narrows its reach, or changes nothing of it, stays allowed, and so does remixing being turned on:
a remix casts the cameo again, which a revoked cameo refuses
(tests/cameo/test_remix_cameos.py). Nor does a moderator bring back a video taken down meanwhile:
a granted appeal is recorded, and the video stays removed."""

from __future__ import annotations

from typing import Any

import httpx

from accounts.models import Role
from cameo.models import Permission
from tests.accounts.helpers import assert_problem, me
from tests.cameo.factories import CameoFactory
from tests.factories import Actor, UserFactory
from tests.feed.factories import VideoFactory
from tests.feed.helpers import all_items, get_video, publish, video
from tests.moderation.helpers import (
    appeal,
    claimed,
    decide,
    decided,
    decision_id_for,
    notifications_of,
    reported,
    takedown,
)


async def featuring(
    client: httpx.AsyncClient, videos: VideoFactory, author: Actor, owner: Actor, cameo: str, visibility: str
) -> str:
    """A published video of `author` featuring `owner`'s cameo."""
    draft = await videos.draft(author, appearances=[(owner, cameo)])
    response = await publish(client, author, draft.id, visibility=visibility)
    assert response.status_code == 200, response.text
    return draft.id


async def revoke(client: httpx.AsyncClient, owner: Actor, cameo: str) -> None:
    response = await client.post(f"/v1/cameos/{cameo}/revoke", headers=owner.headers)
    assert response.status_code == 200, response.text


async def patch(client: httpx.AsyncClient, actor: Actor, video_id: str, **body: Any) -> httpx.Response:
    return await client.patch(f"/v1/videos/{video_id}", headers=actor.headers, json=body)


async def listed(client: httpx.AsyncClient, viewer: Actor, username: str) -> list[str]:
    return [item["id"] for item in await all_items(client, viewer, f"/v1/users/{username}/videos")]


async def test_an_unlisted_video_with_a_revoked_cameo_cannot_be_made_public(
    client: httpx.AsyncClient, users: UserFactory, cameos: CameoFactory, videos: VideoFactory
) -> None:
    alice, bob, carol = [await users.create(name) for name in ("alice", "bob", "carol")]
    cameo = await cameos.active(bob, permission=Permission.EVERYONE)
    unlisted = await featuring(client, videos, alice, bob, cameo, "unlisted")
    await revoke(client, bob, cameo)

    assert_problem(await patch(client, alice, unlisted, visibility="public"), 409, "cameo_revoked")
    # Nothing of the refused change stays, not even a field sent with it.
    refused_with_caption = await patch(client, alice, unlisted, visibility="public", caption="now public")
    assert_problem(refused_with_caption, 409, "cameo_revoked")
    seen = await video(client, alice, unlisted)
    assert (seen["visibility"], seen["caption"]) == ("unlisted", "")
    assert await listed(client, carol, "alice") == []
    # Sending the visibility it already has widens nothing.
    same = await patch(client, alice, unlisted, visibility="unlisted", caption="still mine")
    assert same.status_code == 200, same.text


async def test_narrowing_and_other_edits_of_a_video_with_a_revoked_cameo_stay_allowed(
    client: httpx.AsyncClient, users: UserFactory, cameos: CameoFactory, videos: VideoFactory
) -> None:
    """Public to unlisted, a caption, the prompt, and remixing (each remix is refused its cameo)."""
    alice, bob, carol = [await users.create(name) for name in ("alice", "bob", "carol")]
    cameo = await cameos.active(bob, permission=Permission.EVERYONE)
    public = await featuring(client, videos, alice, bob, cameo, "public")
    await revoke(client, bob, cameo)

    captioned = await patch(client, alice, public, caption="a new caption", show_prompt=False)
    assert captioned.status_code == 200, captioned.text
    assert captioned.json()["caption"] == "a new caption"
    remixable = await patch(client, alice, public, allow_remix=False)
    assert remixable.status_code == 200, remixable.text
    remixable = await patch(client, alice, public, allow_remix=True)
    assert remixable.status_code == 200, remixable.text
    narrowed = await patch(client, alice, public, visibility="unlisted")
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["visibility"] == "unlisted"
    assert await listed(client, carol, "alice") == []
    # And once narrowed, it does not widen again.
    assert_problem(await patch(client, alice, public, visibility="public"), 409, "cameo_revoked")


async def test_a_video_with_an_active_cameo_is_made_public_as_before(
    client: httpx.AsyncClient, users: UserFactory, cameos: CameoFactory, videos: VideoFactory
) -> None:
    """Only a revocation stops it: a narrower permission does not undo a use allowed when the
    video was made, as for publishing a draft."""
    alice, bob, carol = [await users.create(name) for name in ("alice", "bob", "carol")]
    cameo = await cameos.active(bob, permission=Permission.EVERYONE)
    unlisted = await featuring(client, videos, alice, bob, cameo, "unlisted")
    narrowed = await client.patch(f"/v1/cameos/{cameo}", json={"permission": "only_me"}, headers=bob.headers)
    assert narrowed.status_code == 200, narrowed.text

    made_public = await patch(client, alice, unlisted, visibility="public")

    assert made_public.status_code == 200, made_public.text
    assert await listed(client, carol, "alice") == [unlisted]


async def test_a_removed_video_with_a_revoked_cameo_cannot_be_made_public_while_it_is_down(
    client: httpx.AsyncClient, users: UserFactory, cameos: CameoFactory, videos: VideoFactory
) -> None:
    """Its author may change its visibility while it is down, and a granted appeal restores it
    with that visibility: making it public then would widen its reach all the same."""
    alice, bob, carol = [await users.create(name) for name in ("alice", "bob", "carol")]
    mod, admin = await users.create("mod", role=Role.MODERATOR), await users.create("boss", role=Role.ADMIN)
    cameo = await cameos.active(bob, permission=Permission.EVERYONE)
    unlisted = await featuring(client, videos, alice, bob, cameo, "unlisted")
    await reported(client, carol, "video", unlisted)
    await decided(client, mod, (await claimed(client, mod))["id"], "remove_content", note="spam")
    await revoke(client, bob, cameo)

    assert_problem(await patch(client, alice, unlisted, visibility="public"), 409, "cameo_revoked")
    assert (await appeal(client, alice, await decision_id_for(client, alice))).status_code == 201
    await decided(client, admin, (await claimed(client, admin, "appeals"))["id"], "restore_content")
    # Nor does the granted appeal bring it back by link (below).
    assert_problem(await get_video(client, carol, unlisted), 404, "video_not_found")
    seen = await video(client, alice, unlisted)
    assert (seen["status"], seen["visibility"]) == ("removed", "unlisted")
    assert await listed(client, carol, "alice") == []


async def test_a_granted_appeal_leaves_removed_a_video_whose_cameo_was_revoked(
    client: httpx.AsyncClient, users: UserFactory, cameos: CameoFactory, videos: VideoFactory
) -> None:
    """While a video is down only its author and its cameos' owners see it; an owner who revokes
    their cameo meanwhile said no to every new viewer, and bringing the video back would show the
    likeness to everyone again. The appeal is granted for the record (the removal was wrong), the
    video stays removed, and its author is told why; the owner still finds it, to delete it."""
    alice, bob, carol = [await users.create(name) for name in ("alice", "bob", "carol")]
    mod, admin = await users.create("mod", role=Role.MODERATOR), await users.create("boss", role=Role.ADMIN)
    cameo = await cameos.active(bob, permission=Permission.EVERYONE)
    public = await featuring(client, videos, alice, bob, cameo, "public")
    await reported(client, carol, "video", public)
    await decided(client, mod, (await claimed(client, mod))["id"], "remove_content", note="spam")
    await revoke(client, bob, cameo)
    assert (await appeal(client, alice, await decision_id_for(client, alice))).status_code == 201

    granted = await decided(client, admin, (await claimed(client, admin, "appeals"))["id"], "restore_content")

    assert granted["status"] == "closed"
    assert_problem(await get_video(client, carol, public), 404, "video_not_found")
    assert (await video(client, alice, public))["status"] == "removed"
    assert await listed(client, carol, "alice") == []
    assert (await me(client, alice.headers))["post_count"] == 0
    (outcome,) = await notifications_of(client, alice, "appeal_outcome")
    assert outcome["subject"]["excerpt"] == "granted"
    assert outcome["subject"]["kept_removed"] == "cameo_revoked"
    appearances = await all_items(client, bob, "/v1/me/appearances")
    assert [(item["id"], item["status"]) for item in appearances] == [(public, "removed")]


async def test_a_moderator_cannot_restore_a_video_whose_cameo_was_revoked_while_it_was_down(
    client: httpx.AsyncClient, users: UserFactory, cameos: CameoFactory, videos: VideoFactory
) -> None:
    """restore_content on another item about it (here the owner's own takedown request) is refused
    (422 action_not_applicable: the moderator dismisses it instead); the video stays removed."""
    alice, bob, carol = [await users.create(name) for name in ("alice", "bob", "carol")]
    mod = await users.create("mod", role=Role.MODERATOR)
    cameo = await cameos.active(bob, permission=Permission.EVERYONE)
    public = await featuring(client, videos, alice, bob, cameo, "public")
    await reported(client, carol, "video", public)
    filed = await takedown(client, bob, public)
    assert filed.status_code == 201, filed.text
    await decided(client, mod, (await claimed(client, mod))["id"], "remove_content", note="spam")
    await revoke(client, bob, cameo)
    held = await claimed(client, mod, "takedowns")

    assert_problem(await decide(client, mod, held["id"], "restore_content"), 422, "action_not_applicable")
    assert_problem(await get_video(client, carol, public), 404, "video_not_found")
    assert (await decided(client, mod, held["id"], "dismiss"))["status"] == "closed"
    assert (await video(client, alice, public))["status"] == "removed"


async def test_a_granted_appeal_restores_a_video_whose_cameo_is_still_active(
    client: httpx.AsyncClient, users: UserFactory, cameos: CameoFactory, videos: VideoFactory
) -> None:
    alice, bob, carol = [await users.create(name) for name in ("alice", "bob", "carol")]
    mod, admin = await users.create("mod", role=Role.MODERATOR), await users.create("boss", role=Role.ADMIN)
    cameo = await cameos.active(bob, permission=Permission.EVERYONE)
    public = await featuring(client, videos, alice, bob, cameo, "public")
    await reported(client, carol, "video", public)
    await decided(client, mod, (await claimed(client, mod))["id"], "remove_content", note="spam")
    assert (await appeal(client, alice, await decision_id_for(client, alice))).status_code == 201

    await decided(client, admin, (await claimed(client, admin, "appeals"))["id"], "restore_content")

    assert (await video(client, carol, public))["status"] == "published"
    (outcome,) = await notifications_of(client, alice, "appeal_outcome")
    assert outcome["subject"]["excerpt"] == "granted"
    assert "kept_removed" not in outcome["subject"]
