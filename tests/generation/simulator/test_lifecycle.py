"""A job's life through the SDK: queued, in_progress with rising progress, completed; its media;
listing and deleting."""

from __future__ import annotations

import asyncio
import io
import time

import av
import openai
import pytest
from PIL import Image

from generation.simulator import SimulatorHandle
from tests.generation.simulator.conftest import SECONDS_PER_VIDEO
from tests.generation.simulator.support import completed, control, wait_for


async def test_a_job_is_queued_then_progresses_then_completes(videos_client: openai.AsyncOpenAI) -> None:
    before = int(time.time())
    video = await videos_client.videos.create(prompt="a lighthouse at dusk")
    assert video.id.startswith("video_")
    assert video.object == "video"
    assert (video.status, video.progress) == ("queued", 0)
    # The defaults the real API applies.
    assert (video.model, video.seconds, video.size) == ("sora-2", "4", "720x1280")
    assert video.prompt == "a lighthouse at dusk"
    assert video.created_at >= before
    assert video.completed_at is None and video.expires_at is None and video.error is None

    seen: list[tuple[str, int]] = []
    while True:
        current = await videos_client.videos.retrieve(video.id)
        seen.append((current.status, current.progress))
        if current.status == "completed":
            break
        await asyncio.sleep(0.03)
    in_progress = [progress for status, progress in seen if status == "in_progress"]
    assert len(in_progress) >= 2, seen
    assert all(1 <= progress <= 99 for progress in in_progress)
    assert in_progress == sorted(in_progress) and in_progress[-1] > in_progress[0]
    statuses = [status for status, _ in seen]
    assert statuses == sorted(statuses, key=["queued", "in_progress", "completed"].index)
    assert current.progress == 100
    assert current.completed_at is not None and current.completed_at >= current.created_at
    assert current.expires_at is not None and current.expires_at > current.completed_at
    assert current.error is None
    assert time.time() - before >= SECONDS_PER_VIDEO - 0.05


async def test_the_video_is_a_real_h264_mp4_of_the_asked_size_and_length(
    videos_client: openai.AsyncOpenAI,
) -> None:
    video = await completed(videos_client, prompt="waves", size="1280x720", seconds="8", model="sora-2-pro")
    assert video.model == "sora-2-pro"
    content = await videos_client.videos.download_content(video.id)
    assert content.response.headers["content-type"] == "video/mp4"
    data = content.content
    assert data[4:8] == b"ftyp"
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == (1280, 720)
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert container.duration is not None
        assert container.duration / av.time_base == pytest.approx(8.0, abs=0.2)
        frames = list(container.decode(video=0))
    assert len(frames) == 8 * 8  # 8 fps
    # Something moves: the first and last frames differ.
    assert frames[0].to_image().tobytes() != frames[-1].to_image().tobytes()


