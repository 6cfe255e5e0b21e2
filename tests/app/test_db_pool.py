"""The database pool keeps the connections it opens: a burst of requests beyond it waits for a pooled
connection instead of opening overflow connections that are closed as soon as they are given back,
and reopened (a new backend, its caches cold, every statement prepared again) by the next burst."""

from __future__ import annotations

import asyncio

from sqlalchemy import event, text

from app.db import create_engine
from app.settings import Settings
from tests.conftest import make_settings


async def test_bursts_past_the_pool_reuse_its_connections_instead_of_reopening_them(servers, tmp_path):
    defaults = Settings()
    settings = make_settings(servers, tmp_path).replace(
        db_pool_size=defaults.db_pool_size, db_max_overflow=defaults.db_max_overflow
    )
    engine = create_engine(settings)
    opened: list[object] = []
    event.listen(engine.sync_engine, "connect", lambda connection, _record: opened.append(connection))
    most_at_once = 0
    holding = 0

    async def request() -> None:
        nonlocal most_at_once, holding
        async with engine.connect() as connection:
            holding += 1
            most_at_once = max(most_at_once, holding)
            await connection.execute(text("SELECT pg_sleep(0.02)"))
            holding -= 1

    try:
        burst = 2 * defaults.db_pool_size
        await asyncio.gather(*(request() for _ in range(burst)))
        first_burst = len(opened)
        # The burst used the whole pool and opened nothing past it.
        assert most_at_once == first_burst == defaults.db_pool_size
        for _ in range(3):
            await asyncio.gather(*(request() for _ in range(burst)))
        assert len(opened) == first_burst, "a later burst reopened connections the pool had closed"
    finally:
        await engine.dispose()
