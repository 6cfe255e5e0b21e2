"""Fixtures of the screening tests: a fresh simulator for each test."""

from __future__ import annotations

import httpx
import pytest

from generation.simulator import SimulatorHandle


@pytest.fixture(autouse=True)
def _fresh_simulator(simulator: SimulatorHandle) -> None:
    httpx.post(simulator.control_url("reset"), timeout=5).raise_for_status()
