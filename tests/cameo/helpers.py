"""Helpers shared by the cameo tests that run generations."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from app.db import in_transaction
from app.resources import Resources
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
