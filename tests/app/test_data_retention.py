"""Data retention: the hourly jobs delete idempotency records, notifications, ended logins, wellbeing
check-ins, teens' daily feed counts and ended data exports past their retention, keep what is newer
(and what is still in use), work in bounded batches that use an index, share the work when several
run at once, and leave the API's lists (and the ranking, a teen's cap, the export, the export rate
limit) right."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text

from accounts.jobs import prune_ended_sessions, prune_notifications, purge_expired_refresh_tokens
from accounts.models import Role
from accounts.notifications import kept_past_retention
from app import retention
from app.composition import JOBS
from app.resources import Resources
from exports.jobs import expire_archives, prune_ended_exports, sweep_stalled
from feed.jobs import TEEN_DAY_RETENTION_DAYS, prune_checkins, prune_teen_days
from generation import queries as generation_queries
from tests.accounts.helpers import assert_problem, bearer
from tests.accounts.test_sessions import WINDOWS_CHROME, end, log_in_from, login_of, sessions
from tests.accounts.test_tokens import refresh
from tests.exports.test_exports import add_export, ask, read_zip, ready_export, stored
from tests.factories import Actor, UserFactory
from tests.feed.helpers import comment, notifications
from tests.feed.test_feed_endpoints import preferences
from tests.feed.test_ranking import feed
from tests.moderation.helpers import claimed, decided, reported
from tests.statements import statements_of

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

    async def hold_after_the_claim(session: Any, user_id: Any) -> bool:
        still_here = await lock_quota(session, user_id)
        held.set()
        await release.wait()
        return still_here

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


def test_every_retention_job_runs_hourly_on_the_workers() -> None:
    crons = {job.name: job.cron for job in JOBS if job.name.startswith("retention.")}
    assert set(crons) == {
        "retention.idempotency_records",
        "retention.notifications",
        "retention.sessions",
        "retention.feed_checkins",
        "retention.feed_teen_days",
        "retention.exports",
    }
    assert all(cron and re.fullmatch(r"\d{1,2} \* \* \* \*", cron) for cron in crons.values()), crons


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


async def _old_checkins_and_ended_exports(resources: Resources, user_id: str, count: int) -> None:
    await execute(
        resources,
        "INSERT INTO feed_checkins (id, user_id, mood, want, created_at, updated_at)"
        " SELECT gen_random_uuid(), :user_id, 3, 'same', :at, :at FROM generate_series(1, :count)",
        user_id=uuid.UUID(user_id),
        at=ago(days=31),
        count=count,
    )
    await execute(
        resources,
        "INSERT INTO data_exports (id, user_id, status, attempts, completed_at, expires_at, created_at,"
        " updated_at) SELECT gen_random_uuid(), :user_id, CASE WHEN n % 2 = 0 THEN 'expired' ELSE"
        " 'failed' END, 1, :at, CASE WHEN n % 2 = 0 THEN CAST(:at AS timestamptz) END, :at, :at"
        " FROM generate_series(1, :count) AS n",
        user_id=uuid.UUID(user_id),
        at=ago(days=31),
        count=count,
    )


async def test_the_checkin_and_export_runs_delete_at_most_their_batches_too(
    users: UserFactory, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await users.create("alice")
    await _old_checkins_and_ended_exports(resources, alice.id, 8)
    monkeypatch.setattr(retention, "BATCH", 3)
    monkeypatch.setattr(retention, "MAX_BATCHES", 2)

    for job, listed in (
        (prune_checkins, "SELECT id FROM feed_checkins"),
        (prune_ended_exports, "SELECT id FROM data_exports"),
    ):
        assert await job(resources) == 6
        assert len(await column(resources, listed)) == 2
        assert await job(resources) == 2
        assert await column(resources, listed) == []


async def test_runs_at_once_share_the_rows(
    users: UserFactory, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await users.create("alice")
    await _old_records(resources, alice.id, 40)
    monkeypatch.setattr(retention, "BATCH", 3)

    counts = await asyncio.gather(*(retention.prune_idempotency_records(resources) for _ in range(4)))

    assert sum(counts) == 40
    assert await column(resources, "SELECT id FROM idempotency_keys") == []


def _literal(value: Any) -> str:
    return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"


async def assert_planned_through(
    resources: Resources, sent: list[tuple[str, Any]], expected: list[str]
) -> None:
    """Each statement, planned with sequential scans off, goes through its index, that one by name
    (not another index whose name holds it): as sent, and as a generic plan, which a prepared
    statement's may come to be (one that matched a partial index's predicate only through its bound
    values would then read the whole table)."""
    assert len(sent) == len(expected), sent
    async with resources.engine.connect() as connection:
        await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        await connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        for (statement, parameters), index in zip(sent, expected, strict=True):
            plan = [row[0] for row in await connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)]
            assert any(index in line.split() for line in plan), (statement, plan)
            # A prepared statement outlives the transaction, on a pooled connection that a later
            # test may get: a name of its own, deallocated once looked at.
            name = f"plan_check_{uuid.uuid4().hex}"
            await connection.exec_driver_sql(f"PREPARE {name} AS {statement}")
            values = ", ".join(_literal(value) for value in parameters)
            explained = await connection.exec_driver_sql(f"EXPLAIN EXECUTE {name}({values})")
            generic = [row[0] for row in explained]
            await connection.exec_driver_sql(f"DEALLOCATE {name}")
            assert any(index in line.split() for line in generic), (statement, generic)
        await connection.rollback()


async def test_every_batch_finds_its_rows_through_an_index(users: UserFactory, resources: Resources) -> None:
    """Each job's statements, as sent, planned with sequential scans off: a batch that had no index
    to go by would still read its whole table."""
    await users.create("alice")
    sent = await statements_of(
        resources,
        # Only a batch's: the purge's deletions name their ids, never an age.
        lambda statement: statement.startswith("DELETE") and "LIMIT" in statement,
        lambda: retention.prune_idempotency_records(resources),
        lambda: prune_notifications(resources),
        lambda: prune_ended_sessions(resources),
        lambda: purge_expired_refresh_tokens(resources),
        lambda: prune_checkins(resources),
        lambda: prune_teen_days(resources),
        lambda: prune_ended_exports(resources),
    )
    expected = [
        "ix_idempotency_keys_created_at",
        # The partial index without the kinds kept whatever their age, not one of every notification.
        "ix_notifications_prunable_created_at",
        "ix_login_sessions_ended_at",
        "ix_refresh_tokens_expires_at",
        "ix_feed_checkins_created_at",
        "ix_feed_teen_days_day",
        "ix_data_exports_ended",
    ]
    await assert_planned_through(resources, sent, expected)


async def test_the_export_sweep_and_expiry_find_their_rows_through_their_partial_indexes(
    users: UserFactory, resources: Resources
) -> None:
    await users.create("alice")
    sent = await statements_of(
        resources,
        # The sweep's and the expiry's scans, not a build's lookup of its export by id.
        lambda statement: (
            statement.startswith("SELECT data_exports.id")
            and "LIMIT" in statement
            and "FOR UPDATE" not in statement
        ),
        lambda: sweep_stalled(resources),
        lambda: expire_archives(resources),
    )
    await assert_planned_through(resources, sent, ["ix_data_exports_pending", "ix_data_exports_ready_expiry"])


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


async def test_a_notification_batch_steps_over_none_of_the_kept_ones(
    users: UserFactory, resources: Resources
) -> None:
    """However many kept notifications (`moderation_decision`, whatever their age) are older than
    those a batch deletes, it reads none of them on its way: they are not in the index it walks.
    Run as a generic plan, as a prepared statement's may come to be."""
    alice = await users.create("alice")
    [(statement, parameters)] = await statements_of(
        resources,
        lambda statement: statement.startswith("DELETE FROM notifications") and "LIMIT" in statement,
        lambda: prune_notifications(resources),
    )
    add = (
        "INSERT INTO notifications (id, user_id, kind, subject_type, data, created_at, updated_at) "
        "SELECT gen_random_uuid(), :user_id, :kind, 'decision', '{}', :at, :at "
        "FROM generate_series(1, :count)"
    )
    user_id = uuid.UUID(alice.id)
    await execute(resources, add, user_id=user_id, kind="moderation_decision", at=ago(days=400), count=50)
    await execute(resources, add, user_id=user_id, kind="like", at=ago(days=100), count=3)
    async with resources.engine.connect() as connection:
        await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        await connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        name = f"plan_check_{uuid.uuid4().hex}"
        await connection.exec_driver_sql(f"PREPARE {name} AS {statement}")
        values = ", ".join(_literal(value) for value in parameters)
        # ANALYZE runs the batch (rolled back below), to count the rows the scan read and dropped.
        explained = await connection.exec_driver_sql(f"EXPLAIN (ANALYZE, COSTS OFF) EXECUTE {name}({values})")
        plan = [row[0] for row in explained]
        await connection.exec_driver_sql(f"DEALLOCATE {name}")
        await connection.rollback()
    # The batch's scan (the other one finds the rows to delete by their primary key).
    scans = [line for line in plan if "Index Scan using" in line and "pk_notifications" not in line.split()]
    assert len(scans) == 1, plan
    (scan,) = scans
    assert "ix_notifications_prunable_created_at" in scan.split(), plan
    # The three likes found, and not one decision read and dropped on the way.
    # PostgreSQL 18 prints actual rows with decimals (rows=3.00), 15 without (rows=3).
    found = re.search(r"\(actual time=\S+ rows=(\d+(?:\.\d+)?) ", scan)
    assert found is not None and float(found[1]) == 3, plan
    assert not [line for line in plan if "Rows Removed by Filter" in line], plan
    assert len(await column(resources, "SELECT id FROM notifications")) == 53


