"""A user deleting their own account (DELETE /v1/me with the password): gone at once for everyone
(tokens, login, profile, videos, those their cameo is in, comments, follows), the username kept
taken while the email may sign up again, and the background purge (run here synchronously, twice)
leaving the counts right and nothing stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from accounts.jobs import purge_deleted_account, sweep_unfinished_purges
from accounts.models import Notification, User
from app.resources import Resources
from app.storage import MediaNotFound
from cameo.models import Cameo
from feed.models import likes
from tests.accounts.helpers import assert_problem, available, counts, follow, profile, sign_up
from tests.accounts.test_avatar import image_bytes
from tests.accounts.test_tokens import tight_app
from tests.cameo.factories import CameoFactory
from tests.factories import Actor, UserFactory
from tests.feed.factories import VideoFactory
from tests.feed.helpers import comment, get_video, notifications, publish


async def delete_account(
    client: httpx.AsyncClient, actor: Actor, password: str | None = None
) -> httpx.Response:
    return await client.request(
        "DELETE", "/v1/me", headers=actor.headers, json={"password": password or actor.password}
    )


async def stored(resources: Resources, key: str) -> bool:
    try:
        await resources.storage.stat(key)
    except MediaNotFound:
        return False
    return True


async def row(resources: Resources, query: Any) -> Any:
    async with resources.session_factory() as session:
        return (await session.execute(query)).first()


async def avatar_base(resources: Resources, actor: Actor) -> str:
    base = (await row(resources, select(User.avatar_key).where(User.id == uuid.UUID(actor.id))))[0]
    assert base is not None
    return str(base)


async def actors_of(client: httpx.AsyncClient, recipient: Actor) -> set[str]:
    return {item["actor"]["username"] for item in await notifications(client, recipient) if item["actor"]}


async def published_by(client: httpx.AsyncClient, videos: VideoFactory, author: Actor, **draft: Any) -> Any:
    made = await videos.draft(author, **draft)
    response = await publish(client, author, made.id)
    assert response.status_code == 200, response.text
    return made


async def test_a_wrong_password_is_403_and_deletes_nothing(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    ada = await users.create("ada")
    response = await delete_account(client, ada, "not the password")
    assert_problem(response, 403, "password_incorrect")
    assert (await client.get("/v1/me", headers=ada.headers)).status_code == 200
    deleted_at = (await row(resources, select(User.deleted_at).where(User.id == uuid.UUID(ada.id))))[0]
    assert deleted_at is None
    # No body, or no password, is a 422: a token alone deletes nothing.
    no_body = await client.request("DELETE", "/v1/me", headers=ada.headers)
    assert no_body.status_code in (400, 422)
    assert (await client.get("/v1/me", headers=ada.headers)).status_code == 200


async def test_wrong_passwords_count_against_the_login_budget(servers, tmp_path, users: UserFactory) -> None:
    """The same budget as the login's, per account: no extra password guesses through this route."""
    ada = await users.create("ada")
    async with tight_app(servers, tmp_path, login_rate_limit="2/minute") as tight:
        guesses = [await delete_account(tight, ada, f"guess-{n}") for n in range(2)]
        refused = await delete_account(tight, ada)
        login = await tight.post("/v1/auth/token", json={"login": "ada", "password": ada.password})
        still_there = await tight.get("/v1/me", headers=ada.headers)
    for guess in guesses:
        assert_problem(guess, 403, "password_incorrect")
    assert_problem(refused, 429, "rate_limited")
    assert_problem(login, 429, "rate_limited")
    assert still_there.status_code == 200


