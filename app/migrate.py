"""Applies the Alembic migrations (`remixfeed migrate`, `remixfeed serve` on start, the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    """Blocking; run it outside an event loop (or in a thread). Safe to run from several processes at once."""
    command.upgrade(alembic_config(database_url), "head")
