"""Bounds on waiting for PostgreSQL: a statement past REMIXFEED_DB_STATEMENT_TIMEOUT_SECONDS is
cancelled by the server and the request answers 503, instead of holding its connection for as
long as whatever blocks it."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

from app.factory import create_app
from app.resources import Resources
from tests.accounts.helpers import assert_problem
from tests.conftest import make_settings, serve_in_process
from tests.factories import UserFactory
from tests.harness import RunServers


async def test_a_statement_blocked_past_the_timeout_is_a_503_and_changes_nothing(
    servers: RunServers, tmp_path: Path, users: UserFactory, resources: Resources
) -> None:
    alice = await users.create("alice")
    settings = make_settings(servers, tmp_path, db_statement_timeout_seconds=1)
    async with serve_in_process(create_app(settings)) as client:
        # Another transaction holds alice's row (an operator's long UPDATE, a stuck job).
        async with resources.engine.connect() as blocker:
            await blocker.execute(text("SELECT 1 FROM users WHERE id = :id FOR UPDATE"), {"id": alice.id})
            started = time.monotonic()
            blocked = await client.patch("/v1/me", json={"display_name": "Alice B."}, headers=alice.headers)
            waited = time.monotonic() - started
            await blocker.rollback()
        assert_problem(blocked, 503, "service_unavailable")
        assert blocked.headers["retry-after"]
        assert 0.9 < waited < 5
        # The cancelled update did not happen, and the same request succeeds once the row is free.
        assert (await client.get("/v1/me", headers=alice.headers)).json()["display_name"] == "alice"
        retried = await client.patch("/v1/me", json={"display_name": "Alice B."}, headers=alice.headers)
        assert retried.status_code == 200, retried.text
        assert retried.json()["display_name"] == "Alice B."
