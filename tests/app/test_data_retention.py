"""Data retention: the hourly jobs delete idempotency records, notifications and ended logins past
their retention, keep what is newer (and what is still in use), work in bounded batches that use
an index, share the work when several run at once, and leave the API's lists right."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text

from accounts.jobs import prune_ended_sessions, prune_notifications, purge_expired_refresh_tokens
from accounts.models import Role
from app import retention
from app.resources import Resources
from generation import queries as generation_queries
from tests.accounts.helpers import assert_problem, bearer
from tests.accounts.test_sessions import WINDOWS_CHROME, end, log_in_from, login_of, sessions
from tests.accounts.test_tokens import refresh
from tests.factories import Actor, UserFactory
from tests.feed.helpers import comment, notifications
from tests.moderation.helpers import claimed, decided, reported

GENERATIONS = "/v1/generations"


async def execute(resources: Resources, statement: str, **params: Any) -> None:
    async with resources.engine.begin() as connection:
        await connection.execute(text(statement), params)


async def column(resources: Resources, statement: str, **params: Any) -> list[Any]:
    async with resources.engine.connect() as connection:
        return list((await connection.execute(text(statement), params)).scalars().all())


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


async def generate_with_key(client: httpx.AsyncClient, actor: Actor, key: str, prompt: str) -> httpx.Response:
    return await client.post(
        GENERATIONS, json={"prompt": prompt}, headers={**actor.headers, "Idempotency-Key": key}
    )


# --- idempotency records -----------------------------------------------------------------------


async def test_an_idempotency_key_past_its_retention_is_a_new_request(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    alice = await users.create("alice")
    old = await generate_with_key(client, alice, "old", "a fox")
    new = await generate_with_key(client, alice, "new", "a wolf")
    assert old.status_code == new.status_code == 202
    await execute(
        resources,
        "UPDATE idempotency_keys SET created_at = :at WHERE key = 'old'",
        at=ago(hours=24, minutes=1),
    )
    await execute(
        resources,
        "UPDATE idempotency_keys SET created_at = :at WHERE key = 'new'",
        at=ago(hours=23, minutes=59),
    )

    assert await retention.prune_idempotency_records(resources) == 1

    assert await column(resources, "SELECT key FROM idempotency_keys") == ["new"]
    # The newer key still answers its first answer; the expired one makes a new generation.
    again = await generate_with_key(client, alice, "new", "a wolf")
    assert (again.status_code, again.json()["id"]) == (202, new.json()["id"])
    anew = await generate_with_key(client, alice, "old", "a fox")
    assert anew.status_code == 202
    assert anew.json()["id"] != old.json()["id"]
    assert await retention.prune_idempotency_records(resources) == 0


class _Later(datetime):
    """`datetime` two days on: a job run then sees every record made now past its retention."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return datetime.now(tz) + timedelta(days=2)


