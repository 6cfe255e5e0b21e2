"""For tests of what a request or a job says to the database: the statements it sends."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event

from app.resources import Resources


async def statements_of(
    resources: Resources, wanted: Callable[[str], bool], *runs: Callable[[], Awaitable[Any]]
) -> list[tuple[str, Any]]:
    """The statements `wanted` that `runs` send, with their parameters, as sent: only this task's
    (the test app's worker may send others meanwhile, a build's or a purge's)."""
    sent: list[tuple[str, Any]] = []
    this_task = asyncio.current_task()

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        # The event runs in the greenlet of the task that sent the statement.
        if asyncio.current_task() is this_task and wanted(statement.lstrip()):
            sent.append((statement, parameters))

    sync_engine = resources.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", keep)
    try:
        for run in runs:
            await run()
    finally:
        event.remove(sync_engine, "before_cursor_execute", keep)
    return sent
