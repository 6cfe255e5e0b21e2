"""Remixes (only of completed videos) and characters."""

from __future__ import annotations

import openai
import pytest

from generation.simulator import SimulatorHandle
from tests.generation.simulator.support import completed, control, image_bytes, wait_for


async def test_remix_of_a_completed_video(videos_client: openai.AsyncOpenAI, sim: SimulatorHandle) -> None:
    source = await completed(
        videos_client, prompt="a lighthouse", model="sora-2-pro", seconds="8", size="1792x1024"
    )
    remix = await videos_client.videos.remix(source.id, prompt="the lighthouse at night")
    assert remix.id != source.id
    assert remix.remixed_from_video_id == source.id
    assert remix.prompt == "the lighthouse at night"
    # A remix keeps the source's model, length and size.
    assert (remix.model, remix.seconds, remix.size) == ("sora-2-pro", "8", "1792x1024")
    assert remix.status == "queued"
    done = await wait_for(videos_client, remix.id)
    assert done.status == "completed"
    assert done.remixed_from_video_id == source.id

    of_remix = await videos_client.videos.remix(remix.id, prompt="the lighthouse in a storm")
    assert of_remix.remixed_from_video_id == remix.id
    stats = control(sim, "stats")
    assert (stats["jobs_created"], stats["remixes_created"]) == (3, 2)


async def test_remix_is_refused_unless_the_source_is_completed(
    videos_client: openai.AsyncOpenAI, sim: SimulatorHandle
) -> None:
    running = await videos_client.videos.create(prompt="not yet")
    with pytest.raises(openai.BadRequestError) as refused:
        await videos_client.videos.remix(running.id, prompt="too early")
    assert "only completed videos can be remixed" in refused.value.message

    failed = await videos_client.videos.create(prompt=f"doomed {sim.blocked_output_word}")
    assert (await wait_for(videos_client, failed.id)).status == "failed"
    with pytest.raises(openai.BadRequestError):
        await videos_client.videos.remix(failed.id, prompt="from a failure")

    with pytest.raises(openai.NotFoundError):
        await videos_client.videos.remix("video_missing", prompt="from nothing")
    assert control(sim, "stats")["remixes_created"] == 0


async def test_remix_prompts_are_validated_and_moderated(
    videos_client: openai.AsyncOpenAI, sim: SimulatorHandle
) -> None:
    source = await completed(videos_client)
    with pytest.raises(openai.BadRequestError) as empty:
        await videos_client.videos.remix(source.id, prompt="")
    assert (empty.value.param, empty.value.code) == ("prompt", "empty_string")
    with pytest.raises(openai.BadRequestError) as blocked:
        await videos_client.videos.remix(source.id, prompt=f"add some {sim.blocked_input_word}")
    assert blocked.value.code == "moderation_blocked"
    with pytest.raises(openai.BadRequestError) as unknown:
        await videos_client.videos.remix(source.id, prompt="ok", extra_body={"seconds": "8"})
    assert (unknown.value.param, unknown.value.code) == ("seconds", "unknown_parameter")

    moderated = await videos_client.videos.remix(source.id, prompt=f"later {sim.blocked_output_word}")
    done = await wait_for(videos_client, moderated.id)
    assert done.status == "failed"
    assert done.error is not None and done.error.code == "moderation_blocked"


async def test_characters_from_a_video(videos_client: openai.AsyncOpenAI) -> None:
    video = await completed(videos_client, prompt="a friendly robot")
    clip = (await videos_client.videos.download_content(video.id)).content
    character = await videos_client.videos.create_character(
        name="Robo", video=("robo.mp4", clip, "video/mp4")
    )
    assert character.id is not None and character.id.startswith("char_")
    assert character.name == "Robo"
    assert character.created_at > 0
    again = await videos_client.videos.get_character(character.id)
    assert (again.id, again.name, again.created_at) == (character.id, "Robo", character.created_at)

    with pytest.raises(openai.BadRequestError) as not_video:
        await videos_client.videos.create_character(
            name="Pic", video=("pic.png", image_bytes(64, 64), "image/png")
        )
    assert not_video.value.param == "video"
    with pytest.raises(openai.BadRequestError) as no_name:
        await videos_client.videos.create_character(name=" ", video=("robo.mp4", clip, "video/mp4"))
    assert no_name.value.param == "name"
    with pytest.raises(openai.NotFoundError):
        await videos_client.videos.get_character("char_missing")
