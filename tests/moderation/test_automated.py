"""The `automated` queue: what screening flagged (the `moderation.flag_content` job) joins one item
per target with every flag kept; restore_content undoes a removal outside appeals too."""

from __future__ import annotations

import asyncio
from uuid import UUID

from sqlalchemy import func, select

from app.deferred_jobs import DeferredJob
from app.screening import FLAG_CONTENT_JOB, flag_job_key, text_fingerprint
from moderation.jobs import file_flag
from moderation.models import ModerationItem
from tests.accounts.helpers import assert_problem
from tests.feed.helpers import comment, get_video, video
from tests.generation.helpers import stored_generation
from tests.moderation.helpers import claim, claimed, decided, notifications_of, queues, reported
from tests.processes import eventually
from tests.screening.helpers import flag_jobs


async def test_flags_on_one_target_join_one_automated_item(client, users, published, resources, mod):
    """The job is called directly here, so the flags are known exactly."""
    alice = await users.create("alice")
    video_id = await published(alice, caption="a day at the beach")

    # The same flag twice at once (a retried job racing the first) is kept once.
    await asyncio.gather(
        *(file_flag(resources, "video", video_id, ["violence"], "caption") for _ in range(2))
    )
    await file_flag(resources, "video", video_id, ["self-harm/intent"], "prompt")
    await file_flag(resources, "video", "00000000-0000-0000-0000-000000000000", ["hate"], "caption")

    assert (await queues(client, mod))["automated"]["open_count"] == 1
    held = await claimed(client, mod, "automated")
    assert held["target"] == {"type": "video", "id": video_id}
    assert held["reports"] == []
    assert held["report_count"] == 2
    flags = held["subject"]["snapshot"]["flags"]
    assert [(f["text_kind"], f["categories"]) for f in flags] == [
        ("caption", ["violence"]),
        ("prompt", ["self-harm/intent"]),
    ]
    assert flags[0]["text"] == "a day at the beach"
    assert held["subject"]["user"]["username"] == "alice"


async def test_the_same_flag_twice_is_one_job_and_one_item(client, users, published, resources, mod):
    """At least once: a flag's job is keyed by the text it flags, so flagging the same caption again
    is the same job, and a copy that runs again anyway (kept in deferred_jobs after a lost Redis
    reply, replayed once the first has run) files nothing more."""
    alice = await users.create("alice")
    video_id = await published(alice, caption="pure trashtalk")
    again = await client.patch(
        f"/v1/videos/{video_id}", json={"caption": "pure trashtalk"}, headers=alice.headers
    )
    assert again.status_code == 200, again.text
    (flagged,) = await flag_jobs(resources)

    key = flag_job_key("video", video_id, "caption", flagged["text_sha"])
    await resources.jobs.defer(FLAG_CONTENT_JOB, key=key, **flagged)

    async def replayed() -> bool:
        async with resources.session_factory() as session:
            return await session.scalar(select(func.count()).select_from(DeferredJob)) == 0

    await eventually(replayed, within=15, what="the deferred flag is replayed")
    assert await flag_jobs(resources) == [flagged]
    # And once more by hand: the handler itself keeps one flag per text on the open item.
    await file_flag(resources, **flagged)

    assert (await queues(client, mod))["automated"]["open_count"] == 1
    held = await claimed(client, mod, "automated")
    assert held["target"] == {"type": "video", "id": video_id}
    assert held["report_count"] == 1
    (flag,) = held["subject"]["snapshot"]["flags"]
    assert (flag["text_kind"], flag["text"]) == ("caption", "pure trashtalk")


async def automated_items_of(resources, video_id: str) -> int:
    async with resources.session_factory() as session:
        return await session.scalar(
            select(func.count())
            .select_from(ModerationItem)
            .where(ModerationItem.queue == "automated", ModerationItem.target_id == UUID(video_id))
        )


async def test_a_flag_job_run_again_after_its_item_was_decided_files_nothing_more(
    client, users, published, resources, mod
):
    """At least once: a flag's job can run again after a moderator has decided its item (its
    outbox row replayed because the run's DELETE of it failed). That copy files no second item;
    a genuinely new flag on the same target (a category not flagged before, a changed text) does."""
    alice = await users.create("alice")
    video_id = await published(alice, caption="a scuffle at the market")
    flagged = {
        "target_type": "video",
        "target_id": video_id,
        "categories": ["violence"],
        "text_kind": "caption",
    }
    await file_flag(resources, **flagged)
    await decided(client, mod, (await claimed(client, mod, "automated"))["id"], "dismiss")

    await file_flag(resources, **flagged)
    assert (await queues(client, mod))["automated"]["open_count"] == 0
    assert await automated_items_of(resources, video_id) == 1

    # The same text flagged for a category it was not flagged for: a new item.
    await file_flag(resources, **{**flagged, "categories": ["violence", "harassment"]})
    held = await claimed(client, mod, "automated")
    ((text, categories),) = [(f["text"], f["categories"]) for f in held["subject"]["snapshot"]["flags"]]
    assert (text, categories) == ("a scuffle at the market", ["violence", "harassment"])
    await decided(client, mod, held["id"], "dismiss")
    # A changed caption: a new item too.
    changed = await client.patch(
        f"/v1/videos/{video_id}", json={"caption": "a tussle at the market"}, headers=alice.headers
    )
    assert changed.status_code == 200, changed.text
    await file_flag(resources, **flagged)
    held = await claimed(client, mod, "automated")
    assert [f["text"] for f in held["subject"]["snapshot"]["flags"]] == ["a tussle at the market"]
    assert await automated_items_of(resources, video_id) == 3