async def test_after_deletion_the_account_is_gone_at_once(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    ada, bob, cy = await users.create("ada"), await users.create("bob"), await users.create("cyd")
    for who, whom in ((ada, "bob"), (bob, "ada"), (cy, "ada"), (cy, "bob")):
        assert (await follow(client, who.headers, whom)).status_code == 204
    assert (await client.post("/v1/users/cyd/block", headers=ada.headers)).status_code == 204
    upload = await client.put(
        "/v1/me/avatar", files={"file": ("a.png", image_bytes("PNG"), "image/png")}, headers=ada.headers
    )
    assert upload.status_code == 200, upload.text
    avatar_keys = [f"{(await avatar_base(resources, ada))}-{size}.webp" for size in (512, 128)]
    assert all([await stored(resources, key) for key in avatar_keys])

    assert (await delete_account(client, ada)).status_code == 204
    for key in avatar_keys:  # deleted right after the commit
        assert not await stored(resources, key), key

    assert (await client.get("/v1/me", headers=ada.headers)).status_code == 401
    refresh = await client.post("/v1/auth/refresh", json={"refresh_token": ada.refresh_token})
    assert_problem(refresh, 401, "invalid_refresh_token")
    for login in ("ada", ada.email):
        response = await client.post("/v1/auth/token", json={"login": login, "password": ada.password})
        assert_problem(response, 401, "invalid_credentials")
    assert_problem(await profile(client, bob.headers, "ada"), 404, "user_not_found")
    assert (await follow(client, bob.headers, "ada")).status_code == 404
    assert (await client.post("/v1/users/ada/block", headers=bob.headers)).status_code == 404
    assert (await client.get("/v1/users/ada/videos", headers=bob.headers)).status_code == 404
    assert (await client.get("/v1/users/ada/cameo", headers=bob.headers)).status_code == 404
    assert (await available(client, "ada"))["available"] is False
    # Follow counts of the people they followed and were followed by are right at once.
    assert await counts(client, bob.headers) == (1, 0)  # cy follows bob; bob follows nobody now
    assert await counts(client, cy.headers) == (0, 1)
    # The block they made is gone too: cy sees nothing of it (and may follow bob as before).
    following = (await client.get("/v1/users/bob/followers", headers=cy.headers)).json()["items"]
    assert [person["username"] for person in following] == ["cyd"]

    # Nobody may register the username again; the email signs up again.
    again = await sign_up(client, "ada", bob.invite_code, email=ada.email)
    assert_problem(again, 409, "username_taken")
    fresh = await sign_up(client, "ada_again", bob.invite_code, email=ada.email)
    assert fresh.status_code == 201, fresh.text
    # The invite code of the deleted account stops working.
    assert_problem(await sign_up(client, "ada_invited", ada.invite_code), 422, "invite_invalid")

    tombstone = (await row(resources, select(User).where(User.id == uuid.UUID(ada.id))))[0]
    assert tombstone.username == "ada" and tombstone.email == f"deleted+{ada.id}@invalid"
    assert tombstone.display_name == "" and tombstone.bio == "" and tombstone.avatar_key is None


async def test_staff_may_delete_themselves(client: httpx.AsyncClient, users: UserFactory) -> None:
    from accounts.models import Role

    mod = await users.create("mod", role=Role.MODERATOR)
    assert (await delete_account(client, mod)).status_code == 204
    assert (await client.get("/v1/me", headers=mod.headers)).status_code == 401


async def test_videos_comments_likes_and_media_go_with_the_account(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    videos, cameos = VideoFactory(resources), CameoFactory(resources)
    ada, bob, cy = await users.create("ada"), await users.create("bob"), await users.create("cyd")
    cameo_id = await cameos.active(ada)
    async with resources.session_factory() as session:
        await session.execute(
            update(Cameo).where(Cameo.id == uuid.UUID(cameo_id)).values(recording_key="cameos/ada/rec.mp4")
        )
        await session.commit()
    await resources.storage.put("cameos/ada/rec.mp4", b"recording", "video/mp4")

    own = await published_by(client, videos, ada)
    draft = await videos.draft(ada)
    featuring = await published_by(client, videos, bob, appearances=[(ada, cameo_id)])
    bobs = await published_by(client, videos, bob)
    remix = await published_by(client, videos, ada, remix_of=bobs.id)
    assert (await client.post(f"/v1/videos/{bobs.id}/like", headers=ada.headers)).status_code == 204
    assert (await client.post(f"/v1/videos/{bobs.id}/like", headers=cy.headers)).status_code == 204
    assert (await client.post(f"/v1/videos/{bobs.id}/views", headers=ada.headers)).status_code == 204
    assert (await client.post(f"/v1/videos/{own.id}/like", headers=bob.headers)).status_code == 204
    said = await comment(client, ada, bobs.id, "hello from ada")
    assert said.status_code == 201, said.text
    reply = await comment(client, cy, bobs.id, "hi ada", parent_id=said.json()["id"])
    assert reply.status_code == 201
    assert (await comment(client, cy, bobs.id, "mine stays")).status_code == 201
    before = (await get_video(client, bob, bobs.id)).json()
    assert (before["like_count"], before["comment_count"], before["remix_count"]) == (2, 3, 1)
    assert "ada" in await actors_of(client, bob)

    assert (await delete_account(client, ada)).status_code == 204

    # At once: their videos (the draft too), and bob's video with their cameo in it, are gone.
    for video_id in (own.id, remix.id, featuring.id):
        assert (await get_video(client, bob, video_id)).status_code == 404
    latest = (await client.get("/v1/feed", headers=cy.headers, params={"cut": "latest"})).json()["items"]
    assert [item["video"]["id"] for item in latest if "video" in item] == [bobs.id]
    bob_list = (await client.get("/v1/users/bob/videos", headers=cy.headers)).json()["items"]
    assert [item["id"] for item in bob_list] == [bobs.id]
    thread = (await client.get(f"/v1/videos/{bobs.id}/comments", headers=cy.headers)).json()["items"]
    assert "hello from ada" not in [item["body"] for item in thread]
    assert "ada" not in await actors_of(client, bob)

    # The purge (the worker runs it too; running it here as well, twice, changes nothing more).
    for _ in range(2):
        assert await purge_deleted_account(resources, user_id=ada.id) is True
    after = (await get_video(client, bob, bobs.id)).json()
    # ada's like gone (cy's stays), her comment and the reply under it gone, the remix uncounted.
    assert (after["like_count"], after["comment_count"], after["remix_count"]) == (1, 1, 0)
    assert after["view_count"] == 0
    bob_me = (await client.get("/v1/me", headers=bob.headers)).json()
    assert bob_me["post_count"] == 1  # the video with ada's cameo no longer counts
    for key in (own.video_key, own.thumbnail_key, draft.video_key, featuring.video_key, remix.thumbnail_key):
        assert not await stored(resources, key), key
    assert not await stored(resources, "cameos/ada/rec.mp4")
    assert await stored(resources, bobs.video_key)
    ada_id = uuid.UUID(ada.id)
    left = await row(
        resources,
        select(func.count()).where((Notification.user_id == ada_id) | (Notification.actor_id == ada_id)),
    )
    assert left[0] == 0
    assert (await row(resources, select(func.count()).where(likes.c.user_id == ada_id)))[0] == 0
    purged = await row(resources, select(User.purged_at).where(User.id == ada_id))
    assert purged[0] is not None


async def test_the_sweep_finishes_an_unfinished_purge(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    videos = VideoFactory(resources)
    ada, bob = await users.create("ada"), await users.create("bob")
    bobs = await published_by(client, videos, bob)
    assert (await client.post(f"/v1/videos/{bobs.id}/like", headers=ada.headers)).status_code == 204
    assert (await delete_account(client, ada)).status_code == 204
    ada_id = uuid.UUID(ada.id)
    # As if the purge never ran (the worker or Redis away): the like still there, no purged_at,
    # and the deletion a while ago.
    async with resources.session_factory() as session:
        await session.execute(
            update(User)
            .where(User.id == ada_id)
            .values(purged_at=None, deleted_at=datetime.now(UTC) - timedelta(hours=1))
        )
        await session.execute(
            pg_insert(likes).values(video_id=uuid.UUID(bobs.id), user_id=ada_id).on_conflict_do_nothing()
        )
        await session.commit()
    assert await sweep_unfinished_purges(resources) == 1
    # The job the sweep enqueued is run by the in-process worker.
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while (await row(resources, select(User.purged_at).where(User.id == ada_id)))[0] is None:
        assert datetime.now(UTC) < deadline, "the sweep's purge did not finish"
        import asyncio

        await asyncio.sleep(0.05)
    assert (await row(resources, select(func.count()).where(likes.c.user_id == ada_id)))[0] == 0
    assert await sweep_unfinished_purges(resources) == 0