async def test_the_prunable_index_leaves_out_exactly_the_kinds_kept_past_retention(
    resources: Resources,
) -> None:
    """The partial index's predicate is written out in the model and the migration, the kinds kept
    are registered by the domains that send them: a kind registered later and not left out of the
    index would be walked past again; one left out and no longer kept, never deleted."""
    kept = kept_past_retention()
    assert kept == ["moderation_decision"]
    async with resources.engine.connect() as connection:
        predicate = await connection.scalar(
            text(
                "SELECT pg_get_expr(indpred, indrelid) FROM pg_index "
                "WHERE indexrelid = 'ix_notifications_prunable_created_at'::regclass"
            )
        )
        in_index = {
            kind: await connection.scalar(
                # The predicate as PostgreSQL keeps it, evaluated for a row of this kind.
                text(f"SELECT {predicate} FROM (SELECT CAST(:kind AS varchar(32)) AS kind) AS notifications"),  # noqa: S608
                {"kind": kind},
            )
            for kind in [*kept, "like", "comment", "reply", "remix", "export_ready", "cameo_used"]
        }
    assert {kind for kind, held in in_index.items() if not held} == set(kept), predicate


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


# --- wellbeing check-ins -----------------------------------------------------------------------


async def checkin(client: httpx.AsyncClient, actor: Actor, mood: int, want: str) -> None:
    response = await client.post(
        "/v1/feed/checkins", json={"mood": mood, "want": want}, headers=actor.headers
    )
    assert response.status_code == 204, response.text


