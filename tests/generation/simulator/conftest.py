"""One simulator per test module, over real HTTP, spoken to only through the `openai` SDK (the
control API, which the SDK does not know, through httpx). No database: these tests need none."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator

import httpx
import openai
import pytest

from generation.simulator import SimulatorHandle, run_simulator_in_thread

SECONDS_PER_VIDEO = 0.6


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    handle = run_simulator_in_thread(
        seconds_per_video=SECONDS_PER_VIDEO, state_dir=tmp_path_factory.mktemp("sim-state")
    )
    yield handle
    handle.stop()


@pytest.fixture(autouse=True)
def no_sora_deprecation_warnings() -> Iterator[None]:
    """The SDK marks every videos method deprecated (the Sora API has a shutdown date); that is
    not what these tests are about. A fixture rather than a filterwarnings mark, which needs the
    warnings plugin that some runs disable."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The Sora API is scheduled", DeprecationWarning)
        yield


@pytest.fixture(autouse=True)
def fresh_simulator(sim: SimulatorHandle) -> None:
    httpx.post(sim.control_url("reset"), timeout=5).raise_for_status()


@pytest.fixture
async def videos_client(sim: SimulatorHandle) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=sim.url, api_key="sim", max_retries=0, timeout=20)
    yield client
    await client.close()
