"""With a state directory, a restarted simulator still knows its jobs (and re-renders their media)."""

from __future__ import annotations

import io
from pathlib import Path

import av
import openai

from generation.simulator import run_simulator_in_thread
from tests.generation.simulator.support import wait_for


async def test_jobs_survive_a_restart(tmp_path: Path) -> None:
    state_dir = tmp_path / "sim"
    first = run_simulator_in_thread(seconds_per_video=0.4, state_dir=state_dir)
    try:
        async with openai.AsyncOpenAI(base_url=first.url, api_key="sim", max_retries=0) as client:
            done = await client.videos.create(prompt="kept", extra_headers={"Idempotency-Key": "k1"})
            done = await wait_for(client, done.id)
            source_for_remix = done.id
            unfinished = await client.videos.create(prompt="finishes after the restart")
    finally:
        first.stop()
    assert (state_dir / "state.json").exists()

    second = run_simulator_in_thread(seconds_per_video=0.4, state_dir=state_dir)
    try:
        async with openai.AsyncOpenAI(base_url=second.url, api_key="sim", max_retries=0) as client:
            again = await client.videos.retrieve(done.id)
            assert again.model_dump() == done.model_dump()
            replayed = await client.videos.create(prompt="kept", extra_headers={"Idempotency-Key": "k1"})
            assert replayed.id == done.id
            assert (await wait_for(client, unfinished.id)).status == "completed"
            listed = [video.id async for video in client.videos.list(order="asc")]
            assert listed == [done.id, unfinished.id]
            clip = (await client.videos.download_content(done.id)).content
            with av.open(io.BytesIO(clip)) as container:
                assert container.streams.video[0].codec_context.name == "h264"
            remix = await client.videos.remix(source_for_remix, prompt="kept, remixed")
            assert remix.remixed_from_video_id == done.id
    finally:
        second.stop()


def test_handle_stops_cleanly_and_frees_the_port(tmp_path: Path) -> None:
    handle = run_simulator_in_thread(seconds_per_video=0.2)
    assert handle.url == f"http://127.0.0.1:{handle.port}/v1"
    handle.stop()
    assert not handle._thread.is_alive()
    # The same port can be served again at once.
    with run_simulator_in_thread(port=handle.port, seconds_per_video=0.2) as again:
        assert again.port == handle.port
