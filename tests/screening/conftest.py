"""Fixtures of the screening tests: a fresh simulator for each test, and drafts without generation."""

from __future__ import annotations

import httpx
import pytest

from app.resources import Resources
from generation.simulator import SimulatorHandle
from tests.feed.factories import VideoFactory


@pytest.fixture(autouse=True)
def _fresh_simulator(simulator: SimulatorHandle) -> None:
    httpx.post(simulator.control_url("reset"), timeout=5).raise_for_status()


@pytest.fixture
def videos(resources: Resources) -> VideoFactory:
    return VideoFactory(resources)