async def test_checkins_past_their_retention_go_and_the_ranking_and_the_export_stay_right(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, published: Any
) -> None:
    viewer, control, maker = (
        await users.create("viewer"),
        await users.create("control"),
        await users.create("maker"),
    )
    dance = await published(maker, caption="dance party")
    calm = await published(maker, caption="calm rain on a forest")
    # Two old answers (the second energised), then a recent one; control's is old too.
    for mood, want in ((1, "more_relaxed"), (2, "more_energized"), (4, "more_energized")):
        await checkin(client, viewer, mood, want)
    await checkin(client, control, 5, "same")
    bias = (await preferences(client, viewer))["mood_bias"]
    assert bias == 0.5
    backdate = "UPDATE feed_checkins SET created_at = :at WHERE user_id = :user AND mood = :mood"
    for user, mood in ((viewer, 1), (viewer, 2), (control, 5)):
        await execute(resources, backdate, at=ago(days=30, minutes=1), user=uuid.UUID(user.id), mood=mood)
    await execute(resources, backdate, at=ago(days=29), user=uuid.UUID(viewer.id), mood=4)

    assert await prune_checkins(resources) == 3

    assert await column(resources, "SELECT mood FROM feed_checkins") == [4]
    # The nudge of every check-in, the deleted ones too, is still in the ranking.
    assert (await preferences(client, viewer))["mood_bias"] == bias
    assert [video_id for video_id, _ in await feed(client, control)] == [calm, dance]
    assert [video_id for video_id, _ in await feed(client, viewer)] == [dance, calm]
    # The export holds what is kept.
    export = await ready_export(client, viewer)
    archive = await client.get(export["archive_url"], headers=viewer.headers)
    assert archive.status_code == 200
    kept = json.loads(read_zip(archive.content)["feed_preferences.json"])["checkins"]
    assert [(item["mood"], item["want"]) for item in kept] == [(4, "more_energized")]
    assert await prune_checkins(resources) == 0


