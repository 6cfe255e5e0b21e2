"""Helpers for the simulator tests."""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any

import httpx
import openai
from openai.types import Video
from PIL import Image

from generation.simulator import SimulatorHandle

TERMINAL = ("completed", "failed")


async def wait_for(client: openai.AsyncOpenAI, video_id: str, within: float = 15.0) -> Video:
    """Poll until the job is completed or failed."""
    deadline = time.monotonic() + within
    while True:
        video = await client.videos.retrieve(video_id)
        if video.status in TERMINAL:
            return video
        assert time.monotonic() < deadline, f"video did not finish: {video}"
        await asyncio.sleep(0.05)


async def completed(client: openai.AsyncOpenAI, **create: Any) -> Video:
    create.setdefault("prompt", "a paper boat on a rainy street")
    video = await client.videos.create(**create)
    done = await wait_for(client, video.id)
    assert done.status == "completed", done
    return done


def control(sim: SimulatorHandle, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    if name == "stats":
        response = httpx.get(sim.control_url(name), timeout=5)
    elif body is None and name == "faults":
        response = httpx.delete(sim.control_url(name), timeout=5)
    else:
        response = httpx.post(sim.control_url(name), json=body or {}, timeout=5)
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def image_bytes(width: int, height: int, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(out, format=fmt)
    return out.getvalue()


def post_control(sim: SimulatorHandle, name: str, body: dict[str, Any]) -> httpx.Response:
    """POST to the control API without checking the answer."""
    return httpx.post(sim.control_url(name), json=body, timeout=5)
