"""One transaction per request: committed once after the handler, side effects only after COMMIT."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from app.db import after_commit, after_rollback, in_transaction, transaction
from app.dependencies import provide_db_session
from app.errors import AppError
from app.resources import Resources
from tests.accounts.helpers import assert_problem
from tests.locks import someone_waits_for_a_lock


class _KeepsChanges(AppError):
    status = 409
    code = "kept"
    keeps_changes = True


async def _drive(resources: Resources, body: Any, refusal: type[AppError] | None = None) -> list[str]:
    """Run `body(session, events)` inside the request transaction, as the request dependency does."""
    events: list[str] = []
    if refusal is None:
        async with transaction(resources.session_factory) as session:
            await body(session, events)
        return events
    with pytest.raises(refusal):
        async with transaction(resources.session_factory) as session:
            await body(session, events)
    return events


async def _count(resources: Resources, name: str) -> int:
    async with resources.session_factory() as session:
        value = await session.scalar(
            text("SELECT count(*) FROM users WHERE username = :name"), {"name": name}
        )
        return int(value or 0)


async def _insert(session: Any, name: str) -> None:
    await session.execute(
        text(
            "INSERT INTO users (id, username, email, password_hash, birthdate, created_at, updated_at) "
            "VALUES (gen_random_uuid(), :name, :email, 'x', '1990-01-01', now(), now())"
        ),
        {"name": name, "email": f"{name}@example.test"},
    )


async def test_commit_then_after_commit_callbacks(resources: Resources, users: Any) -> None:
    async def body(session: Any, events: list[str]) -> None:
        await _insert(session, "committed")

        async def callback() -> None:
            events.append(f"after commit, rows visible: {await _count(resources, 'committed')}")

        after_commit(session, callback)

    events = await _drive(resources, body)
    assert events == ["after commit, rows visible: 1"]


async def test_error_rolls_back_and_drops_callbacks(resources: Resources, users: Any) -> None:
    async def body(session: Any, events: list[str]) -> None:
        await _insert(session, "rolledback")

        async def callback() -> None:
            events.append("ran")

        after_commit(session, callback)
        raise AppError("refused")

    events = await _drive(resources, body, refusal=AppError)
    assert events == []
    assert await _count(resources, "rolledback") == 0


async def test_refusal_that_keeps_changes_commits(resources: Resources, users: Any) -> None:
    async def body(session: Any, events: list[str]) -> None:
        await _insert(session, "kept")
        raise _KeepsChanges("refused, but the write stands")

    await _drive(resources, body, refusal=_KeepsChanges)
    assert await _count(resources, "kept") == 1


async def test_failed_commit_is_an_error_not_a_success(resources: Resources, users: Any) -> None:
    """A COMMIT that fails (here a deferred constraint checked only at COMMIT) raises out of the
    dependency, so the client gets an error response rather than a 2xx."""

    async def body(session: Any, events: list[str]) -> None:
        await session.execute(
            text("CREATE TEMP TABLE deferred_check (id int UNIQUE DEFERRABLE INITIALLY DEFERRED)")
        )
        await session.execute(text("INSERT INTO deferred_check VALUES (1), (1)"))

        async def callback() -> None:
            events.append("ran")

        after_commit(session, callback)

    events: list[str] = []
    with pytest.raises(Exception, match="duplicate key"):
        async with transaction(resources.session_factory) as session:
            await body(session, events)
    assert events == []


def _track(session: Any, events: list[str]) -> None:
    async def committed() -> None:
        events.append("after commit")

    async def rolled_back() -> None:
        events.append("after rollback")

    after_commit(session, committed)
    after_rollback(session, rolled_back)


async def test_after_rollback_runs_only_when_the_transaction_does_not_commit(
    resources: Resources, users: Any
) -> None:
    async def commits(session: Any, events: list[str]) -> None:
        _track(session, events)

    async def refuses(session: Any, events: list[str]) -> None:
        _track(session, events)
        raise AppError("refused")

    async def keeps(session: Any, events: list[str]) -> None:
        _track(session, events)
        raise _KeepsChanges("refused, but the write stands")

    assert await _drive(resources, commits) == ["after commit"]
    assert await _drive(resources, refuses, refusal=AppError) == ["after rollback"]
    assert await _drive(resources, keeps, refusal=_KeepsChanges) == ["after commit"]


async def test_a_failed_commit_runs_the_rollback_callbacks(resources: Resources, users: Any) -> None:
    """What was stored outside the database for a transaction whose COMMIT failed is undone."""

    async def body(session: Any, events: list[str]) -> None:
        await session.execute(
            text("CREATE TEMP TABLE deferred_check (id int UNIQUE DEFERRABLE INITIALLY DEFERRED)")
        )
        await session.execute(text("INSERT INTO deferred_check VALUES (1), (1)"))
        _track(session, events)

    events: list[str] = []
    with pytest.raises(Exception, match="duplicate key"):
        async with transaction(resources.session_factory) as session:
            await body(session, events)
    assert events == ["after rollback"]


async def test_jobs_transactions_run_the_same_callbacks(resources: Resources, users: Any) -> None:
    events: list[str] = []

    async def commits(session: Any) -> None:
        _track(session, events)

    async def fails(session: Any) -> None:
        _track(session, events)
        raise RuntimeError("the job failed")

    await in_transaction(resources.session_factory, commits)
    with pytest.raises(RuntimeError):
        await in_transaction(resources.session_factory, fails)
    assert events == ["after commit", "after rollback"]


async def test_request_dependency_hands_refusals_to_the_transaction(
    app: Any, resources: Resources, users: Any
) -> None:
    """Litestar throws the handler's exception into the dependency at its yield; the transaction
    must see it (here: a refusal whose writes stand must still commit)."""
    dependency = provide_db_session(app.state, {"type": "http", "state": {}})  # type: ignore[arg-type]
    session = await dependency.__anext__()
    await _insert(session, "viadependency")
    with pytest.raises(_KeepsChanges):
        await dependency.athrow(_KeepsChanges("refused, but the write stands"))
    assert await _count(resources, "viadependency") == 1

    dependency = provide_db_session(app.state, {"type": "http", "state": {}})  # type: ignore[arg-type]
    session = await dependency.__anext__()
    await _insert(session, "rolledbackdep")
    with pytest.raises(AppError):
        await dependency.athrow(AppError("refused"))
    assert await _count(resources, "rolledbackdep") == 0


async def test_a_dependency_that_refuses_does_not_leak_the_connection(
    client: Any, users: Any, resources: Resources
) -> None:
    """current_user raises after the session dependency started (the token is valid but its account
    is gone): the request's connection must still go back to the pool at once."""
    ghost = await users.create("ghost")
    async with resources.session_factory() as session, session.begin():
        await session.execute(text("DELETE FROM users WHERE username = 'ghost'"))
    pool = resources.engine.pool
    for _ in range(2 * (resources.settings.db_pool_size + resources.settings.db_max_overflow)):
        response = await client.get("/v1/me", headers=ghost.headers)
        assert response.status_code == 401
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_deadlock_is_a_503_to_send_again_and_changes_nothing(
    client: Any, users: Any, published: Any, resources: Resources
) -> None:
    """PostgreSQL ends one of two transactions that wait for each other (deadlock_detected, or a
    serialization_failure): the request it ends is sent again, not a server error."""
    alice = await users.create("alice")
    video_id = await published(alice)
    # Another transaction (an operator's, a job's) holds alice's row, then wants the video's,
    # while her delete holds the video's and waits for her row to count it off.
    async with resources.engine.connect() as other:
        await other.execute(text("SELECT 1 FROM users WHERE id = :id FOR UPDATE"), {"id": alice.id})
        deleting = asyncio.create_task(client.delete(f"/v1/videos/{video_id}", headers=alice.headers))
        await someone_waits_for_a_lock(resources)
        # The delete waited first, so its deadlock check runs first and ends its own transaction.
        await other.execute(text("SELECT 1 FROM videos WHERE id = :id FOR UPDATE"), {"id": video_id})
        answer = await deleting
        await other.rollback()

    assert_problem(answer, 503, "service_unavailable")
    assert answer.headers["retry-after"] == "1"
    assert (await client.get(f"/v1/videos/{video_id}", headers=alice.headers)).status_code == 200
    again = await client.delete(f"/v1/videos/{video_id}", headers=alice.headers)
    assert again.status_code == 204, again.text
