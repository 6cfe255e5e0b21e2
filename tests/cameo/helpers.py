"""Helpers shared by the cameo tests that run generations."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.db import in_transaction
from app.resources import Resources
from cameo.models import Cameo
from cameo.service import review
from generation.models import Generation
from generation.simulator import SimulatorHandle
from tests.factories import Actor


@pytest.fixture
def fresh_simulator(simulator: SimulatorHandle) -> None:
    """The simulator without the faults or jobs an earlier test left behind."""
    httpx.post(simulator.control_url("reset"), timeout=5).raise_for_status()


async def ledger(client: httpx.AsyncClient, owner: Actor) -> list[dict[str, Any]]:
    """The owner's consent ledger, newest first."""
    response = await client.get("/v1/me/cameo/uses", params={"limit": 100}, headers=owner.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def generation_row(resources: Resources, generation_id: str) -> Generation:
    async def load(session: Any) -> Generation:
        found = await session.get(Generation, uuid.UUID(generation_id))
        assert found is not None
        return found

    row: Generation = await in_transaction(resources.session_factory, load)
    return row


async def character_of(resources: Resources, cameo_id: str) -> str | None:
    """The provider character the cameo was registered as, if any."""

    async def read(session: Any) -> str | None:
        found: str | None = await session.scalar(
            select(Cameo.provider_character_id).where(Cameo.id == uuid.UUID(cameo_id))
        )
        return found

    character: str | None = await in_transaction(resources.session_factory, read)
    return character


async def registered_character(resources: Resources, cameo_id: str, within: float = 20.0) -> str:
    """Waits for the job that registers an active cameo with the provider; its character id."""
    deadline = asyncio.get_running_loop().time() + within
    while (character := await character_of(resources, cameo_id)) is None:
        assert asyncio.get_running_loop().time() < deadline, "the cameo was never registered"
        await asyncio.sleep(0.1)
    return character


async def reject(resources: Resources, cameo_id: str) -> None:
    """A moderator's rejection of the cameo's recording (the person may record again)."""

    async def work(session: Any) -> Any:
        return await review.reject(session, uuid.UUID(cameo_id), retention_days=30)

    assert await in_transaction(resources.session_factory, work) is not None