@pytest.mark.parametrize("size", ["720x1280", "1024x1792", "1792x1024"])
async def test_thumbnail_and_spritesheet_are_real_images(
    videos_client: openai.AsyncOpenAI, size: str
) -> None:
    video = await completed(videos_client, prompt=f"mountains {size}", size=size, seconds="4")
    width, height = (int(part) for part in size.split("x"))

    thumbnail = await videos_client.videos.download_content(video.id, variant="thumbnail")
    assert thumbnail.response.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(thumbnail.content)) as image:
        assert image.format == "WEBP"
        assert image.size == (width, height)

    sprites = await videos_client.videos.download_content(video.id, variant="spritesheet")
    assert sprites.response.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(sprites.content)) as image:
        assert image.format == "JPEG"
        assert image.size == (width // 4 * 4, height // 4)  # 4 s, one quarter-size tile per second

    clip = await videos_client.videos.download_content(video.id, variant="video")
    with av.open(io.BytesIO(clip.content)) as container:
        assert container.streams.video[0].codec_context.width == width


async def test_content_is_refused_until_the_video_is_completed(videos_client: openai.AsyncOpenAI) -> None:
    video = await videos_client.videos.create(prompt="a slow sunrise")
    with pytest.raises(openai.NotFoundError) as refused:
        await videos_client.videos.download_content(video.id)
    assert refused.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    assert "not ready" in refused.value.message
    await wait_for(videos_client, video.id)
    with pytest.raises(openai.BadRequestError) as bad_variant:
        await videos_client.videos.download_content(video.id, variant="poster")  # type: ignore[arg-type]
    assert (bad_variant.value.param, bad_variant.value.code) == ("variant", "invalid_value")
    with pytest.raises(openai.NotFoundError):
        await videos_client.videos.download_content("video_does_not_exist")
    with pytest.raises(openai.NotFoundError):
        await videos_client.videos.retrieve("video_does_not_exist")


async def test_media_is_rendered_once_per_size_length_and_colour(
    videos_client: openai.AsyncOpenAI, sim: SimulatorHandle
) -> None:
    first = await completed(videos_client, prompt="the same prompt", seconds="4")
    second = await completed(videos_client, prompt="the same prompt", seconds="4")
    one = await videos_client.videos.download_content(first.id)
    two = await videos_client.videos.download_content(second.id)
    assert one.content == two.content
    assert control(sim, "stats")["renders"] == 1


async def test_list_pages_by_creation_time(videos_client: openai.AsyncOpenAI) -> None:
    made = [(await videos_client.videos.create(prompt=f"clip {n}")).id for n in range(5)]

    page = await videos_client.videos.list(limit=2, order="asc")
    assert [video.id for video in page.data] == made[:2]
    assert page.has_more is True
    raw = await videos_client.videos.with_raw_response.list(limit=2, order="asc")
    body = raw.http_response.json()
    assert body["object"] == "list"
    assert (body["first_id"], body["last_id"]) == (made[0], made[1])

    everything = [video.id async for video in videos_client.videos.list(limit=2, order="asc")]
    assert everything == made
    newest_first = [video.id async for video in videos_client.videos.list()]
    assert newest_first == made[::-1]
    after = await videos_client.videos.list(after=made[3], order="asc")
    assert [video.id for video in after.data] == [made[4]]
    assert after.has_more is False

    with pytest.raises(openai.BadRequestError) as refused:
        await videos_client.videos.list(limit=101)
    assert (refused.value.param, refused.value.code) == ("limit", "integer_above_max_value")
    with pytest.raises(openai.BadRequestError) as refused:
        await videos_client.videos.list(order="sideways")  # type: ignore[arg-type]
    assert (refused.value.param, refused.value.code) == ("order", "invalid_value")


async def test_delete_only_a_finished_video(sim: SimulatorHandle, videos_client: openai.AsyncOpenAI) -> None:
    video = await videos_client.videos.create(prompt="a short-lived clip")
    with pytest.raises(openai.BadRequestError):
        await videos_client.videos.delete(video.id)
    assert control(sim, "stats")["deleted_videos"] == []
    await wait_for(videos_client, video.id)
    deleted = await videos_client.videos.delete(video.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (video.id, "video.deleted", True)
    with pytest.raises(openai.NotFoundError):
        await videos_client.videos.retrieve(video.id)
    with pytest.raises(openai.NotFoundError):
        await videos_client.videos.download_content(video.id)
    with pytest.raises(openai.NotFoundError):
        await videos_client.videos.remix(video.id, prompt="again")
    with pytest.raises(openai.NotFoundError):
        await videos_client.videos.delete(video.id)
    # Tests see which videos were deleted.
    assert control(sim, "stats")["deleted_videos"] == [video.id]


async def test_answers_carry_a_request_id(videos_client: openai.AsyncOpenAI) -> None:
    raw = await videos_client.videos.with_raw_response.create(prompt="an id for this")
    assert raw.request_id is not None and raw.request_id.startswith("req_")
    with pytest.raises(openai.NotFoundError) as refused:
        await videos_client.videos.retrieve("video_missing")
    assert refused.value.request_id is not None
