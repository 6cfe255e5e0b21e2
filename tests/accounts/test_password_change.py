"""Changing the password: re-authenticated by the current one, every other session signed out at
once (refresh tokens revoked, earlier access tokens refused), a new pair for the caller."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import text

from app.db import advisory_key
from tests.accounts.helpers import assert_problem, bearer, error_fields, me
from tests.accounts.test_tokens import assert_tokens, log_in, refresh, tight_app
from tests.locks import someone_waits_for_a_lock

NEW_PASSWORD = "a brand new passphrase"


async def change_password(
    client: httpx.AsyncClient, access_token: str, current: str, new: str = NEW_PASSWORD
) -> httpx.Response:
    return await client.post(
        "/v1/me/password",
        headers=bearer(access_token),
        json={"current_password": current, "new_password": new},
    )


async def test_changing_the_password_signs_every_other_session_out(client, users):
    alice = await users.create("alice")
    phone = assert_tokens(await log_in(client, "alice", alice.password), "alice")
    laptop = assert_tokens(await log_in(client, "alice", alice.password), "alice")
    # Issued in an earlier second than the change: `iat` has whole seconds.
    await asyncio.sleep(1.1)

    changed = assert_tokens(await change_password(client, phone["access_token"], alice.password), "alice")

    # The other device, and the phone's own earlier pair, no longer work at all.
    for old in (phone, laptop):
        assert_problem(
            await client.get("/v1/me", headers=bearer(old["access_token"])), 401, "not_authenticated"
        )
        assert_problem(await refresh(client, old["refresh_token"]), 401, "invalid_refresh_token")
    # The answer's pair does, and only the new password logs in.
    assert (await me(client, bearer(changed["access_token"])))["username"] == "alice"
    assert_tokens(await refresh(client, changed["refresh_token"]), "alice")
    assert_problem(await log_in(client, "alice", alice.password), 401, "invalid_credentials")
    assert_tokens(await log_in(client, "alice", NEW_PASSWORD), "alice")


async def test_a_wrong_current_password_changes_nothing(client, users):
    alice = await users.create("alice")

    refused = await change_password(client, alice.access_token, "not-the-password")

    assert_problem(refused, 403, "password_incorrect")
    assert (await me(client, alice.headers))["username"] == "alice"
    assert_tokens(await refresh(client, alice.refresh_token), "alice")
    assert_tokens(await log_in(client, "alice", alice.password), "alice")
    assert_problem(await log_in(client, "alice", NEW_PASSWORD), 401, "invalid_credentials")


async def test_the_new_password_follows_the_sign_up_rules(client, users):
    alice = await users.create("alice")

    short = await change_password(client, alice.access_token, alice.password, new="short")
    missing = await client.post("/v1/me/password", headers=alice.headers, json={"new_password": NEW_PASSWORD})
    extra = await client.post(
        "/v1/me/password",
        headers=alice.headers,
        json={"current_password": alice.password, "new_password": NEW_PASSWORD, "role": "admin"},
    )

    assert error_fields(assert_problem(short, 422)) == {"new_password"}
    assert error_fields(assert_problem(missing, 422)) == {"current_password"}
    assert "role" in error_fields(assert_problem(extra, 422))
    assert_tokens(await log_in(client, "alice", alice.password), "alice")


async def test_guessing_the_current_password_spends_the_login_budget(servers, tmp_path, users):
    alice = await users.create("alice")
    async with tight_app(servers, tmp_path, login_rate_limit="2/minute") as tight:
        guesses = [await change_password(tight, alice.access_token, f"guess-{n}") for n in range(2)]
        # The right password no longer helps, here or at the login.
        blocked = await change_password(tight, alice.access_token, alice.password)
        login = await log_in(tight, "alice", alice.password)

    for guess in guesses:
        assert_problem(guess, 403, "password_incorrect")
    assert_problem(blocked, 429, "rate_limited")
    assert_problem(login, 429, "rate_limited")


async def test_a_rotation_held_up_mid_way_is_revoked_by_the_change(client, users, resources):
    alice = await users.create("alice")
    other = assert_tokens(await log_in(client, "alice", alice.password), "alice")
    own = assert_tokens(await log_in(client, "alice", alice.password), "alice")

    async with resources.engine.connect() as holder:
        # The rotation's new token checks its user exists (a key-share lock): holding the user row
        # stops the rotation there, its old token already locked and marked rotated.
        await holder.execute(text("SELECT 1 FROM users WHERE id = :id FOR UPDATE"), {"id": alice.id})
        rotating = asyncio.create_task(refresh(client, other["refresh_token"]))
        await someone_waits_for_a_lock(resources)
        changing = asyncio.create_task(change_password(client, own["access_token"], alice.password))
        await someone_waits_for_a_lock(resources, at_least=2)
        await holder.rollback()
        rotated, changed = await rotating, await changing

    assert_tokens(changed, "alice")
    # The token the rotation issued was revoked with the rest, not left out of the change's sight.
    assert_problem(await refresh(client, assert_tokens(rotated, "alice")["refresh_token"]), 401)


async def test_a_login_checked_before_a_change_commits_is_refused(client, users, resources):
    alice = await users.create("alice")
    async with resources.engine.connect() as holder:
        # Stands for a password change under way, which holds the account's sessions lock: the
        # login has checked the old password and waits for it before issuing anything.
        await holder.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(f"sessions:{alice.id}")}
        )
        logging_in = asyncio.create_task(log_in(client, "alice", alice.password))
        await someone_waits_for_a_lock(resources)
        await holder.execute(
            text("UPDATE users SET password_hash = 'changed', password_changed_at = now() WHERE id = :id"),
            {"id": alice.id},
        )
        await holder.commit()
        response = await logging_in

    # Its session would have outlived the change that was to end every other one.
    assert_problem(response, 401, "invalid_credentials")


async def test_a_change_checked_before_another_change_commits_is_refused(client, users, resources):
    """Two changes by the old password, such as an intruder's racing the owner's: the one that
    checked it before the other committed is refused, rather than setting its own password after
    the owner's change (which was to sign it out) and ending the owner's new session."""
    alice = await users.create("alice")
    async with resources.engine.connect() as holder:
        # Stands for the owner's change under way, holding the account's sessions lock: the other
        # has checked the old password (against the hash read with its caller) and waits for it.
        await holder.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(f"sessions:{alice.id}")}
        )
        changing = asyncio.create_task(change_password(client, alice.access_token, alice.password))
        await someone_waits_for_a_lock(resources)
        await holder.execute(
            text("UPDATE users SET password_hash = 'changed', password_changed_at = now() WHERE id = :id"),
            {"id": alice.id},
        )
        await holder.commit()
        response = await changing

    assert_problem(response, 401, "not_authenticated")
    # The owner's password stands: the late change's is not the account's.
    assert_problem(await log_in(client, "alice", NEW_PASSWORD), 401, "invalid_credentials")


async def test_a_change_waiting_for_the_accounts_deletion_is_refused(client, users, resources):
    """A change checked before the account's deletion committed writes no password to its
    tombstone (the deletion made it unusable) and opens no session on it."""
    alice = await users.create("alice")
    async with resources.engine.connect() as holder:
        # Stands for the deletion under way, which holds the account's sessions lock.
        await holder.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(f"sessions:{alice.id}")}
        )
        changing = asyncio.create_task(change_password(client, alice.access_token, alice.password))
        await someone_waits_for_a_lock(resources)
        await holder.execute(
            text("UPDATE users SET password_hash = '!', deleted_at = now() WHERE id = :id"), {"id": alice.id}
        )
        await holder.commit()
        response = await changing

    assert_problem(response, 401, "not_authenticated")
    async with resources.engine.connect() as reader:
        stored_hash = await reader.scalar(
            text("SELECT password_hash FROM users WHERE id = :id"), {"id": alice.id}
        )
    assert stored_hash == "!"