async def test_a_flag_job_run_after_its_text_was_edited_files_nothing(
    client, users, published, resources, mod
):
    """At least once: a flag's job can run again (its outbox row replayed) after the item was
    decided and the caption edited to a text nothing flags. The job carries the fingerprint of the
    text it screened, so it files nothing against a text it never judged; while the text stands,
    the job files as before. A job queued before the fingerprint existed carries none, and files
    against the current text as it always did (the test above)."""
    alice = await users.create("alice")
    video_id = await published(alice, caption="pure trashtalk")
    (flagged,) = await flag_jobs(resources)
    assert flagged["text_sha"] == text_fingerprint("pure trashtalk")
    held = await claimed(client, mod, "automated")
    assert [f["text"] for f in held["subject"]["snapshot"]["flags"]] == ["pure trashtalk"]
    await decided(client, mod, held["id"], "dismiss")

    edited = await client.patch(
        f"/v1/videos/{video_id}", json={"caption": "a quiet afternoon"}, headers=alice.headers
    )
    assert edited.status_code == 200, edited.text
    assert await flag_jobs(resources) == [flagged]  # the new caption is not flagged
    await file_flag(resources, **flagged)  # the replay, after the edit

    assert (await queues(client, mod))["automated"]["open_count"] == 0
    assert await automated_items_of(resources, video_id) == 1


def test_a_changed_text_has_its_own_flag_job_key():
    """Two flagged texts of one caption are two jobs: the second must not collapse into the
    first's pending job, which files nothing once its text has been replaced."""
    first = flag_job_key("video", "v", "caption", text_fingerprint("pure trashtalk"))
    assert first != flag_job_key("video", "v", "caption", text_fingerprint("more trashtalk"))
    assert first == flag_job_key("video", "v", "caption", text_fingerprint("pure trashtalk"))


async def test_a_flagged_prompt_is_filed_against_its_author(client, users, resources, mod):
    alice = await users.create("alice")
    generation_id = str((await stored_generation(resources, alice.id, "a brawl")).id)

    await file_flag(resources, "generation", generation_id, ["violence"], "prompt")

    held = await claimed(client, mod, "automated")
    assert held["target"] == {"type": "user", "id": alice.id}
    (flag,) = held["subject"]["snapshot"]["flags"]
    assert flag["source_type"] == "generation"
    assert flag["source_id"] == generation_id
    assert flag["text"] == "a brawl"
    await decided(client, mod, held["id"], "warn_user", note="keep prompts civil")


async def test_automated_items_are_prioritised_by_category(client, users, published, resources, mod):
    alice = await users.create("alice")
    mild = await published(alice)
    grave = await published(alice)
    await file_flag(resources, "video", mild, ["harassment"], "caption")
    await file_flag(resources, "video", grave, ["sexual/minors"], "caption")

    assert (await claimed(client, mod, "automated"))["target"]["id"] == grave
    assert (await claimed(client, mod, "automated"))["target"]["id"] == mild


async def test_restore_content_undoes_a_removal(client, users, published, resources, mod):
    alice, bob = await users.create("alice"), await users.create("bob")
    video_id = await published(alice)
    await reported(client, bob, "video", video_id, "violence")
    await decided(client, mod, (await claimed(client, mod))["id"], "remove_content")
    assert_problem(await get_video(client, bob, video_id), 404)

    # The screener flags the (removed) video as well; a second look restores it.
    await file_flag(resources, "video", video_id, ["violence"], "caption")
    held = await claimed(client, mod, "automated")
    assert held["subject"]["snapshot"]["status"] == "removed"
    await decided(client, mod, held["id"], "restore_content", note="removed by mistake")

    assert (await video(client, bob, video_id))["status"] == "published"
    told = await notifications_of(client, alice, "moderation_decision")
    assert [n["subject"]["excerpt"] for n in told] == ["restore_content", "remove_content"]


async def test_a_borderline_comment_reaches_the_automated_queue(client, users, published, mod):
    """Through the whole path: screening flags it, the job runs in the app's worker."""
    alice, bob = await users.create("alice"), await users.create("bob")
    video_id = await published(alice)
    said = await comment(client, bob, video_id, "that is some trashtalk")
    assert said.status_code == 201, said.text

    for _ in range(100):
        if (await queues(client, mod))["automated"]["open_count"]:
            break
        await asyncio.sleep(0.1)
    held = await claimed(client, mod, "automated")
    assert held["target"] == {"type": "comment", "id": said.json()["id"]}
    assert "harassment" in held["subject"]["snapshot"]["flags"][0]["categories"]
    assert (await claim(client, mod, "automated")).status_code == 204
