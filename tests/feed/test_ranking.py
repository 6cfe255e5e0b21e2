"""The ranked cut (for_you) favours connection over popularity, and the chronological cuts, through
GET /v1/feed: ordering by tier, each reason, blocks and removals, see-less, steering, mood and
personalisation off."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.accounts.helpers import block, follow
from tests.accounts.test_avatar import image_bytes, upload
from tests.factories import Actor
from tests.feed.helpers import comment, publish


async def feed(client: Any, actor: Actor, cut: str = "for_you", **params: Any) -> list[tuple[str, str]]:
    response = await client.get("/v1/feed", headers=actor.headers, params={"cut": cut, **params})
    assert response.status_code == 200, response.text
    return [(item["video"]["id"], item["reason"]) for item in response.json()["items"]]


async def like(client: Any, actor: Actor, video_id: str) -> None:
    response = await client.post(f"/v1/videos/{video_id}/like", headers=actor.headers)
    assert response.status_code == 204, response.text


async def test_connection_outranks_popularity(client, users, videos, cameos, published):
    viewer = await users.create("viewer")
    friend = await users.create("friend")  # followed
    liked = await users.create("liked")  # interacted with
    remixer = await users.create("remixer")
    caster = await users.create("caster")  # casts the viewer's cameo
    star = await users.create("star")  # popular, unconnected
    fans = [await users.create(f"fan{n}") for n in range(3)]
    assert (await follow(client, viewer.headers, "friend")).status_code == 204

    own = await published(viewer)
    popular = await published(star)
    for fan in fans:
        await like(client, fan, popular)
    older_of_liked = await published(liked)
    await like(client, viewer, older_of_liked)
    of_liked = await published(liked)
    of_friend = await published(friend)
    remix = await published(remixer, remix_of=own)
    draft = await videos.draft(caster, appearances=[(viewer, await cameos.active(viewer))])
    assert (await publish(client, caster, draft.id)).status_code == 200

    items = await feed(client, viewer)
    reasons = dict(items)
    assert own not in reasons
    assert reasons[draft.id] == "cameo_of_you"
    assert reasons[remix] == "remix_of_yours"
    assert reasons[of_friend] == "followed"
    assert reasons[of_liked] == "interacted"
    assert reasons[older_of_liked] == "interacted"
    assert reasons[popular] == "popular"
    order = [video_id for video_id, _ in items]
    assert order.index(draft.id) < order.index(remix) < order.index(of_friend) < order.index(of_liked)
    assert order.index(of_liked) < order.index(popular)


async def test_commenting_makes_an_author_interacted_and_unconnected_videos_are_popular(
    client, users, published
):
    viewer = await users.create("viewer")
    talker = await users.create("talker")
    stranger = await users.create("stranger")
    first = await published(talker)
    assert (await comment(client, viewer, first, "lovely")).status_code == 201
    second = await published(talker)
    unconnected = await published(stranger)

    reasons = dict(await feed(client, viewer))
    assert reasons == {first: "interacted", second: "interacted", unconnected: "popular"}


async def test_cuts_are_chronological_and_skip_what_nobody_may_list(
    client, users, videos, published, resources
):
    # One viewer per cut: a feed session never serves a video twice.
    viewers = [await users.create(f"viewer{n}") for n in range(3)]
    friend = await users.create("friend")
    other = await users.create("other")
    blocker = await users.create("blocker")
    blocked = await users.create("blocked")
    for viewer in viewers:
        for name in ("friend", "blocker", "blocked"):
            assert (await follow(client, viewer.headers, name)).status_code == 204
    older = await published(friend)
    unlisted = await published(friend, visibility="unlisted")
    removed = await published(friend)
    deleted = await published(friend)
    by_blocker = await published(blocker)
    by_blocked = await published(blocked)
    newer = await published(friend)
    of_other = await published(other)
    owns = [await published(viewer) for viewer in viewers]
    await videos.draft(friend)  # a draft appears nowhere
    for viewer in viewers:
        assert (await block(client, blocker.headers, viewer.username)).status_code == 204
        assert (await block(client, viewer.headers, "blocked")).status_code == 204
    assert (await client.delete(f"/v1/videos/{deleted}", headers=friend.headers)).status_code == 204
    async with resources.engine.begin() as connection:  # a moderation outcome
        await connection.execute(
            text("UPDATE videos SET status = 'removed', removed_at = now() WHERE id = :id"), {"id": removed}
        )
    hidden = {unlisted, removed, deleted, by_blocker, by_blocked}

    # Everyone's own videos stay out of their feeds (the others' are ordinary posts to them).
    following, latest, for_you = viewers
    assert await feed(client, following, "following") == [(newer, "followed"), (older, "followed")]
    assert await feed(client, latest, "latest") == [
        (owns[2], "popular"),
        (owns[0], "popular"),
        (of_other, "popular"),
        (newer, "followed"),
        (older, "followed"),
    ]
    ranked = {video_id for video_id, _ in await feed(client, for_you)}
    assert ranked == {newer, older, of_other, owns[0], owns[1]}
    assert not hidden & ranked


async def test_following_pages_newest_first_without_repeats(client, users, published):
    viewer = await users.create("viewer")
    await users.create("friend")
    friend = await users.create("friend2")
    assert (await follow(client, viewer.headers, "friend2")).status_code == 204
    made = [await published(friend) for _ in range(5)]
    response = await client.get("/v1/feed", headers=viewer.headers, params={"cut": "following", "limit": 2})
    page = response.json()
    second = await client.get(
        "/v1/feed",
        headers=viewer.headers,
        params={"cut": "following", "limit": 10, "cursor": page["next_cursor"]},
    )
    ids = [item["video"]["id"] for item in page["items"] + second.json()["items"]]
    assert ids == list(reversed(made))


async def test_see_less_hides_the_video_and_weighs_its_author_down(client, users, published):
    viewer = await users.create("viewer")
    control = await users.create("control")  # the same follows, no see-less
    loud = await users.create("loud")
    quiet = await users.create("quiet")
    fans = [await users.create(f"fan{n}") for n in range(3)]
    for actor in (viewer, control):
        for name in ("loud", "quiet"):
            assert (await follow(client, actor.headers, name)).status_code == 204
    of_quiet = await published(quiet)
    unwanted = await published(loud)
    other_of_loud = await published(loud)
    for fan in fans:
        await like(client, fan, other_of_loud)

    response = await client.post(f"/v1/videos/{unwanted}/see-less", headers=viewer.headers)
    assert response.status_code == 204, response.text

    usual = [video_id for video_id, _ in await feed(client, control)]
    assert usual.index(other_of_loud) < usual.index(of_quiet)
    after = [video_id for video_id, _ in await feed(client, viewer)]
    assert unwanted not in after
    assert after.index(of_quiet) < after.index(other_of_loud)


async def test_steering_favours_and_avoids_topics(client, users, published):
    viewer = await users.create("viewer")
    star = await users.create("star")
    maker = await users.create("maker")
    fans = [await users.create(f"fan{n}") for n in range(3)]
    popular = await published(star, caption="a busy street")
    for fan in fans:
        await like(client, fan, popular)
    cats = await published(maker, caption="Cats napping in the sun")
    scary = await published(maker, caption="a horror film about cats")
    politics = await published(star, caption="politics tonight")

    response = await client.put(
        "/v1/me/feed-preferences",
        headers=viewer.headers,
        json={"steer": "more cats please, no horror and less politics"},
    )
    assert response.status_code == 200, response.text
    items = await feed(client, viewer)
    assert items[0] == (cats, "steered")
    assert (popular, "popular") in items
    assert scary not in dict(items)
    assert politics not in dict(items)


async def test_mood_nudges_energised_videos_up_after_a_checkin(client, users, published):
    viewer = await users.create("viewer")
    control = await users.create("control")
    maker = await users.create("maker")
    dance = await published(maker, caption="dance party")
    calm = await published(maker, caption="calm rain on a forest")
    response = await client.post(
        "/v1/feed/checkins", headers=viewer.headers, json={"mood": 2, "want": "more_energized"}
    )
    assert response.status_code == 204, response.text

    # Newer first when otherwise equal; the check-in lifts the energised one above it.
    assert [video_id for video_id, _ in await feed(client, control)] == [calm, dance]
    assert [video_id for video_id, _ in await feed(client, viewer)] == [dance, calm]


async def test_not_personalized_is_popular_for_everyone(client, users, videos, cameos, published):
    viewer = await users.create("viewer")
    friend = await users.create("friend")
    star = await users.create("star")
    fans = [await users.create(f"fan{n}") for n in range(3)]
    assert (await follow(client, viewer.headers, "friend")).status_code == 204
    of_friend = await published(friend)
    popular = await published(star)
    for fan in fans:
        await like(client, fan, popular)
    draft = await videos.draft(star, appearances=[(viewer, await cameos.active(viewer))])
    assert (await publish(client, star, draft.id)).status_code == 200

    response = await client.put(
        "/v1/me/feed-preferences", headers=viewer.headers, json={"personalized": False}
    )
    assert response.status_code == 200, response.text
    items = await feed(client, viewer)
    assert {reason for _, reason in items} == {"popular"}
    assert items[0] == (popular, "popular")
    assert {video_id for video_id, _ in items} == {of_friend, popular, draft.id}


async def test_no_more_than_three_in_a_row_from_one_author(client, users, published):
    viewer = await users.create("viewer")
    prolific = await users.create("prolific")
    other = await users.create("other")
    for name in ("prolific", "other"):
        assert (await follow(client, viewer.headers, name)).status_code == 204
    of_other = await published(other)
    many = [await published(prolific) for _ in range(5)]

    order = [video_id for video_id, _ in await feed(client, viewer)]
    assert order == [many[4], many[3], many[2], of_other, many[1], many[0]]


async def test_every_cut_presents_its_videos_as_the_video_itself_does(client, users, published):
    """Pages read each video's author and the viewer's like with the videos (feed.timeline.queries
    .Shown): each item must be what GET /v1/videos/{id} answers, display name, avatar and like
    included."""
    maker = await users.create("maker")
    response = await client.patch("/v1/me", json={"display_name": "The Maker"}, headers=maker.headers)
    assert response.status_code == 200, response.text
    assert (await upload(client, maker.headers, image_bytes("PNG"))).status_code == 200
    liked, other = await published(maker, caption="liked"), await published(maker, caption="not liked")

    for cut in ("for_you", "following", "latest"):
        viewer = await users.create(f"viewer_{cut}")  # one feed session serves a video once
        assert (await follow(client, viewer.headers, "maker")).status_code == 204
        await like(client, viewer, liked)
        response = await client.get("/v1/feed", headers=viewer.headers, params={"cut": cut})
        assert response.status_code == 200, response.text
        shown = {item["video"]["id"]: item["video"] for item in response.json()["items"]}
        assert set(shown) == {liked, other}, cut
        for video_id, item in shown.items():
            alone = await client.get(f"/v1/videos/{video_id}", headers=viewer.headers)
            assert item == alone.json(), cut
        assert shown[liked]["liked_by_me"] and not shown[other]["liked_by_me"]
        assert shown[liked]["author"]["display_name"] == "The Maker"
        assert shown[liked]["author"]["avatar_url"]
