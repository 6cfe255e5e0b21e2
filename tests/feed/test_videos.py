"""GET/PATCH/DELETE /v1/videos/{id}, its content, GET /v1/users/{username}/videos, bad ids and cursors."""

from __future__ import annotations

import pytest

from tests.accounts.helpers import assert_problem, error_fields, me
from tests.feed.factories import VIDEO_BYTES
from tests.feed.helpers import all_items, get_video, publish, video


async def test_patch_changes_caption_visibility_and_remixing(client, users, published):
    alice = await users.create("alice")
    video_id = await published(alice, caption="before")

    response = await client.patch(
        f"/v1/videos/{video_id}",
        headers=alice.headers,
        json={"caption": "after", "visibility": "unlisted", "allow_remix": False},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["caption"], body["visibility"], body["allow_remix"]) == ("after", "unlisted", False)
    assert (await video(client, alice, video_id))["caption"] == "after"


async def test_patch_with_nothing_changes_nothing(client, users, published):
    alice = await users.create("alice")
    video_id = await published(alice, caption="same")

    response = await client.patch(f"/v1/videos/{video_id}", headers=alice.headers, json={})

    assert response.status_code == 200, response.text
    assert response.json()["caption"] == "same"


@pytest.mark.parametrize(
    ("field", "value"),
    [("status", "removed"), ("like_count", 1000), ("author", {"username": "mallory"}), ("prompt", "x")],
)
async def test_patch_refuses_protected_fields(client, users, published, field, value):
    alice = await users.create("alice")
    video_id = await published(alice)

    response = await client.patch(f"/v1/videos/{video_id}", headers=alice.headers, json={field: value})

    assert field in error_fields(assert_problem(response, 422, "validation_failed"))
    after = await video(client, alice, video_id)
    assert after["status"] == "published"
    assert after["like_count"] == 0


async def test_patch_validates_values(client, users, published):
    alice = await users.create("alice")
    video_id = await published(alice)

    too_long = await client.patch(
        f"/v1/videos/{video_id}", headers=alice.headers, json={"caption": "x" * 2201}
    )
    bad_visibility = await client.patch(
        f"/v1/videos/{video_id}", headers=alice.headers, json={"visibility": "secret"}
    )

    assert "caption" in error_fields(assert_problem(too_long, 422))
    assert "visibility" in error_fields(assert_problem(bad_visibility, 422))


