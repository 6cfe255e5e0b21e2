"""Prompts, captions and comments are screened before they are accepted: a clear violation is
refused with nothing created; a borderline one is accepted and a `moderation.flag_content` job is
enqueued for the `automated` queue. Through HTTP, against the session's simulator (its moderation
trigger words are in generation/simulator/policy.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.resources import Resources
from app.screening import text_fingerprint
from generation.simulator import SimulatorHandle
from tests.accounts.helpers import assert_problem
from tests.factories import UserFactory
from tests.feed.factories import VideoFactory
from tests.feed.helpers import comment, publish, video
from tests.generation.helpers import generate, simulator_control, wait_until_done
from tests.screening.helpers import flag_jobs, published_video

# Refused by the local rules before any endpoint is asked.
LOCAL_CLEAR = "naked children on a beach"


async def moderation_calls(simulator: SimulatorHandle) -> int:
    stats: dict[str, Any] = await simulator_control(simulator, "stats")
    count: int = stats["requests"]["moderations"]
    return count


# --- prompts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["local rules", "moderation endpoint"])
async def test_a_clearly_violating_prompt_is_refused_and_nothing_is_made(
    client: httpx.AsyncClient,
    users: UserFactory,
    resources: Resources,
    simulator: SimulatorHandle,
    source: str,
) -> None:
    alice = await users.create("alice")
    prompt = LOCAL_CLEAR if source == "local rules" else f"a {simulator.moderation_clear_word} at dawn"
    response = await client.post("/v1/generations", json={"prompt": prompt}, headers=alice.headers)
    body = assert_problem(response, 422, "prompt_rejected")
    assert "violence" in body["detail"] or "sexual/minors" in body["detail"]
    listed = (await client.get("/v1/generations", headers=alice.headers)).json()
    assert listed["items"] == []
    assert (await client.get("/v1/me/quota", headers=alice.headers)).json()["used"] == 0
    stats = await simulator_control(simulator, "stats")
    assert stats["jobs_created"] == 0  # never sent to the video provider
    # The local rules answer first and spare the endpoint the call.
    assert stats["requests"]["moderations"] == (0 if source == "local rules" else 1)
    assert await flag_jobs(resources) == []


async def test_a_borderline_prompt_is_accepted_and_flagged(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, simulator: SimulatorHandle
) -> None:
    alice = await users.create("alice")
    prompt = f"a {simulator.moderation_borderline_word} at a pub"
    accepted = await generate(client, alice.headers, prompt=prompt)
    assert accepted["status"] == "queued"
    done = await wait_until_done(client, alice.headers, accepted["id"])
    assert done["status"] == "completed"  # accepted means made: the flag only asks for a look
    assert await flag_jobs(resources) == [
        {
            "target_type": "generation",
            "target_id": accepted["id"],
            "categories": ["violence"],
            "text_kind": "prompt",
            "text_sha": text_fingerprint(prompt),
        }
    ]


async def test_a_plain_prompt_is_screened_and_not_flagged(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, simulator: SimulatorHandle
) -> None:
    alice = await users.create("alice")
    accepted = await generate(client, alice.headers, prompt="a fox in the snow")
    await wait_until_done(client, alice.headers, accepted["id"])
    assert await moderation_calls(simulator) == 1
    assert await flag_jobs(resources) == []


async def test_an_idempotent_replay_is_not_screened_or_flagged_again(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, simulator: SimulatorHandle
) -> None:
    alice = await users.create("alice")
    headers = {**alice.headers, "Idempotency-Key": "k-1"}
    body = {"prompt": f"a {simulator.moderation_borderline_word} on the beach"}
    first = await client.post("/v1/generations", json=body, headers=headers)
    again = await client.post("/v1/generations", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    await wait_until_done(client, alice.headers, first.json()["id"])
    assert await moderation_calls(simulator) == 1
    assert len(await flag_jobs(resources)) == 1


# --- captions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("caption", [LOCAL_CLEAR, "watch this BEHEADING"])
async def test_a_clearly_violating_caption_is_refused_on_publish(
    client: httpx.AsyncClient,
    users: UserFactory,
    videos: VideoFactory,
    resources: Resources,
    caption: str,
) -> None:
    alice = await users.create("alice")
    draft = await videos.draft(alice)
    refused = await publish(client, alice, draft.id, caption=caption)
    assert_problem(refused, 422, "content_rejected")
    still = await video(client, alice, draft.id)
    assert (still["status"], still["caption"]) == ("draft", "")
    me = (await client.get("/v1/me", headers=alice.headers)).json()
    assert me["post_count"] == 0
    assert await flag_jobs(resources) == []
    # The refusal used no Idempotency-Key slot and left the draft publishable.
    assert (await publish(client, alice, draft.id, caption="sunset")).status_code == 200


async def test_a_borderline_caption_is_published_and_flagged(
    client: httpx.AsyncClient,
    users: UserFactory,
    videos: VideoFactory,
    resources: Resources,
    simulator: SimulatorHandle,
) -> None:
    alice = await users.create("alice")
    draft = await videos.draft(alice)
    caption = f"the great {simulator.moderation_borderline_word}"
    response = await publish(client, alice, draft.id, caption=caption)
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["caption"]) == ("published", caption)
    assert await flag_jobs(resources) == [
        {
            "target_type": "video",
            "target_id": draft.id,
            "categories": ["violence"],
            "text_kind": "caption",
            "text_sha": text_fingerprint(caption),
        }
    ]


async def test_publishing_without_a_caption_asks_no_screener(
    client: httpx.AsyncClient, users: UserFactory, videos: VideoFactory, simulator: SimulatorHandle
) -> None:
    alice = await users.create("alice")
    await published_video(client, videos, alice)
    assert await moderation_calls(simulator) == 0


async def test_patching_a_caption_is_screened(
    client: httpx.AsyncClient,
    users: UserFactory,
    videos: VideoFactory,
    resources: Resources,
    simulator: SimulatorHandle,
) -> None:
    alice = await users.create("alice")
    video_id = await published_video(client, videos, alice)
    path = f"/v1/videos/{video_id}"

    refused = await client.patch(path, json={"caption": "bombmaking for beginners"}, headers=alice.headers)
    assert_problem(refused, 422, "content_rejected")
    refused = await client.patch(
        path, json={"caption": LOCAL_CLEAR, "visibility": "unlisted"}, headers=alice.headers
    )
    assert_problem(refused, 422, "content_rejected")
    unchanged = await video(client, alice, video_id)
    assert (unchanged["caption"], unchanged["visibility"]) == ("", "public")  # nothing of it applied
    assert await flag_jobs(resources) == []

    calls = await moderation_calls(simulator)
    other = await client.patch(path, json={"visibility": "unlisted"}, headers=alice.headers)
    assert other.status_code == 200
    assert await moderation_calls(simulator) == calls  # no caption, nothing to screen

    borderline = await client.patch(path, json={"caption": "pure trashtalk"}, headers=alice.headers)
    assert borderline.status_code == 200, borderline.text
    assert borderline.json()["caption"] == "pure trashtalk"
    assert await flag_jobs(resources) == [
        {
            "target_type": "video",
            "target_id": video_id,
            "categories": ["harassment"],
            "text_kind": "caption",
            "text_sha": text_fingerprint("pure trashtalk"),
        }
    ]


# --- comments ------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [LOCAL_CLEAR, "step one of the beheading"])
async def test_a_clearly_violating_comment_is_refused_and_not_stored(
    client: httpx.AsyncClient,
    users: UserFactory,
    videos: VideoFactory,
    resources: Resources,
    body: str,
) -> None:
    alice, bob = await users.create("alice"), await users.create("bob")
    video_id = await published_video(client, videos, alice)
    refused = await comment(client, bob, video_id, body)
    assert_problem(refused, 422, "content_rejected")
    listed = (await client.get(f"/v1/videos/{video_id}/comments", headers=alice.headers)).json()
    assert listed["items"] == []
    assert (await video(client, alice, video_id))["comment_count"] == 0
    notes = (await client.get("/v1/notifications", headers=alice.headers)).json()["items"]
    assert notes == []
    assert await flag_jobs(resources) == []


async def test_a_borderline_comment_is_posted_and_flagged(
    client: httpx.AsyncClient,
    users: UserFactory,
    videos: VideoFactory,
    resources: Resources,
    simulator: SimulatorHandle,
) -> None:
    alice, bob = await users.create("alice"), await users.create("bob")
    video_id = await published_video(client, videos, alice)
    posted = await comment(client, bob, video_id, "you started the brawl, and that is trashtalk")
    assert posted.status_code == 201, posted.text
    assert (await video(client, alice, video_id))["comment_count"] == 1
    assert await flag_jobs(resources) == [
        {
            "target_type": "comment",
            "target_id": posted.json()["id"],
            "categories": ["harassment", "violence"],
            "text_kind": "comment",
            "text_sha": text_fingerprint("you started the brawl, and that is trashtalk"),
        }
    ]
    plain = await comment(client, bob, video_id, "lovely colours")
    assert plain.status_code == 201
    assert len(await flag_jobs(resources)) == 1
    assert await moderation_calls(simulator) == 2


async def test_an_empty_comment_is_still_a_validation_error(
    client: httpx.AsyncClient, users: UserFactory, videos: VideoFactory, simulator: SimulatorHandle
) -> None:
    alice = await users.create("alice")
    video_id = await published_video(client, videos, alice)
    assert_problem(await comment(client, alice, video_id, "   "), 422, "validation_failed")
    assert await moderation_calls(simulator) == 0
