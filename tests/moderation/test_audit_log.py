"""The audit log: every decision (who, what, when, why, about whom), newest first, paginated,
moderators only, and append-only in the database itself."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from accounts.models import Role
from tests.accounts.helpers import assert_problem
from tests.moderation.helpers import audit_log, claimed, decided, reported


async def test_every_decision_is_in_the_audit_log_newest_first(client, users, published, mod, admin):
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    video_id = await published(alice)
    await reported(client, bob, "video", video_id, "violence")
    await reported(client, bob, "user", carol.id, "spam")
    start = datetime.now(UTC)

    first = await claimed(client, mod)
    await decided(client, mod, first["id"], "escalate", note="not sure")
    second = await claimed(client, mod)
    await decided(client, mod, second["id"], "suspend_user", note="spam bot", duration_hours=24)
    again = await claimed(client, admin)
    await decided(client, admin, again["id"], "remove_content", note="too violent")

    entries = await audit_log(client, mod)
    assert [(e["moderator"], e["action"], e["note"]) for e in entries] == [
        ("boss", "remove_content", "too violent"),
        ("mod", "suspend_user", "spam bot"),
        ("mod", "escalate", "not sure"),
    ]
    removal, suspension, escalation = entries
    assert removal["subject"]["target"] == {"type": "video", "id": video_id}
    assert removal["subject"]["user"] == {"id": alice.id, "username": "alice"}
    assert removal["subject"]["queue"] == "reports"
    assert removal["item_id"] == first["id"] == escalation["item_id"]
    assert suspension["subject"]["user"]["username"] == "carol"
    assert suspension["subject"]["duration_hours"] == 24
    for entry in entries:
        assert datetime.fromisoformat(entry["created_at"]) >= start.replace(microsecond=0)
        assert entry["decision_id"]
    assert await audit_log(client, admin) == entries


async def test_the_audit_log_pages_with_a_cursor(client, users, mod):
    reporter = await users.create("reporter")
    for n in range(5):
        person = await users.create(f"person{n}")
        await reported(client, reporter, "user", person.id)
    for _ in range(5):
        held = await claimed(client, mod)
        await decided(client, mod, held["id"], "dismiss", note=f"note {held['subject']['user']['username']}")

    first = (await client.get("/v1/moderation/audit-log", headers=mod.headers, params={"limit": 2})).json()
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    everything = await audit_log(client, mod)
    assert len(everything) == 5
    assert first["items"] == everything[:2]
    bad = await client.get("/v1/moderation/audit-log", headers=mod.headers, params={"cursor": "forged"})
    assert_problem(bad, 400, "invalid_cursor")


async def test_the_audit_log_cannot_be_changed_or_deleted(client, users, resources, mod):
    alice, bob = await users.create("alice"), await users.create("bob")
    await reported(client, bob, "user", alice.id)
    held = await claimed(client, mod)
    await decided(client, mod, held["id"], "warn_user", note="the original reason")

    for statement in (
        "UPDATE moderation_audit_log SET note = 'rewritten'",
        "DELETE FROM moderation_audit_log",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with resources.engine.begin() as connection:
                await connection.execute(text(statement))

    (entry,) = await audit_log(client, mod)
    assert entry["note"] == "the original reason"


async def test_a_moderator_who_leaves_stays_in_the_log_unnamed(client, users, resources):
    alice, bob = await users.create("alice"), await users.create("bob")
    gone = await users.create("gonemod", role=Role.MODERATOR)
    reader = await users.create("reader", role=Role.MODERATOR)
    await reported(client, bob, "user", alice.id)
    held = await claimed(client, gone)
    await decided(client, gone, held["id"], "dismiss", note="fine")
    async with resources.engine.begin() as connection:
        await connection.execute(text("DELETE FROM users WHERE username = 'gonemod'"))

    (entry,) = await audit_log(client, reader)
    assert entry["moderator"] is None
    assert entry["note"] == "fine"
