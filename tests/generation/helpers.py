"""Helpers for driving generations through the API."""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any
from uuid import UUID

import httpx
from PIL import Image

from app.resources import Resources
from generation.jobs import provider_for
from generation.models import Generation
from generation.simulator import SimulatorHandle
from tests.accounts.helpers import assert_problem

TERMINAL = {"completed", "failed", "blocked", "cancelled"}


async def generate(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    body.setdefault("prompt", "a paper boat drifting down a rainy street")
    response = await client.post("/v1/generations", json=body, headers=headers)
    assert response.status_code == 202, response.text
    generation: dict[str, Any] = response.json()
    return generation


async def wait_until_done(
    client: httpx.AsyncClient, headers: dict[str, str], generation_id: str, within: float = 30.0
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        response = await client.get(f"/v1/generations/{generation_id}", headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in TERMINAL:
            return body
        assert time.monotonic() < deadline, f"generation did not finish: {body}"
        await asyncio.sleep(0.1)


async def completed_video(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> str:
    """Generate, wait, and return the id of the draft it made."""
    generation = await generate(client, headers, **body)
    done = await wait_until_done(client, headers, generation["id"])
    assert done["status"] == "completed", done
    video_id: str = done["video_id"]
    return video_id


async def simulator_control(
    simulator: SimulatorHandle, name: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The simulator's test controls: `stats` (GET), `reset`, `faults`, `fail-next-job` (POST)."""
    async with httpx.AsyncClient(timeout=5) as http:
        if body is None and name == "stats":
            response = await http.get(simulator.control_url(name))
        else:
            response = await http.post(simulator.control_url(name), json=body or {})
    response.raise_for_status()
    answer: dict[str, Any] = response.json() if response.content else {}
    return answer


def image_bytes(width: int, height: int, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (40, 120, 200)).save(out, format=fmt)
    return out.getvalue()


__all__ = [
    "assert_problem",
    "completed_video",
    "generate",
    "image_bytes",
    "simulator_control",
    "wait_until_done",
]


async def stored_generation(resources: Resources, user_id: str, prompt: str) -> Generation:
    """A queued generation written straight to the database: no job was enqueued for it, so nothing
    moves it on but the sweep (which leaves a fresh one alone)."""
    async with resources.session_factory() as session, session.begin():
        generation = Generation(
            user_id=UUID(user_id),
            prompt=prompt,
            model="sora-2",
            seconds=4,
            size="720x1280",
            provider=provider_for(resources).name,
        )
        session.add(generation)
    return generation