async def test_teens_daily_counts_of_past_days_go_and_todays_still_holds_the_cap(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    teen = await users.create("teen", birthdate=date(datetime.now(UTC).year - 15, 1, 1))
    today = datetime.now(UTC).date()
    limit = resources.settings.teen_daily_feed_limit
    # Today's at the cap (its Redis counter never set: as if Redis lost it), and the nine days before.
    await execute(
        resources,
        "INSERT INTO feed_teen_days (user_id, day, served) "
        "SELECT :user_id, CAST(:today AS date) - n, CASE WHEN n = 0 THEN :limit ELSE 7 END "
        "FROM generate_series(0, 9) AS n",
        user_id=uuid.UUID(teen.id),
        today=today,
        limit=limit,
    )
    monkeypatch.setattr(retention, "BATCH", 3)
    monkeypatch.setattr(retention, "MAX_BATCHES", 2)

    # The days before the day before yesterday: six in a run (two batches), the last the next run.
    assert TEEN_DAY_RETENTION_DAYS == 2
    assert await prune_teen_days(resources) == 6
    assert await prune_teen_days(resources) == 1
    assert await prune_teen_days(resources) == 0
    kept = await column(resources, "SELECT day FROM feed_teen_days ORDER BY day DESC")
    assert kept == [today - timedelta(days=n) for n in range(TEEN_DAY_RETENTION_DAYS + 1)]

    page = await client.get("/v1/feed", headers=teen.headers)
    assert page.status_code == 200, page.text
    assert page.json()["items"] == [] and page.json()["break"]["reason"] == "teen_daily_limit"
    assert page.json()["break"]["videos_seen"] == limit


# --- data exports ------------------------------------------------------------------------------


async def exports_page(client: httpx.AsyncClient, actor: Actor, **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/me/exports", params=params, headers=actor.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_exports_ended_past_their_retention_go_and_the_list_and_the_rate_limit_stay_right(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    alice, bob = await users.create("alice"), await users.create("bob")
    # Alice's latest, asked for through the API and built, then expired early (its archive deleted):
    # it ended just now, so it is kept, and counts toward the limit within its window.
    latest = (await ready_export(client, alice))["id"]
    await execute(
        resources,
        "UPDATE data_exports SET expires_at = :at WHERE id = :id",
        at=ago(seconds=1),
        id=uuid.UUID(latest),
    )
    assert await expire_archives(resources) == 1

    # Older ones as the jobs left them: expired at their expiry, failed when given up.
    def expired(days: float) -> dict[str, Any]:
        return {
            "status": "expired",
            "created_at": ago(days=days + 8),
            "completed_at": ago(days=days + 7),
            "expires_at": ago(days=days),
        }

    def failed(days: float) -> dict[str, Any]:
        return {
            "status": "failed",
            "error_code": "export_failed",
            "created_at": ago(days=days, minutes=10),
            "completed_at": ago(days=days),
        }

    expired_long_ago = await add_export(resources, alice, **expired(30.001))
    failed_long_ago = await add_export(resources, alice, **failed(30.001))
    expired_lately = await add_export(resources, alice, **expired(29))
    failed_lately = await add_export(resources, alice, **failed(29))
    # Ready long past its expiry, the expiry job behind: its archive is still stored.
    key = f"exports/{alice.id}/behind.zip"
    await resources.storage.put(key, b"PK", "application/zip")
    ready_behind = await add_export(
        resources, alice, **{**expired(60), "status": "ready", "archive_key": key, "size_bytes": 2}
    )
    # Bob's has been pending for long (the sweep's to resume, not the retention's).
    pending_long_ago = await add_export(resources, bob, created_at=ago(days=60))
    first = await exports_page(client, alice, limit=2)
    assert [item["id"] for item in first["items"]] == [latest, failed_lately]
    assert_problem(await ask(client, alice), 429, "rate_limited")

    assert await prune_ended_exports(resources) == 2

    kept = {latest, failed_lately, expired_lately, ready_behind, pending_long_ago}
    assert {str(row) for row in await column(resources, "SELECT id FROM data_exports")} == kept
    assert await stored(resources, key)
    listed = await exports_page(client, alice)
    assert [(item["id"], item["status"]) for item in listed["items"]] == [
        (latest, "expired"),
        (failed_lately, "failed"),
        (expired_lately, "expired"),
        (ready_behind, "ready"),
    ]
    # A cursor handed out before goes on past the rows that went.
    rest = await exports_page(client, alice, limit=2, cursor=first["next_cursor"])
    assert [item["id"] for item in rest["items"]] == [expired_lately, ready_behind]
    for gone in (expired_long_ago, failed_long_ago):
        assert_problem(
            await client.get(f"/v1/me/exports/{gone}", headers=alice.headers), 404, "export_not_found"
        )
    pending = await client.get(f"/v1/me/exports/{pending_long_ago}", headers=bob.headers)
    assert pending.json()["status"] == "pending"
    # The latest still counts: the limit holds.
    assert_problem(await ask(client, alice), 429, "rate_limited")
    assert await prune_ended_exports(resources) == 0
