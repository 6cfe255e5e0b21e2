"""Injected faults surface as the SDK's own exceptions; Idempotency-Key makes retries safe."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest

from generation.simulator import SimulatorHandle
from tests.generation.simulator.support import completed, control, post_control, wait_for


async def test_idempotency_key_returns_the_same_job(
    videos_client: openai.AsyncOpenAI, sim: SimulatorHandle
) -> None:
    key = {"Idempotency-Key": "make-one-fox"}
    first = await videos_client.videos.create(prompt="a fox", extra_headers=key)
    again = await videos_client.videos.create(prompt="a fox", extra_headers=key)
    assert again.id == first.id
    other = await videos_client.videos.create(prompt="a fox", extra_headers={"Idempotency-Key": "another"})
    assert other.id != first.id
    unkeyed = [await videos_client.videos.create(prompt="a fox") for _ in range(2)]
    assert unkeyed[0].id != unkeyed[1].id
    stats = control(sim, "stats")
    assert stats["requests"]["create"] == 5
    assert stats["jobs_created"] == 4


async def test_idempotency_key_on_remix(videos_client: openai.AsyncOpenAI, sim: SimulatorHandle) -> None:
    source = await completed(videos_client)
    key = {"Idempotency-Key": "remix-once"}
    first = await videos_client.videos.remix(source.id, prompt="again", extra_headers=key)
    again = await videos_client.videos.remix(source.id, prompt="again", extra_headers=key)
    assert again.id == first.id
    assert control(sim, "stats")["remixes_created"] == 1


async def test_idempotency_key_on_characters(videos_client: openai.AsyncOpenAI, sim: SimulatorHandle) -> None:
    clip = (await videos_client.videos.download_content((await completed(videos_client)).id)).content
    key = {"Idempotency-Key": "one-robo"}
    first, again = [
        await videos_client.videos.create_character(
            name="Robo", video=("robo.mp4", clip, "video/mp4"), extra_headers=key
        )
        for _ in range(2)
    ]
    assert (again.id, again.created_at) == (first.id, first.created_at)
    other = await videos_client.videos.create_character(
        name="Robo", video=("robo.mp4", clip, "video/mp4"), extra_headers={"Idempotency-Key": "another"}
    )
    unkeyed = await videos_client.videos.create_character(name="Robo", video=("robo.mp4", clip, "video/mp4"))
    assert len({first.id, other.id, unkeyed.id}) == 3
    assert control(sim, "stats")["characters_created"] == 3


async def test_a_key_is_bound_to_the_request_it_was_first_sent_with(
    videos_client: openai.AsyncOpenAI, sim: SimulatorHandle
) -> None:
    """As a real provider's: a key first sent with one request (endpoint and body) is refused on
    another (400 idempotency_key_reused), never answered as the first nor carried out anew. A
    remix refused for its source (gone at the provider) has bound its key all the same; a request
    refused for its parameters binds nothing."""
    source = await completed(videos_client)
    first = await videos_client.videos.create(prompt="a fox", extra_headers={"Idempotency-Key": "fox"})
    for other in (
        videos_client.videos.create(prompt="a wolf", extra_headers={"Idempotency-Key": "fox"}),
        videos_client.videos.create(prompt="a fox", seconds="8", extra_headers={"Idempotency-Key": "fox"}),
        videos_client.videos.remix(source.id, prompt="a fox", extra_headers={"Idempotency-Key": "fox"}),
    ):
        with pytest.raises(openai.BadRequestError) as refused:
            await other
        assert refused.value.code == "idempotency_key_reused"
    again = await videos_client.videos.create(prompt="a fox", extra_headers={"Idempotency-Key": "fox"})
    assert again.id == first.id

    await videos_client.videos.delete(source.id)
    with pytest.raises(openai.NotFoundError):
        await videos_client.videos.remix(source.id, prompt="again", extra_headers={"Idempotency-Key": "gone"})
    with pytest.raises(openai.BadRequestError) as refused:
        await videos_client.videos.create(prompt="again", extra_headers={"Idempotency-Key": "gone"})
    assert refused.value.code == "idempotency_key_reused"

    with pytest.raises(openai.BadRequestError) as invalid:
        await videos_client.videos.create(
            prompt="a hare",
            seconds="5",  # type: ignore[arg-type]
            extra_headers={"Idempotency-Key": "hare"},
        )
    assert invalid.value.code != "idempotency_key_reused"
    await videos_client.videos.create(prompt="a hare", extra_headers={"Idempotency-Key": "hare"})
    # The source, the fox and the hare.
    assert control(sim, "stats")["jobs_created"] == 3


async def test_racing_requests_with_one_key_make_one_job(
    videos_client: openai.AsyncOpenAI, sim: SimulatorHandle
) -> None:
    key = {"Idempotency-Key": "race"}
    made = await asyncio.gather(
        *(videos_client.videos.create(prompt="one race", extra_headers=key) for _ in range(5))
    )
    assert len({video.id for video in made}) == 1
    assert control(sim, "stats")["jobs_created"] == 1


async def test_429_with_retry_after_is_a_rate_limit_error(
    videos_client: openai.AsyncOpenAI, sim: SimulatorHandle
) -> None:
    control(sim, "faults", {"operation": "create", "status": 429, "times": 1, "retry_after": 7})
    with pytest.raises(openai.RateLimitError) as limited:
        await videos_client.videos.create(prompt="too fast")
    assert limited.value.status_code == 429
    assert limited.value.response.headers["retry-after"] == "7"
    assert limited.value.code == "rate_limit_exceeded"
    # Used up: the next request goes through, and the refused one made no job.
    await videos_client.videos.create(prompt="now fine")
    stats = control(sim, "stats")
    assert (stats["requests"]["create"], stats["jobs_created"], stats["faults_served"]) == (2, 1, 1)


async def test_should_retry_fault_sends_the_x_should_retry_header(
    videos_client: openai.AsyncOpenAI, sim: SimulatorHandle
) -> None:
    control(sim, "faults", {"operation": "create", "status": 503, "should_retry": False})
    control(sim, "faults", {"operation": "create", "status": 400, "should_retry": True})
    with pytest.raises(openai.InternalServerError) as unavailable:
        await videos_client.videos.create(prompt="not again")
    assert unavailable.value.response.headers["x-should-retry"] == "false"
    with pytest.raises(openai.BadRequestError) as refused:
        await videos_client.videos.create(prompt="again, please")
    assert refused.value.response.headers["x-should-retry"] == "true"
    assert control(sim, "stats")["jobs_created"] == 0


async def test_server_errors_for_the_next_n_matching_requests(
    videos_client: openai.AsyncOpenAI, sim: SimulatorHandle
) -> None:
    video = await videos_client.videos.create(prompt="a robust clip")
    control(sim, "faults", {"operation": "retrieve", "status": 503, "times": 2})
    control(sim, "faults", {"operation": "create", "status": 500})
    for _ in range(2):
        with pytest.raises(openai.InternalServerError) as unavailable:
            await videos_client.videos.retrieve(video.id)
        assert unavailable.value.status_code == 503
    assert (await videos_client.videos.retrieve(video.id)).id == video.id
    with pytest.raises(openai.InternalServerError) as broken:
        await videos_client.videos.create(prompt="again")
    assert broken.value.status_code == 500
    assert broken.value.type == "server_error"


async def test_content_faults_and_any(videos_client: openai.AsyncOpenAI, sim: SimulatorHandle) -> None:
    video = await completed(videos_client)
    control(sim, "faults", {"operation": "content", "status": 500})
    with pytest.raises(openai.InternalServerError):
        await videos_client.videos.download_content(video.id)
    assert (await videos_client.videos.download_content(video.id)).content[4:8] == b"ftyp"

    control(sim, "faults", {"operation": "any", "status": 502, "times": 2})
    with pytest.raises(openai.InternalServerError):
        await videos_client.videos.list()
    with pytest.raises(openai.InternalServerError):
        await videos_client.videos.remix(video.id, prompt="later")
    await videos_client.videos.list()


async def test_a_delay_makes_the_client_time_out_but_the_job_is_made(
    videos_client: openai.AsyncOpenAI, sim: SimulatorHandle
) -> None:
    control(sim, "faults", {"operation": "create", "delay_seconds": 1.0})
    impatient = videos_client.with_options(timeout=0.25)
    key = {"Idempotency-Key": "slow-one"}
    with pytest.raises(openai.APITimeoutError):
        await impatient.videos.create(prompt="slow", extra_headers=key)
    # The request was carried out; only its answer was late. Retrying with the key is safe.
    retried = await videos_client.videos.create(prompt="slow", extra_headers=key)
    assert control(sim, "stats")["jobs_created"] == 1
    assert (await wait_for(videos_client, retried.id)).status == "completed"


async def test_a_delayed_error(videos_client: openai.AsyncOpenAI, sim: SimulatorHandle) -> None:
    control(sim, "faults", {"operation": "list", "status": 500, "delay_seconds": 0.3})
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(openai.InternalServerError):
        await videos_client.videos.list()
    assert loop.time() - started >= 0.3


async def test_garbage_is_an_unreadable_answer(
    videos_client: openai.AsyncOpenAI, sim: SimulatorHandle
) -> None:
    control(sim, "faults", {"operation": "create", "garbage": True})
    # A 200 whose JSON body does not parse: the SDK raises json's own error (a ValueError).
    with pytest.raises(json.JSONDecodeError):
        await videos_client.videos.create(prompt="garbled")
    assert control(sim, "stats")["jobs_created"] == 0
    await videos_client.videos.create(prompt="clean")


async def test_faults_can_be_cleared_and_are_validated(
    videos_client: openai.AsyncOpenAI, sim: SimulatorHandle
) -> None:
    control(sim, "faults", {"operation": "any", "status": 500, "times": 50})
    assert control(sim, "faults") == {"faults": []}  # DELETE
    await videos_client.videos.list()
    for bad in (
        {"operation": "create", "status": 200},
        {"operation": "create", "status": 500, "times": 0},
        {"operation": "create"},
        {"operation": "launch", "status": 500},
        {"operation": "create", "status": 500, "colour": "red"},
    ):
        response = post_control(sim, "faults", bad)
        assert response.status_code == 400, bad
        assert response.json()["error"]["type"] == "invalid_request_error"


async def test_stats_count_every_operation(videos_client: openai.AsyncOpenAI, sim: SimulatorHandle) -> None:
    video = await completed(videos_client)
    await videos_client.videos.download_content(video.id, variant="thumbnail")
    await videos_client.videos.list()
    await videos_client.videos.remix(video.id, prompt="remixed")
    stats = control(sim, "stats")
    assert stats["requests"]["create"] == 1
    assert stats["requests"]["retrieve"] >= 1
    assert stats["requests"]["content"] == 1
    assert stats["requests"]["list"] == 1
    assert stats["requests"]["remix"] == 1
    assert stats["jobs_created"] == 2
    control(sim, "reset")
    assert control(sim, "stats")["requests"]["create"] == 0
    with pytest.raises(openai.NotFoundError):
        await videos_client.videos.retrieve(video.id)
