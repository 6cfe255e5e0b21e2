"""For tests of requests that meet on the same rows: wait, without guessing at timings, until one
of them is held up by another's lock."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from app.resources import Resources

_WAITING = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


async def someone_waits_for_a_lock(resources: Resources, *, at_least: int = 1, within: float = 10) -> None:
    """Return once (`at_least` many) sessions of this test run's database wait for a lock another
    one holds."""
    async with resources.engine.connect() as connection:
        for _ in range(int(within / 0.01)):
            waiting = await connection.scalar(_WAITING)
            # pg_stat_activity is read once per transaction: each look needs a fresh one.
            await connection.rollback()
            if waiting >= at_least:
                return
            await asyncio.sleep(0.01)
    raise AssertionError("nothing came to wait for a lock")
