"""The local Sora API simulator inside `remixfeed serve`, when no OPENAI_API_KEY is set."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import click

from app.settings import Settings


@contextmanager
def simulator_while_serving(settings: Settings) -> Iterator[None]:
    """Starts the simulator on a free loopback port and points OPENAI_BASE_URL at it, so every
    server worker process sends its `openai` client there. With a key, or with OPENAI_BASE_URL
    already naming a provider, nothing is started."""
    if not settings.uses_simulator or settings.openai_base_url:
        yield
        return
    # Imported only here: the simulator renders with PyAV, which API processes need not load.
    from generation.simulator import run_simulator_in_thread

    handle = run_simulator_in_thread(
        seconds_per_video=settings.simulator_seconds, state_dir=settings.data_dir / "simulator"
    )
    os.environ["OPENAI_BASE_URL"] = handle.url
    click.echo(f"No OPENAI_API_KEY: videos come from the local Sora API simulator at {handle.url}")
    try:
        yield
    finally:
        handle.stop()