async def test_a_claim_whose_request_is_still_running_is_neither_pruned_nor_waited_for(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await users.create("alice")
    done = await generate_with_key(client, alice, "done", "a fox")
    assert done.status_code == 202
    lock_quota = generation_queries.lock_user_for_quota
    held, release = asyncio.Event(), asyncio.Event()

    async def hold_after_the_claim(session: Any, user_id: Any) -> None:
        await lock_quota(session, user_id)
        held.set()
        await release.wait()

    monkeypatch.setattr(generation_queries, "lock_user_for_quota", hold_after_the_claim)
    running = asyncio.create_task(generate_with_key(client, alice, "running", "a hare"))
    await asyncio.wait_for(held.wait(), 10)

    monkeypatch.setattr(retention, "datetime", _Later)
    # Two days on, the finished record is past its retention; the running one's claim is not seen.
    assert await asyncio.wait_for(retention.prune_idempotency_records(resources), 10) == 1
    monkeypatch.undo()

    release.set()
    answered = await running
    assert answered.status_code == 202, answered.text
    replayed = await generate_with_key(client, alice, "running", "a hare")
    assert (replayed.status_code, replayed.json()["id"]) == (202, answered.json()["id"])


async def test_a_retry_that_meets_its_record_as_it_is_pruned_is_a_new_request(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    """The INSERT claiming the key runs into the record, which the retention job deletes before the
    request reads it: the key is free, and the request is served as new (not 409)."""
    alice = await users.create("alice")
    first = await generate_with_key(client, alice, "edge", "a fox")
    assert first.status_code == 202
    pruned: list[int] = []

    def prune_right_after_the_claim(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO idempotency_keys") and not pruned:
            pruned.append(1)
            # Inside the request's statement, on another connection: as the job would, in between.
            from sqlalchemy.util import await_only

            await_only(
                execute(
                    resources,
                    "DELETE FROM idempotency_keys WHERE key = 'edge' AND response_status IS NOT NULL",
                )
            )

    sync_engine = resources.engine.sync_engine
    event.listen(sync_engine, "after_cursor_execute", prune_right_after_the_claim)
    try:
        again = await generate_with_key(client, alice, "edge", "a fox")
    finally:
        event.remove(sync_engine, "after_cursor_execute", prune_right_after_the_claim)
    assert pruned == [1]
    assert again.status_code == 202, again.text
    assert again.json()["id"] != first.json()["id"]


# --- batches -----------------------------------------------------------------------------------


async def _old_records(resources: Resources, user_id: str, count: int) -> None:
    await execute(
        resources,
        "INSERT INTO idempotency_keys (id, user_id, scope, key, request_hash, response_status, response_body,"
        " created_at, updated_at) SELECT gen_random_uuid(), :user_id, 'test', 'k' || n, 'h', 202, '{}',"
        " :at, :at FROM generate_series(1, :count) AS n",
        user_id=uuid.UUID(user_id),
        at=ago(days=3),
        count=count,
    )


async def test_a_run_deletes_at_most_its_batches_and_the_next_goes_on(
    users: UserFactory, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await users.create("alice")
    await _old_records(resources, alice.id, 8)
    monkeypatch.setattr(retention, "BATCH", 3)
    monkeypatch.setattr(retention, "MAX_BATCHES", 2)

    assert await retention.prune_idempotency_records(resources) == 6
    assert len(await column(resources, "SELECT id FROM idempotency_keys")) == 2
    assert await retention.prune_idempotency_records(resources) == 2
    assert await column(resources, "SELECT id FROM idempotency_keys") == []


async def test_runs_at_once_share_the_rows(
    users: UserFactory, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await users.create("alice")
    await _old_records(resources, alice.id, 40)
    monkeypatch.setattr(retention, "BATCH", 3)

    counts = await asyncio.gather(*(retention.prune_idempotency_records(resources) for _ in range(4)))

    assert sum(counts) == 40
    assert await column(resources, "SELECT id FROM idempotency_keys") == []


async def test_every_batch_finds_its_rows_through_an_index(users: UserFactory, resources: Resources) -> None:
    """Each job's statements, as sent, planned with sequential scans off: a batch that had no index
    to go by would still read its whole table."""
    await users.create("alice")
    sent: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().startswith("DELETE"):
            sent.append((statement, parameters))

    sync_engine = resources.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", keep)
    try:
        await retention.prune_idempotency_records(resources)
        await prune_notifications(resources)
        await prune_ended_sessions(resources)
        await purge_expired_refresh_tokens(resources)
    finally:
        event.remove(sync_engine, "before_cursor_execute", keep)

    expected = [
        "ix_idempotency_keys_created_at",
        "ix_notifications_created_at",
        "ix_login_sessions_ended_at",
        "ix_refresh_tokens_expires_at",
    ]
    assert len(sent) == len(expected), sent
    async with resources.engine.connect() as connection:
        await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        for (statement, parameters), index in zip(sent, expected, strict=True):
            plan = [row[0] for row in await connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)]
            assert any(index in line for line in plan), (statement, plan)
        await connection.rollback()


# --- notifications -----------------------------------------------------------------------------


async def test_notifications_past_their_retention_go_read_or_not_and_the_list_stays_right(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, published: Any
) -> None:
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    mod = await users.create("mod", role=Role.MODERATOR)
    video_id = await published(alice)
    # A moderator removes one of alice's comments: her notification of it is where she finds the
    # decision to appeal it.
    removed = (await comment(client, alice, video_id, "mine, then removed")).json()
    await reported(client, bob, "comment", removed["id"], "spam")
    await decided(client, mod, (await claimed(client, mod))["id"], "remove_content")
    for actor in (bob, carol):
        assert (await client.post(f"/v1/videos/{video_id}/like", headers=actor.headers)).status_code == 204
        assert (await comment(client, actor, video_id, f"from {actor.username}")).status_code == 201
    told = {
        (item["kind"], (item["actor"] or {}).get("username")): item
        for item in await notifications(client, alice)
    }
    assert set(told) == {
        ("moderation_decision", None),
        ("like", "bob"),
        ("comment", "bob"),
        ("like", "carol"),
        ("comment", "carol"),
    }
    # bob's are old (his like read, his comment unread), the decision too; carol's are recent.
    read = await client.post(
        "/v1/notifications/read", json={"ids": [told[("like", "bob")]["id"]]}, headers=alice.headers
    )
    assert read.status_code == 204, read.text
    backdate = "UPDATE notifications SET created_at = :at WHERE id = :id"
    for key in (("like", "bob"), ("comment", "bob")):
        await execute(resources, backdate, at=ago(days=90, minutes=1), id=uuid.UUID(told[key]["id"]))
    decision = uuid.UUID(told[("moderation_decision", None)]["id"])
    await execute(resources, backdate, at=ago(days=400), id=decision)
    newest = await client.get("/v1/notifications", params={"limit": 2}, headers=alice.headers)
    assert newest.status_code == 200
    cursor = newest.json()["next_cursor"]
    assert [item["actor"]["username"] for item in newest.json()["items"]] == ["carol", "carol"]

    assert await prune_notifications(resources) == 2

    after = await notifications(client, alice)
    assert [(item["kind"], (item["actor"] or {}).get("username")) for item in after] == [
        ("comment", "carol"),
        ("like", "carol"),
        ("moderation_decision", None),
    ]
    # Unread: what is left of them, all three.
    assert [item["read"] for item in after] == [False, False, False]
    # A cursor handed out before the pruning goes on past the rows that went.
    rest = await client.get("/v1/notifications", params={"limit": 2, "cursor": cursor}, headers=alice.headers)
    assert rest.status_code == 200, rest.text
    assert [item["kind"] for item in rest.json()["items"]] == ["moderation_decision"]
    assert rest.json()["next_cursor"] is None
    assert await prune_notifications(resources) == 0


# --- sessions ----------------------------------------------------------------------------------


async def test_logins_ended_or_expired_past_their_retention_go_with_their_tokens(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    alice = await users.create("alice")
    ended_long_ago = await log_in_from(client, "alice", alice.password, WINDOWS_CHROME)
    expired_long_ago = await log_in_from(client, "alice", alice.password, WINDOWS_CHROME)
    ended_lately = await log_in_from(client, "alice", alice.password, WINDOWS_CHROME)
    expired_lately = await log_in_from(client, "alice", alice.password, WINDOWS_CHROME)
    for tokens in (ended_long_ago, ended_lately):
        assert (await end(client, alice.access_token, login_of(tokens["access_token"]))).status_code == 204
    await execute(
        resources,
        "UPDATE login_sessions SET revoked_at = :at WHERE id = :id",
        at=ago(days=30, minutes=1),
        id=uuid.UUID(login_of(ended_long_ago["access_token"])),
    )
    for tokens, at in ((expired_long_ago, ago(days=30, minutes=1)), (expired_lately, ago(days=29))):
        identifier = uuid.UUID(login_of(tokens["access_token"]))
        await execute(
            resources, "UPDATE login_sessions SET expires_at = :at WHERE id = :id", at=at, id=identifier
        )
        await execute(
            resources,
            "UPDATE refresh_tokens SET expires_at = :at WHERE family_id = :id",
            at=at,
            id=identifier,
        )
    listed_before = await sessions(client, alice.access_token)

    assert await prune_ended_sessions(resources) == 2

    gone = {login_of(ended_long_ago["access_token"]), login_of(expired_long_ago["access_token"])}
    kept = {
        login_of(token)
        for token in (alice.access_token, ended_lately["access_token"], expired_lately["access_token"])
    }
    assert {str(login) for login in await column(resources, "SELECT id FROM login_sessions")} == kept
    families = {str(family) for family in await column(resources, "SELECT family_id FROM refresh_tokens")}
    assert families == kept  # the ended login's tokens, revoked but not expired, went with it
    # The list (the logins neither ended nor expired) is as it was.
    assert await sessions(client, alice.access_token) == listed_before
    assert [item["id"] for item in listed_before] == [login_of(alice.access_token)]
    # Ending one that ended lately is still 204; one pruned is no longer hers to end.
    assert (await end(client, alice.access_token, login_of(ended_lately["access_token"]))).status_code == 204
    for login in gone:
        assert_problem(await end(client, alice.access_token, login), 404, "session_not_found")
    # Its tokens do nothing, and a refresh does not bring the login back.
    assert_problem(
        await client.get("/v1/me", headers=bearer(ended_long_ago["access_token"])), 401, "not_authenticated"
    )
    assert_problem(await refresh(client, ended_long_ago["refresh_token"]), 401, "invalid_refresh_token")
    assert {str(login) for login in await column(resources, "SELECT id FROM login_sessions")} == kept
    assert await prune_ended_sessions(resources) == 0
