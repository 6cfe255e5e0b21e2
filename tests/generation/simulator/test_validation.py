"""Refusals, answered as the real API answers them: HTTP 400 (401 for a missing key) with OpenAI's
error body, which the SDK raises as BadRequestError carrying `param` and `code`."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest
from openai.types import Video

from generation.simulator import SimulatorHandle, policy
from generation.simulator.protocol import MAX_PROMPT_CHARS
from tests.generation.simulator.support import control, image_bytes, wait_for


@pytest.mark.parametrize(
    ("create", "param", "code"),
    [
        ({"model": "sora-3"}, "model", "invalid_value"),
        ({"model": "gpt-4o"}, "model", "invalid_value"),
        ({"seconds": "10"}, "seconds", "invalid_value"),
        ({"seconds": "4.0"}, "seconds", "invalid_value"),
        ({"size": "640x480"}, "size", "invalid_value"),
        ({"size": "1920x1080"}, "size", "invalid_value"),
        ({"prompt": ""}, "prompt", "empty_string"),
        ({"prompt": "   "}, "prompt", "empty_string"),
        ({"prompt": "x" * (MAX_PROMPT_CHARS + 1)}, "prompt", "string_above_max_length"),
        ({"prompt": openai.omit}, "prompt", "missing_required_parameter"),
        ({"extra_body": {"style": "noir"}}, "style", "unknown_parameter"),
    ],
)
async def test_create_refusals(
    videos_client: openai.AsyncOpenAI, sim: SimulatorHandle, create: dict[str, Any], param: str, code: str
) -> None:
    create = {"prompt": "a valid prompt", **create}
    with pytest.raises(openai.BadRequestError) as refused:
        await videos_client.videos.create(**create)
    error = refused.value
    assert error.status_code == 400
    assert (error.param, error.code, error.type) == (param, code, "invalid_request_error")
    assert error.message
    assert control(sim, "stats")["jobs_created"] == 0


async def test_the_error_body_has_openais_shape(videos_client: openai.AsyncOpenAI) -> None:
    raw = videos_client.videos.with_raw_response
    with pytest.raises(openai.BadRequestError) as refused:
        await raw.create(prompt="p", seconds="5")  # type: ignore[arg-type]
    body = refused.value.response.json()
    assert body == {
        "error": {
            "message": "Invalid value: '5'. Supported values are: '4', '8', and '12'.",
            "type": "invalid_request_error",
            "param": "seconds",
            "code": "invalid_value",
        }
    }


@pytest.mark.parametrize("model", ["sora-2", "sora-2-pro", "sora-2-2025-10-06"])
@pytest.mark.parametrize(("seconds", "size"), [("4", "1792x1024"), ("12", "1024x1792")])
async def test_every_allowed_value_is_accepted(
    videos_client: openai.AsyncOpenAI, model: str, seconds: str, size: str
) -> None:
    video = await videos_client.videos.create(prompt="fine", model=model, seconds=seconds, size=size)  # type: ignore[arg-type]
    assert (video.model, video.seconds, video.size) == (model, seconds, size)


async def test_an_api_key_is_required(videos_client: openai.AsyncOpenAI, sim: SimulatorHandle) -> None:
    for authorization in ("Basic c2ltOnNpbQ==", "Bearer", "Token sim", openai.omit):
        with pytest.raises(openai.AuthenticationError) as refused:
            await videos_client.videos.create(prompt="no key", extra_headers={"Authorization": authorization})
        assert refused.value.status_code == 401
        assert refused.value.type == "invalid_request_error"
        assert "API key" in refused.value.message
    assert control(sim, "stats")["jobs_created"] == 0


@pytest.mark.parametrize("word", sorted(policy.BLOCKED_WORDS))
async def test_blocked_words_are_refused_at_create(
    videos_client: openai.AsyncOpenAI, sim: SimulatorHandle, word: str
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await videos_client.videos.create(prompt=f"A scene with {word.upper()}, at night")
    assert refused.value.code == "moderation_blocked"
    assert control(sim, "stats")["jobs_created"] == 0
    # Whole words only: "gorement" or "nudes-free" style substrings inside other words pass.
    fine = await videos_client.videos.create(prompt=f"a scene with x{word}y")
    assert fine.status == "queued"


async def test_the_output_trigger_makes_the_job_end_failed(
    videos_client: openai.AsyncOpenAI, sim: SimulatorHandle
) -> None:
    video = await videos_client.videos.create(prompt=f"a quiet harbour {sim.blocked_output_word}")
    assert video.status == "queued"
    done = await wait_for(videos_client, video.id)
    assert done.status == "failed"
    assert done.error is not None
    assert done.error.code == "moderation_blocked"
    assert done.error.message == policy.OUTPUT_BLOCKED_MESSAGE
    assert done.expires_at is None
    with pytest.raises(openai.BadRequestError):
        await videos_client.videos.download_content(video.id)


async def test_fail_next_job_fails_exactly_one_job(
    videos_client: openai.AsyncOpenAI, sim: SimulatorHandle
) -> None:
    control(sim, "fail-next-job", {"code": "internal_error", "message": "render farm on fire"})
    doomed = await videos_client.videos.create(prompt="first")
    fine = await videos_client.videos.create(prompt="second")
    doomed_done, fine_done = await wait_for(videos_client, doomed.id), await wait_for(videos_client, fine.id)
    assert doomed_done.status == "failed"
    assert doomed_done.error is not None
    assert (doomed_done.error.code, doomed_done.error.message) == ("internal_error", "render farm on fire")
    assert fine_done.status == "completed"


async def test_input_reference_must_be_an_image_of_the_video_size(
    videos_client: openai.AsyncOpenAI, sim: SimulatorHandle
) -> None:
    for fmt, mime in (("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")):
        reference = ("start." + fmt.lower(), image_bytes(1280, 720, fmt), mime)
        video = await videos_client.videos.create(
            prompt="from here", size="1280x720", input_reference=reference
        )
        assert video.size == "1280x720"

    with pytest.raises(openai.BadRequestError) as wrong_size:
        await videos_client.videos.create(
            prompt="from here",
            size="720x1280",
            input_reference=("s.png", image_bytes(1280, 720), "image/png"),
        )
    assert wrong_size.value.param == "input_reference"
    assert "must match the requested width and height" in wrong_size.value.message

    for name, data, mime in (
        ("s.gif", image_bytes(720, 1280, "GIF"), "image/gif"),
        ("s.txt", b"not an image at all", "text/plain"),
        ("s.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "image/png"),
    ):
        with pytest.raises(openai.BadRequestError) as bad_file:
            await videos_client.videos.create(prompt="from here", input_reference=(name, data, mime))
        assert (bad_file.value.param, bad_file.value.code) == ("input_reference", "invalid_value")
    assert control(sim, "stats")["jobs_created"] == 3


async def test_create_also_takes_json_with_an_image_url_reference(videos_client: openai.AsyncOpenAI) -> None:
    # This SDK's videos.create only uploads input_reference as a file, so the JSON form (which the
    # API also takes) goes through the client's generic post.
    encoded = base64.b64encode(image_bytes(720, 1280, "JPEG")).decode()
    body = {
        "prompt": "from a data URL",
        "input_reference": {"image_url": f"data:image/jpeg;base64,{encoded}"},
    }
    video = await videos_client.post("/videos", cast_to=Video, body=body)
    assert (video.status, video.size) == ("queued", "720x1280")
    for reference in ({"file_id": "file_123"}, {"image_url": "data:image/png;base64,???"}, {"colour": "red"}):
        with pytest.raises(openai.BadRequestError) as refused:
            await videos_client.post(
                "/videos", cast_to=Video, body={"prompt": "p", "input_reference": reference}
            )
        assert refused.value.param == "input_reference"
    with pytest.raises(openai.BadRequestError) as wrong_type:
        await videos_client.post("/videos", cast_to=Video, body={"prompt": "p", "seconds": 8})
    assert (wrong_type.value.param, wrong_type.value.code) == ("seconds", "invalid_type")
    assert "expected one of '4', '8', or '12', but got an integer instead" in wrong_type.value.message


async def test_unknown_paths_are_refused_in_openais_shape(videos_client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as refused:
        await videos_client.get("/videos/edits/nothing/here", cast_to=Video)
    assert refused.value.body == {
        "message": "Invalid URL (GET /v1/videos/edits/nothing/here)",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert refused.value.type == "invalid_request_error"
