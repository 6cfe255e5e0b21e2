"""A user deleting their own account (DELETE /v1/me with the password): gone at once for everyone
(tokens, login, profile, videos, those their cameo is in, comments, follows), the username kept
taken while the email may sign up again, and the background purge (run here synchronously, twice)
leaving the counts right and nothing stored."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Select, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from accounts.jobs import purge_deleted_account, sweep_unfinished_purges
from accounts.models import Notification, RefreshToken, User, blocks, follows
from accounts.service.pending_purges import LOOK_AGAIN_AFTER_SECONDS
from app.db import advisory_key
from app.idempotency import IdempotencyRecord
from app.resources import Resources
from app.security import token_digest
from app.storage import MediaNotFound
from cameo.models import Cameo, cameo_approvals
from feed.models import Comment, Video, likes, see_less, views
from generation.models import Generation
from tests.accounts.helpers import assert_problem, available, counts, follow, profile, sign_up
from tests.accounts.test_avatar import image_bytes
from tests.accounts.test_tokens import tight_app
from tests.cameo.factories import CameoFactory
from tests.factories import Actor, UserFactory
from tests.feed.factories import VideoFactory
from tests.feed.helpers import comment, get_video, notifications, publish
from tests.locks import someone_waits_for_a_lock
from tests.moderation.helpers import report


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
        await asyncio.sleep(0.05)
    assert (await row(resources, select(func.count()).where(likes.c.user_id == ada_id)))[0] == 0
    assert await sweep_unfinished_purges(resources) == 0


async def purge_finished(resources: Resources, actor: Actor, within: float = 30) -> None:
    """Wait for the purge the deletion enqueued, which the in-process worker runs."""
    deadline = asyncio.get_running_loop().time() + within
    user_id = uuid.UUID(actor.id)
    while (await row(resources, select(User.purged_at).where(User.id == user_id)))[0] is None:
        assert asyncio.get_running_loop().time() < deadline, "the purge did not finish"
        await asyncio.sleep(0.05)


async def names(client: httpx.AsyncClient, viewer: Actor, path: str) -> list[str]:
    response = await client.get(path, headers=viewer.headers)
    assert response.status_code == 200, response.text
    return [person["username"] for person in response.json()["items"]]


async def stored_follow_counts(resources: Resources, actor: Actor) -> tuple[int, int]:
    user_id = uuid.UUID(actor.id)
    found = await row(resources, select(User.follower_count, User.following_count).where(User.id == user_id))
    rows = await row(
        resources,
        select(
            select(func.count()).where(follows.c.followee_id == user_id).scalar_subquery(),
            select(func.count()).where(follows.c.follower_id == user_id).scalar_subquery(),
        ),
    )
    assert (found[0], found[1]) == (rows[0], rows[1]), "the counts kept on the row drifted from the follows"
    return found[0], found[1]


async def test_the_deletion_moves_no_follower_and_reads_leave_its_follows_out_until_the_purge(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    """Someone followed by 100k people deletes their account: the request touches none of their
    rows (the purge ends the follows, a batch a transaction), and until it has, every read leaves
    those follows out: lists, and the counts on profiles, `me` and list items."""
    ada, bob, cy = await users.create("ada"), await users.create("bob"), await users.create("cyd")
    for who, whom in ((bob, "ada"), (cy, "ada"), (ada, "bob"), (cy, "bob")):
        assert (await follow(client, who.headers, whom)).status_code == 204
    async with resources.session_factory() as follower_busy:
        # bob's row held (FOR NO KEY UPDATE), as a follow of his in flight holds it while moving
        # his counts: the deletion must not wait for it.
        await follower_busy.execute(
            select(User.id).where(User.id == uuid.UUID(bob.id)).with_for_update(key_share=True)
        )
        deleted = await asyncio.wait_for(delete_account(client, ada), timeout=15)
        assert deleted.status_code == 204, deleted.text
        # The purge, if the worker started it, waits on bob's row: the follows are still rows here.
        assert await counts(client, bob.headers) == (1, 0)
        assert await counts(client, cy.headers) == (0, 1)
        bob_seen = (await profile(client, cy.headers, "bob")).json()
        assert (bob_seen["follower_count"], bob_seen["following_count"]) == (1, 0)
        assert await names(client, cy, "/v1/users/bob/followers") == ["cyd"]
        assert await names(client, cy, "/v1/users/bob/following") == []
        assert await names(client, bob, "/v1/users/cyd/following") == ["bob"]
        listed = (await client.get("/v1/users/bob/followers", headers=cy.headers)).json()["items"]
        assert (listed[0]["follower_count"], listed[0]["following_count"]) == (0, 1)
        await follower_busy.rollback()
    await purge_finished(resources, ada)
    assert await counts(client, bob.headers) == (1, 0)
    assert await counts(client, cy.headers) == (0, 1)
    assert await stored_follow_counts(resources, bob) == (1, 0)
    assert await stored_follow_counts(resources, cy) == (0, 1)
    assert await stored_follow_counts(resources, ada) == (0, 0)


async def test_the_deletion_takes_a_video_before_its_author_as_every_change_does(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    """A like or a publish holding one of the account's videos, and then taking its author's row
    (a notification to them, their post count), is waited for: it does not deadlock with the
    deletion, which took the users row first and the videos after (a 503, one of them undone)."""
    ada, bob = await users.create("ada"), await users.create("bob")
    own = await published_by(client, VideoFactory(resources), ada)
    async with resources.session_factory() as in_flight:
        await in_flight.execute(select(Video.id).where(Video.id == uuid.UUID(own.id)).with_for_update())
        deletion = asyncio.create_task(delete_account(client, ada))

        async def deletion_waits() -> bool:
            waiting = await row(
                resources,
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                ),
            )
            return bool(waiting[0])

        deadline = asyncio.get_running_loop().time() + 15
        while not await deletion_waits():
            assert not deletion.done(), (await deletion).text
            assert asyncio.get_running_loop().time() < deadline, "the deletion never waited for the video"
            await asyncio.sleep(0.05)
        # Then the author's row, as the like's notification to ada (its foreign key) would.
        await asyncio.wait_for(
            in_flight.execute(
                select(User.id).where(User.id == uuid.UUID(ada.id)).with_for_update(key_share=True)
            ),
            timeout=15,
        )
        await in_flight.commit()
    response = await asyncio.wait_for(deletion, timeout=15)
    assert response.status_code == 204, response.text
    assert (await get_video(client, bob, own.id)).status_code == 404


async def test_follows_likes_and_blocks_racing_the_deletion_end_consistent(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    """Whatever commits first: never a 5xx, and once the purge has run no follow or block of the
    deleted account is left and every count kept on a row agrees with the rows."""
    ada, bob, cy, dan = [await users.create(name) for name in ("ada", "bob", "cyd", "dan")]
    own = await published_by(client, VideoFactory(resources), ada)
    assert (await follow(client, dan.headers, "ada")).status_code == 204
    racing = [
        delete_account(client, ada),
        follow(client, bob.headers, "ada"),
        follow(client, ada.headers, "cyd"),
        client.post("/v1/users/ada/block", headers=cy.headers),
        client.post("/v1/users/dan/block", headers=ada.headers),
        client.delete("/v1/users/ada/follow", headers=dan.headers),
        client.post(f"/v1/videos/{own.id}/like", headers=bob.headers),
        client.post(f"/v1/videos/{own.id}/like", headers=cy.headers),
    ]
    answers = await asyncio.gather(*racing)
    assert answers[0].status_code == 204, answers[0].text
    for answer in answers[1:]:
        # Before the deletion: done; after: the account is gone (404), or the caller is (401).
        assert answer.status_code in (204, 401, 404), (answer.request.url, answer.status_code, answer.text)
    await purge_finished(resources, ada)
    ada_id = uuid.UUID(ada.id)
    left = await row(
        resources,
        select(
            select(func.count())
            .where((follows.c.follower_id == ada_id) | (follows.c.followee_id == ada_id))
            .scalar_subquery(),
            select(func.count())
            .where((blocks.c.blocker_id == ada_id) | (blocks.c.blocked_id == ada_id))
            .scalar_subquery(),
        ),
    )
    assert (left[0], left[1]) == (0, 0)
    for who in (bob, cy, dan):
        assert await stored_follow_counts(resources, who) == (0, 0)
        assert await counts(client, who.headers) == (0, 0)


async def test_a_token_rotation_in_flight_during_the_deletion_ends_revoked_not_deadlocked(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    ada = await users.create("ada")
    (family,) = await row(
        resources,
        select(RefreshToken.family_id).where(RefreshToken.token_digest == token_digest(ada.refresh_token)),
    )

    async with resources.engine.connect() as holder:
        # The rotation stops between the account's sessions lock (shared), which it has taken, and
        # its users row (its new token's key), which it needs next.
        await holder.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(f"refresh-family:{family}")}
        )
        rotating = asyncio.create_task(
            client.post("/v1/auth/refresh", json={"refresh_token": ada.refresh_token})
        )
        await someone_waits_for_a_lock(resources)
        deleting = asyncio.create_task(delete_account(client, ada))
        await someone_waits_for_a_lock(resources, at_least=2)
        await holder.rollback()
        rotated, deleted = await rotating, await deleting

    assert deleted.status_code == 204, deleted.text
    # The rotation finished first or found its token revoked; either way nothing of it still works.
    if rotated.status_code == 200:
        again = await client.post("/v1/auth/refresh", json={"refresh_token": rotated.json()["refresh_token"]})
        assert_problem(again, 401)
    else:
        assert_problem(rotated, 401)


async def test_a_password_change_in_flight_during_the_deletion_is_waited_for_not_deadlocked(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    ada = await users.create("ada")
    async with resources.engine.connect() as holder:
        # Both line up on the account's sessions lock: the change first, then the deletion.
        await holder.execute(
            text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": advisory_key(f"sessions:{ada.id}")}
        )
        changing = asyncio.create_task(
            client.post(
                "/v1/me/password",
                headers=ada.headers,
                json={"current_password": ada.password, "new_password": "another long password"},
            )
        )
        await someone_waits_for_a_lock(resources)
        deleting = asyncio.create_task(delete_account(client, ada))
        await someone_waits_for_a_lock(resources, at_least=2)
        await holder.rollback()
        changed, deleted = await changing, await deleting

    assert changed.status_code == 200, changed.text
    # Its password was checked before the change committed, which signed out its token: refused
    # (`test_a_deletion_checked_before_a_password_change_commits_is_refused`), not deadlocked.
    assert_problem(deleted, 401, "not_authenticated")


async def test_a_deletion_checked_before_a_password_change_commits_is_refused(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    """A deletion by the old password, such as an intruder's racing the owner's password change,
    that checked it before the change committed is refused: the change was to sign it out."""
    ada = await users.create("ada")
    async with resources.engine.connect() as holder:
        # Stands for the change under way, holding the account's sessions lock: the deletion has
        # checked the old password (against the hash read with its caller) and waits for it.
        await holder.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(f"sessions:{ada.id}")}
        )
        deleting = asyncio.create_task(delete_account(client, ada))
        await someone_waits_for_a_lock(resources)
        await holder.execute(
            text("UPDATE users SET password_hash = 'changed', password_changed_at = now() WHERE id = :id"),
            {"id": ada.id},
        )
        await holder.commit()
        response = await deleting

    assert_problem(response, 401, "not_authenticated")
    (deleted_at,) = await row(resources, select(User.deleted_at).where(User.id == uuid.UUID(ada.id)))
    assert deleted_at is None


async def test_a_sign_up_redeeming_the_invite_during_the_deletion_is_refused_not_deadlocked(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    ada = await users.create("ada")
    async with resources.engine.connect() as holder:
        # The deletion comes first and the sign-up after; both then wait on ada's row, held here.
        await holder.execute(text("SELECT 1 FROM users WHERE id = :id FOR UPDATE"), {"id": ada.id})
        deleting = asyncio.create_task(delete_account(client, ada))
        await someone_waits_for_a_lock(resources)
        signing_up = asyncio.create_task(
            sign_up(client, "newbie", ada.invite_code, email="newbie@example.test")
        )
        await someone_waits_for_a_lock(resources, at_least=2)
        await holder.rollback()
        deleted, signed_up = await deleting, await signing_up

    assert deleted.status_code == 204, deleted.text
    # The code was gone by the time the sign-up could read it.
    assert_problem(signed_up, 422, "invite_invalid")


async def write_during_held_deletion(
    client: httpx.AsyncClient,
    resources: Resources,
    actor: Actor,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    left: Sequence[Select[Any]],
) -> None:
    """`actor`'s deletion held at its sessions lock, having locked what the account owns (its
    videos, its cameo), and meanwhile a write by the account to `path`: both go on once the lock
    is let go. The deletion goes through and the write is refused, not deadlocked; once the purge
    has run, each count of `left` (rows the write would have left naming the account) is 0."""
    async with resources.engine.connect() as holder:
        await holder.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(f"sessions:{actor.id}")}
        )
        deleting = asyncio.create_task(delete_account(client, actor))
        await someone_waits_for_a_lock(resources)
        writing = asyncio.create_task(client.post(path, headers=headers or actor.headers, json=body))
        await someone_waits_for_a_lock(resources, at_least=2)
        await holder.rollback()
        deleted, written = await deleting, await writing

    assert deleted.status_code == 204, deleted.text
    # The video is gone by the time the write reads it (404), or the caller is (401).
    assert written.status_code in (401, 404), written.text
    await purge_finished(resources, actor)
    counted = await row(resources, select(*(count.scalar_subquery() for count in left)))
    assert tuple(counted) == (0,) * len(left)


@pytest.mark.parametrize(
    ("write", "whose"),
    [
        ("like", "own"),
        ("like", "featuring"),
        ("views", "featuring"),
        ("see-less", "own"),
        ("comments", "own"),
    ],
)
async def test_a_write_on_its_own_video_in_flight_during_the_deletion_is_refused_not_deadlocked(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, write: str, whose: str
) -> None:
    """The deletion holds the account's videos (its own, and those its cameo is in) and then needs
    its users row. A like, view, see-less mark or comment by the account on one of them arriving
    meanwhile must take the video's row before its users row (the insert's foreign keys take both):
    the other way round each waited for the other, a deadlock ending one of them in a 503."""
    ada, bob = await users.create("ada"), await users.create("bob")
    videos = VideoFactory(resources)
    if whose == "own":
        video = await published_by(client, videos, ada)
    else:
        adas_cameo = await CameoFactory(resources).active(ada, permission="everyone")
        video = await published_by(client, videos, bob, appearances=[(ada, adas_cameo)])
    ada_id = uuid.UUID(ada.id)
    await write_during_held_deletion(
        client,
        resources,
        ada,
        f"/v1/videos/{video.id}/{write}",
        {"body": "mine"} if write == "comments" else None,
        left=[
            select(func.count()).where(likes.c.user_id == ada_id),
            select(func.count()).where(views.c.viewer_id == ada_id),
            select(func.count()).where(see_less.c.user_id == ada_id),
            select(func.count()).where(Comment.author_id == ada_id),
        ],
    )


@pytest.mark.parametrize("keyed", [True, False], ids=["with-key", "without-key"])
@pytest.mark.parametrize("write", ["remix-own", "remix-featuring", "publish-own", "cast-own-cameo"])
async def test_a_remix_cast_or_publish_by_the_account_during_its_deletion_is_refused_not_deadlocked(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, write: str, keyed: bool
) -> None:
    """The deletion holds the account's videos and its cameo and then needs its users row. A
    request claiming an Idempotency-Key (a generation remixing one of those videos or casting the
    cameo, the publishing of a draft) arriving meanwhile must not hold a lock on the users row
    while it waits for one of them: the claim's record names the account, and its foreign key's
    key-share lock on the users row, taken when the record was inserted, made each wait for the
    other, a deadlock ending one of them in a 503."""
    ada, bob = await users.create("ada"), await users.create("bob")
    videos = VideoFactory(resources)
    adas_cameo = await CameoFactory(resources).active(ada, permission="everyone")
    if write == "remix-own":
        video = await published_by(client, videos, ada)
        path, body = "/v1/generations", {"prompt": "again", "remix_of": video.id}
    elif write == "remix-featuring":
        video = await published_by(client, videos, bob, appearances=[(ada, adas_cameo)])
        path, body = "/v1/generations", {"prompt": "again", "remix_of": video.id}
    elif write == "publish-own":
        path, body = f"/v1/videos/{(await videos.draft(ada)).id}/publish", {}
    else:
        path, body = "/v1/generations", {"prompt": "me", "cameos": ["ada"]}
    ada_id = uuid.UUID(ada.id)
    await write_during_held_deletion(
        client,
        resources,
        ada,
        path,
        body,
        headers={**ada.headers, "Idempotency-Key": f"during-deletion-{write}"} if keyed else ada.headers,
        left=[
            select(func.count()).where(IdempotencyRecord.user_id == ada_id),
            select(func.count()).where(Generation.user_id == ada_id),
            select(func.count()).where(Video.author_id == ada_id, Video.deleted_at.is_(None)),
        ],
    )


async def test_a_deleted_account_is_no_one_to_report(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    ada, bob = await users.create("ada"), await users.create("bob")
    assert (await delete_account(client, ada)).status_code == 204

    assert_problem(await report(client, bob, "user", ada.id), 404, "user_not_found")
    await purge_finished(resources, ada)
    assert_problem(await report(client, bob, "user", ada.id), 404, "user_not_found")


async def test_until_the_purge_a_deleted_account_is_in_no_block_list_and_its_comments_are_gone(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    videos = VideoFactory(resources)
    ada, bob, cyd, dan = [await users.create(name) for name in ("ada", "bob", "cyd", "dan")]
    bobs = await published_by(client, videos, bob)
    adas_comment = (await comment(client, ada, bobs.id, "hello from ada")).json()["id"]
    assert (await comment(client, bob, bobs.id, "hi ada", parent_id=adas_comment)).status_code == 201
    assert (await comment(client, dan, bobs.id, "first!")).status_code == 201
    assert (await client.post("/v1/users/ada/block", headers=cyd.headers)).status_code == 204

    async with resources.engine.connect() as holder:
        # The purge stalls at its blocks step, as a slow or backed-up worker would leave it.
        await holder.execute(text("SELECT 1 FROM blocks WHERE blocked_id = :id FOR UPDATE"), {"id": ada.id})
        assert (await delete_account(client, ada)).status_code == 204

        assert (await client.get("/v1/me/blocks", headers=cyd.headers)).json()["items"] == []
        listed = (await client.get(f"/v1/videos/{bobs.id}/comments", headers=dan.headers)).json()["items"]
        # Ada's comment went, and the reply under it with it: nothing points at what is not shown.
        assert [item["body"] for item in listed] == ["first!"]
        assert_problem(await comment(client, dan, bobs.id, "to a ghost", parent_id=adas_comment), 422)
        assert_problem(await report(client, dan, "comment", adas_comment), 404)
        await holder.rollback()


async def test_a_deletion_another_process_made_comes_off_the_counts_within_a_second(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    ada, bob = await users.create("ada"), await users.create("bob")
    assert (await follow(client, ada.headers, "bob")).status_code == 204
    assert (await profile(client, ada.headers, "bob")).json()["follower_count"] == 1
    # Deleted by another process, whose commit this one never saw: its purge has not run.
    async with resources.session_factory() as session, session.begin():
        await session.execute(update(User).where(User.id == uuid.UUID(ada.id)).values(deleted_at=func.now()))
    await asyncio.sleep(LOOK_AGAIN_AFTER_SECONDS + 0.1)

    assert (await profile(client, bob.headers, "bob")).json()["follower_count"] == 0
    assert await counts(client, bob.headers) == (0, 0)


async def test_a_comment_held_up_past_the_deletion_and_its_purge_is_refused(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    """A write by the account that read its caller before the deletion but adds its row after the
    purge has been through that kind (here a comment, waiting for the video's row) is refused: the
    row would stay on the tombstone for good, and count on the video, since `purged_at` ends the
    sweeps."""
    ada, bob = await users.create("ada"), await users.create("bob")
    bobs = await published_by(client, VideoFactory(resources), bob)

    async with resources.engine.connect() as holder:
        await holder.execute(text("SELECT 1 FROM videos WHERE id = :id FOR UPDATE"), {"id": bobs.id})
        commenting = asyncio.create_task(comment(client, ada, bobs.id, "from beyond"))
        await someone_waits_for_a_lock(resources)
        assert (await delete_account(client, ada)).status_code == 204
        await purge_finished(resources, ada)
        await holder.rollback()
        late = await commenting

    assert_problem(late, 401, "not_authenticated")
    left = await row(resources, select(func.count()).where(Comment.author_id == uuid.UUID(ada.id)))
    assert left[0] == 0
    assert (await get_video(client, bob, bobs.id)).json()["comment_count"] == 0


@pytest.mark.parametrize("write", ["like", "views", "comments", "see-less"])
@pytest.mark.parametrize("held_on", ["video", "users-row"])
async def test_a_like_view_comment_or_see_less_that_read_its_caller_before_the_deletion_is_refused(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, write: str, held_on: str
) -> None:
    """A like, view, comment or see-less mark that read its caller before the deletion adds its
    row after it: held up on the video's row past the deletion and its purge (as a comment, above),
    or its insert's foreign key waiting for the users row the deletion holds until it commits
    (played here by a holder). The statement that reads the caller again (`caller_presence`: the
    counter's update after the insert, or the see-less mark's insert itself) finds the deletion:
    refused (401), its row and the count rolled back."""
    ada, bob = await users.create("ada"), await users.create("bob")
    bobs = await published_by(client, VideoFactory(resources), bob)

    async with resources.engine.connect() as holder:
        if held_on == "video":
            await holder.execute(text("SELECT 1 FROM videos WHERE id = :id FOR UPDATE"), {"id": bobs.id})
        else:
            await holder.execute(text("SELECT 1 FROM users WHERE id = :id FOR UPDATE"), {"id": ada.id})
        body = {"body": "from beyond"} if write == "comments" else None
        writing = asyncio.create_task(
            client.post(f"/v1/videos/{bobs.id}/{write}", headers=ada.headers, json=body)
        )
        await someone_waits_for_a_lock(resources)
        if held_on == "video":
            assert (await delete_account(client, ada)).status_code == 204
            await purge_finished(resources, ada)
            await holder.rollback()
        else:
            await holder.execute(text("UPDATE users SET deleted_at = now() WHERE id = :id"), {"id": ada.id})
            await holder.commit()
        late = await writing

    assert_problem(late, 401, "not_authenticated")
    ada_id = uuid.UUID(ada.id)
    left = await row(
        resources,
        select(
            select(func.count()).where(likes.c.user_id == ada_id).scalar_subquery(),
            select(func.count()).where(views.c.viewer_id == ada_id).scalar_subquery(),
            select(func.count()).where(Comment.author_id == ada_id).scalar_subquery(),
            select(func.count()).where(see_less.c.user_id == ada_id).scalar_subquery(),
        ),
    )
    assert tuple(left) == (0, 0, 0, 0)
    counted = (await get_video(client, bob, bobs.id)).json()
    assert (counted["like_count"], counted["view_count"], counted["comment_count"]) == (0, 0, 0)


async def test_an_approval_committed_while_the_deletion_was_under_way_goes_with_the_purge(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    """The deletion ends the approvals the account holds before it locks its users row; one granted
    in between commits after that step. The purge takes it, and a grant once the deletion holds the
    row waits for it and is refused."""
    ada, cyd = await users.create("ada"), await users.create("cyd")
    cyds = await CameoFactory(resources).active(cyd)

    async with resources.engine.connect() as holder:
        # The deletion has ended ada's approvals and waits for her sessions lock, held here.
        await holder.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(f"sessions:{ada.id}")}
        )
        deleting = asyncio.create_task(delete_account(client, ada))
        await someone_waits_for_a_lock(resources)
        granted = await client.put(f"/v1/cameos/{cyds}/approved/ada", headers=cyd.headers)
        assert granted.status_code == 204, granted.text
        await holder.rollback()
        assert (await deleting).status_code == 204

    await purge_finished(resources, ada)
    held = await row(resources, select(func.count()).where(cameo_approvals.c.user_id == uuid.UUID(ada.id)))
    assert held[0] == 0
    assert_problem(await client.put(f"/v1/cameos/{cyds}/approved/ada", headers=cyd.headers), 404)