async def test_only_the_author_patches(client, users, videos, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    video_id = await published(alice)
    draft = await videos.draft(alice)

    assert_problem(
        await client.patch(f"/v1/videos/{video_id}", headers=bob.headers, json={"caption": "mine"}),
        403,
        "not_video_author",
    )
    assert_problem(
        await client.patch(f"/v1/videos/{draft.id}", headers=bob.headers, json={"caption": "mine"}), 404
    )


async def test_author_deletes_a_video_and_nobody_sees_it_again(client, users, resources, videos):
    alice = await users.create("alice")
    bob = await users.create("bob")
    draft = await videos.draft(alice)
    assert (await publish(client, alice, draft.id)).status_code == 200
    assert (await me(client, alice.headers))["post_count"] == 1

    response = await client.delete(f"/v1/videos/{draft.id}", headers=alice.headers)

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_problem(await get_video(client, alice, draft.id), 404, "video_not_found")
    assert_problem(await get_video(client, bob, draft.id), 404, "video_not_found")
    assert_problem(
        await client.get(
            f"/v1/videos/{draft.id}/content", headers=alice.headers, params={"variant": "video"}
        ),
        404,
    )
    assert (await me(client, alice.headers))["post_count"] == 0
    assert await all_items(client, alice, "/v1/users/alice/videos") == []
    # The media is gone from storage once the deletion committed.
    for key in (draft.video_key, draft.thumbnail_key):
        with pytest.raises(LookupError):
            await resources.storage.get(key)
    # Deleting again is a 404: it does not exist any more.
    assert_problem(await client.delete(f"/v1/videos/{draft.id}", headers=alice.headers), 404)


async def test_deleting_a_draft_does_not_touch_the_post_count(client, users, videos, published):
    alice = await users.create("alice")
    await published(alice)
    draft = await videos.draft(alice)

    assert (await client.delete(f"/v1/videos/{draft.id}", headers=alice.headers)).status_code == 204

    assert (await me(client, alice.headers))["post_count"] == 1
    assert (await client.get("/v1/me/drafts", headers=alice.headers)).json()["items"] == []


async def test_others_cannot_delete(client, users, videos, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    video_id = await published(alice)
    draft = await videos.draft(alice)

    # Visible to bob but not his: 403. Invisible to bob: 404.
    assert_problem(
        await client.delete(f"/v1/videos/{video_id}", headers=bob.headers), 403, "not_video_author"
    )
    assert_problem(await client.delete(f"/v1/videos/{draft.id}", headers=bob.headers), 404, "video_not_found")
    assert (await video(client, alice, video_id))["status"] == "published"
    assert (await video(client, alice, draft.id))["status"] == "draft"


async def test_content_serves_each_variant_with_its_type(client, users, videos, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    video_id = await published(alice)
    draft = await videos.draft(alice)

    mp4 = await client.get(f"/v1/videos/{video_id}/content", headers=bob.headers, params={"variant": "video"})
    thumb = await client.get(
        f"/v1/videos/{video_id}/content", headers=bob.headers, params={"variant": "thumbnail"}
    )
    default = await client.get(f"/v1/videos/{video_id}/content", headers=bob.headers)

    assert mp4.status_code == 200, mp4.text
    assert mp4.headers["content-type"] == "video/mp4"
    assert mp4.content == VIDEO_BYTES
    assert thumb.status_code == 200, thumb.text
    assert thumb.headers["content-type"] == "image/webp"
    assert thumb.content[:4] == b"RIFF"
    assert thumb.content[8:12] == b"WEBP"
    assert default.headers["content-type"] == "video/mp4"
    # A draft's media is as private as the draft.
    assert_problem(
        await client.get(f"/v1/videos/{draft.id}/content", headers=bob.headers, params={"variant": "video"}),
        404,
    )
    own = await client.get(
        f"/v1/videos/{draft.id}/content", headers=alice.headers, params={"variant": "thumbnail"}
    )
    assert own.status_code == 200
    # An unknown variant is bad input, not a server error.
    bad = await client.get(f"/v1/videos/{video_id}/content", headers=bob.headers, params={"variant": "gif"})
    assert 400 <= bad.status_code < 500


async def test_media_urls_in_the_video_work(client, users, published):
    alice = await users.create("alice")
    video_id = await published(alice)
    body = await video(client, alice, video_id)

    response = await client.get(body["media"]["thumbnail_url"], headers=alice.headers)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/")


async def test_user_videos_lists_published_public_videos_newest_first(client, users, videos, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    older = await published(alice)
    newer = await published(alice)
    unlisted = await published(alice, visibility="unlisted")
    await videos.draft(alice)

    seen_by_bob = await all_items(client, bob, "/v1/users/alice/videos")
    seen_by_alice = await all_items(client, alice, "/v1/users/alice/videos")

    assert [item["id"] for item in seen_by_bob] == [newer, older]
    assert [item["id"] for item in seen_by_alice] == [unlisted, newer, older]
    # The unlisted video is still reachable by its id.
    assert (await video(client, bob, unlisted))["visibility"] == "unlisted"


async def test_user_videos_paginate(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    made = [await published(alice) for _ in range(5)]

    first = await client.get("/v1/users/alice/videos", headers=bob.headers, params={"limit": 2})
    everything = await all_items(client, bob, "/v1/users/alice/videos", limit=2)

    assert len(first.json()["items"]) == 2
    assert first.json()["next_cursor"]
    assert [item["id"] for item in everything] == list(reversed(made))


async def test_user_videos_of_an_unknown_user_is_404(client, users):
    alice = await users.create("alice")

    assert_problem(await client.get("/v1/users/nobody/videos", headers=alice.headers), 404, "user_not_found")


@pytest.mark.parametrize("garbage", ["not-a-uuid", "123", "0000", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"])
async def test_garbage_ids_are_404(client, users, garbage):
    alice = await users.create("alice")
    h = alice.headers

    for response in (
        await client.get(f"/v1/videos/{garbage}", headers=h),
        await client.patch(f"/v1/videos/{garbage}", headers=h, json={"caption": "x"}),
        await client.delete(f"/v1/videos/{garbage}", headers=h),
        await client.post(f"/v1/videos/{garbage}/publish", headers=h, json={}),
        await client.get(f"/v1/videos/{garbage}/content", headers=h),
        await client.post(f"/v1/videos/{garbage}/like", headers=h),
        await client.delete(f"/v1/videos/{garbage}/like", headers=h),
        await client.get(f"/v1/videos/{garbage}/comments", headers=h),
        await client.post(f"/v1/videos/{garbage}/comments", headers=h, json={"body": "hi"}),
        await client.post(f"/v1/videos/{garbage}/views", headers=h),
        await client.get(f"/v1/videos/{garbage}/lineage", headers=h),
        await client.get(f"/v1/videos/{garbage}/remixes", headers=h),
        await client.get(f"/v1/videos/{garbage}/tree", headers=h),
        await client.delete(f"/v1/comments/{garbage}", headers=h),
    ):
        assert_problem(response, 404)


async def test_an_unknown_uuid_is_404(client, users):
    alice = await users.create("alice")

    response = await get_video(client, alice, "0195f3c2-0000-7000-8000-000000000000")

    assert_problem(response, 404, "video_not_found")


async def test_bad_cursors_are_400(client, users, published):
    alice = await users.create("alice")
    video_id = await published(alice)
    # A cursor from another list is refused too.
    drafts_cursor_source = [await published(alice) for _ in range(2)]
    other = (await client.get("/v1/users/alice/videos", headers=alice.headers, params={"limit": 1})).json()
    assert other["next_cursor"] and drafts_cursor_source

    for path in (
        "/v1/me/drafts",
        "/v1/users/alice/videos",
        f"/v1/videos/{video_id}/comments",
        f"/v1/videos/{video_id}/remixes",
        "/v1/notifications",
    ):
        for cursor in ("garbage", "AAAA", other["next_cursor"] if path != "/v1/users/alice/videos" else "x!"):
            response = await client.get(path, headers=alice.headers, params={"cursor": cursor})
            assert_problem(response, 400, "invalid_cursor")


async def test_video_endpoints_need_a_login(client, users, published):
    alice = await users.create("alice")
    video_id = await published(alice)

    for response in (
        await client.get(f"/v1/videos/{video_id}"),
        await client.get("/v1/me/drafts"),
        await client.post(f"/v1/videos/{video_id}/like"),
        await client.get(f"/v1/videos/{video_id}/content"),
        await client.get("/v1/notifications"),
    ):
        assert_problem(response, 401)


async def test_patch_can_hide_the_prompt_later(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    video_id = await published(alice)
    assert (await video(client, bob, video_id))["prompt"] is not None

    response = await client.patch(
        f"/v1/videos/{video_id}", headers=alice.headers, json={"show_prompt": False}
    )

    assert response.status_code == 200, response.text
    assert (await video(client, bob, video_id))["prompt"] is None
