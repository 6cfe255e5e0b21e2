"""A user's logins (devices signed in): listed latest used first with the current one marked, ended
one at a time or all but the current one; an ended login refreshes no more and its access tokens
are refused at once; nobody sees or ends another's."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import text

from accounts.devices import UNKNOWN_DEVICE, device_label
from accounts.jobs import prune_ended_sessions, purge_expired_refresh_tokens
from app.security import SigningKeys, encode_access_token
from tests.accounts.helpers import assert_problem, bearer, me, sign_up
from tests.accounts.test_tokens import assert_tokens, refresh
from tests.conftest import TEST_SECRET
from tests.locks import someone_waits_for_a_lock

IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


async def log_in_from(client: httpx.AsyncClient, username: str, password: str, user_agent: str) -> dict:
    response = await client.post(
        "/v1/auth/token",
        json={"login": username, "password": password},
        headers={"User-Agent": user_agent},
    )
    return assert_tokens(response, username)


async def sessions(client: httpx.AsyncClient, access_token: str, **params: Any) -> list[dict]:
    """Every login the token's user has, one page of 100."""
    response = await client.get(
        "/v1/me/sessions", headers=bearer(access_token), params={"limit": 100, **params}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None, body
    items: list[dict] = body["items"]
    return items


async def listed_ids(client: httpx.AsyncClient, access_token: str) -> list[str]:
    return [item["id"] for item in await sessions(client, access_token)]


async def assert_signed_out(client: httpx.AsyncClient, tokens: dict) -> None:
    """Neither the access token nor the refresh token of the pair works any more."""
    assert_problem(
        await client.get("/v1/me", headers=bearer(tokens["access_token"])), 401, "not_authenticated"
    )
    assert_problem(await refresh(client, tokens["refresh_token"]), 401, "invalid_refresh_token")


def login_of(access_token: str) -> str:
    """The login (`sid`) an access token says it was issued from."""
    sid: str = jwt.decode(access_token, options={"verify_signature": False})["sid"]
    return sid


async def end(client: httpx.AsyncClient, access_token: str, session_id: str) -> httpx.Response:
    return await client.delete(f"/v1/me/sessions/{session_id}", headers=bearer(access_token))


async def end_others(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await client.delete("/v1/me/sessions", headers=bearer(access_token))


async def test_the_list_shows_every_login_latest_used_first_with_the_current_one(client, users):
    alice = await users.create("alice")  # a login of its own, from no User-Agent
    phone = await log_in_from(client, "alice", alice.password, IPHONE_SAFARI)
    laptop = await log_in_from(client, "alice", alice.password, WINDOWS_CHROME)
    # The phone refreshes: the latest used again, its login time kept.
    before = datetime.now(UTC)
    phone = assert_tokens(await refresh(client, phone["refresh_token"]), "alice")
    # A login that logged out is not listed.
    gone = await log_in_from(client, "alice", alice.password, "okhttp/4.12.0")
    logout = await client.post("/v1/auth/logout", json={"refresh_token": gone["refresh_token"]})
    assert logout.status_code == 204, logout.text

    listed = await sessions(client, phone["access_token"])

    assert [item["id"] for item in listed] == [
        login_of(phone["access_token"]),
        login_of(laptop["access_token"]),
        login_of(alice.access_token),
    ]
    assert [item["device"] for item in listed] == ["Safari on iOS", "Chrome on Windows", UNKNOWN_DEVICE]
    assert [item["current"] for item in listed] == [True, False, False]
    phone_login, laptop_login, _ = listed
    assert datetime.fromisoformat(phone_login["last_used_at"]) >= before
    assert datetime.fromisoformat(phone_login["created_at"]) < before
    assert phone_login["created_at"] < laptop_login["created_at"]
    assert laptop_login["created_at"] == laptop_login["last_used_at"]
    assert set(phone_login) == {"id", "created_at", "last_used_at", "device", "current"}
    # From another device, that one is current.
    assert [item["current"] for item in await sessions(client, laptop["access_token"])] == [
        False,
        True,
        False,
    ]


async def test_the_list_comes_in_pages(client, users):
    alice = await users.create("alice")
    for _ in range(2):
        await log_in_from(client, "alice", alice.password, WINDOWS_CHROME)

    seen: list[str] = []
    cursor = None
    for _ in range(3):
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/me/sessions", headers=alice.headers, params=params)
        assert response.status_code == 200, response.text
        seen += [item["id"] for item in response.json()["items"]]
        cursor = response.json()["next_cursor"]
    assert cursor is None
    assert seen == [item["id"] for item in await sessions(client, alice.access_token)]
    assert len(set(seen)) == 3
    # One user's cursor is not another's.
    bob = await users.create("bob")
    first = await client.get("/v1/me/sessions", headers=alice.headers, params={"limit": 1})
    foreign = await client.get(
        "/v1/me/sessions", headers=bob.headers, params={"cursor": first.json()["next_cursor"]}
    )
    assert_problem(foreign, 400, "invalid_cursor")


async def test_sign_up_and_a_password_change_are_logins_from_their_device(client, users):
    inviter = await users.create("inviter")
    signed_up = await client.post(
        "/v1/auth/signup",
        json={
            "email": "carol@example.test",
            "password": "carol's passphrase",
            "username": "carol",
            "birthdate": "1990-01-15",
            "invite_code": inviter.invite_code,
        },
        headers={"User-Agent": IPHONE_SAFARI},
    )
    assert signed_up.status_code == 201, signed_up.text
    carol = signed_up.json()
    laptop = await log_in_from(client, "carol", "carol's passphrase", WINDOWS_CHROME)

    assert [(item["device"], item["current"]) for item in await sessions(client, carol["access_token"])] == [
        ("Chrome on Windows", False),
        ("Safari on iOS", True),
    ]

    changed = await client.post(
        "/v1/me/password",
        headers={**bearer(laptop["access_token"]), "User-Agent": WINDOWS_CHROME},
        json={"current_password": "carol's passphrase", "new_password": "a brand new passphrase"},
    )
    changed_tokens = assert_tokens(changed, "carol")

    # Every other login ended with the change; the pair it answered is a login of its own.
    [left] = await sessions(client, changed_tokens["access_token"])
    assert (left["id"], left["device"], left["current"]) == (
        login_of(changed_tokens["access_token"]),
        "Chrome on Windows",
        True,
    )


async def test_ending_a_session_signs_that_device_out_at_once(client, users):
    alice = await users.create("alice")
    phone = await log_in_from(client, "alice", alice.password, IPHONE_SAFARI)
    laptop = await log_in_from(client, "alice", alice.password, WINDOWS_CHROME)

    ended = await end(client, laptop["access_token"], login_of(phone["access_token"]))

    assert ended.status_code == 204, ended.text
    # The phone's access token is refused now, not when it expires, and its refresh token too.
    assert_problem(
        await client.get("/v1/me", headers=bearer(phone["access_token"])), 401, "not_authenticated"
    )
    assert_problem(await refresh(client, phone["refresh_token"]), 401, "invalid_refresh_token")
    # The other logins go on.
    assert [item["id"] for item in await sessions(client, laptop["access_token"])] == [
        login_of(laptop["access_token"]),
        login_of(alice.access_token),
    ]
    assert (await me(client, alice.headers))["username"] == "alice"
    assert_tokens(await refresh(client, laptop["refresh_token"]), "alice")
    # Ending it again changes nothing.
    again = await end(client, alice.access_token, login_of(phone["access_token"]))
    assert again.status_code == 204, again.text


async def test_ending_the_current_session_signs_this_device_out(client, users):
    alice = await users.create("alice")
    phone = await log_in_from(client, "alice", alice.password, IPHONE_SAFARI)

    ended = await end(client, phone["access_token"], login_of(phone["access_token"]))

    assert ended.status_code == 204, ended.text
    assert_problem(
        await client.get("/v1/me", headers=bearer(phone["access_token"])), 401, "not_authenticated"
    )
    assert_problem(await refresh(client, phone["refresh_token"]), 401, "invalid_refresh_token")
    assert [item["id"] for item in await sessions(client, alice.access_token)] == [
        login_of(alice.access_token)
    ]


async def test_ending_every_other_session_keeps_this_one(client, users):
    alice = await users.create("alice")
    phone = await log_in_from(client, "alice", alice.password, IPHONE_SAFARI)
    laptop = await log_in_from(client, "alice", alice.password, WINDOWS_CHROME)
    bob = await users.create("bob")

    ended = await end_others(client, phone["access_token"])

    assert ended.status_code == 204, ended.text
    for other in (laptop, {"access_token": alice.access_token, "refresh_token": alice.refresh_token}):
        await assert_signed_out(client, other)
    [left] = await sessions(client, phone["access_token"])
    assert (left["id"], left["current"]) == (login_of(phone["access_token"]), True)
    assert_tokens(await refresh(client, phone["refresh_token"]), "alice")
    # Someone else's logins are none of it.
    assert (await me(client, bob.headers))["username"] == "bob"
    assert_tokens(await refresh(client, bob.refresh_token), "bob")


async def test_nobody_sees_or_ends_another_users_session(client, users):
    alice = await users.create("alice")
    bob = await users.create("bob")
    alices = login_of(alice.access_token)

    listed = await sessions(client, bob.access_token)

    assert [item["id"] for item in listed] == [login_of(bob.access_token)]
    for session_id in (alices, str(uuid.uuid4()), "not-a-session-id", "x" * 300):
        assert_problem(await end(client, bob.access_token, session_id), 404, "session_not_found")
    assert (await me(client, alice.headers))["username"] == "alice"
    assert_tokens(await refresh(client, alice.refresh_token), "alice")


async def test_an_expired_login_is_not_listed(client, users, resources):
    alice = await users.create("alice")
    laptop = await log_in_from(client, "alice", alice.password, WINDOWS_CHROME)
    async with resources.engine.begin() as connection:
        await connection.execute(
            text("UPDATE login_sessions SET expires_at = :past WHERE id = :id"),
            {
                "past": datetime.now(UTC) - timedelta(seconds=1),
                "id": uuid.UUID(login_of(laptop["access_token"])),
            },
        )

    assert [item["id"] for item in await sessions(client, alice.access_token)] == [
        login_of(alice.access_token)
    ]


async def test_a_reused_refresh_token_ends_its_login_and_its_access_tokens(client, users):
    alice = await users.create("alice")
    phone = await log_in_from(client, "alice", alice.password, IPHONE_SAFARI)
    rotated = assert_tokens(await refresh(client, phone["refresh_token"]), "alice")

    # The old token comes back: someone holds a copy, and every token of that login ends.
    assert_problem(await refresh(client, phone["refresh_token"]), 401, "invalid_refresh_token")

    assert_problem(
        await client.get("/v1/me", headers=bearer(rotated["access_token"])), 401, "not_authenticated"
    )
    assert [item["id"] for item in await sessions(client, alice.access_token)] == [
        login_of(alice.access_token)
    ]


async def test_an_access_token_from_before_logins_were_tracked(client, users):
    alice = await users.create("alice")
    # Issued by the older code: no `sid`. It still works until it expires, is no login's.
    old, _ = encode_access_token(SigningKeys(TEST_SECRET), alice.id, "user", 600)

    assert (await me(client, bearer(old)))["username"] == "alice"
    assert [item["current"] for item in await sessions(client, old)] == [False]
    # Which login to keep is not known: refused, and nothing ended, rather than ending them all.
    assert_problem(await end_others(client, old), 401, "session_unknown")
    assert (await me(client, alice.headers))["username"] == "alice"
    # One login can be ended all the same.
    assert (await end(client, old, login_of(alice.access_token))).status_code == 204
    assert_problem(await client.get("/v1/me", headers=alice.headers), 401, "not_authenticated")


@pytest.mark.parametrize("ending", ["that session", "the others"])
async def test_a_rotation_held_up_mid_way_is_revoked_by_ending_its_session(client, users, resources, ending):
    alice = await users.create("alice")
    other = await log_in_from(client, "alice", alice.password, IPHONE_SAFARI)
    own = await log_in_from(client, "alice", alice.password, WINDOWS_CHROME)

    async with resources.engine.connect() as holder:
        # The rotation's new token checks its user exists (a key-share lock): holding the user row
        # stops the rotation there, its old token already locked and marked rotated.
        await holder.execute(text("SELECT 1 FROM users WHERE id = :id FOR UPDATE"), {"id": alice.id})
        rotating = asyncio.create_task(refresh(client, other["refresh_token"]))
        await someone_waits_for_a_lock(resources)
        if ending == "that session":
            ending_it = asyncio.create_task(end(client, own["access_token"], login_of(other["access_token"])))
        else:
            ending_it = asyncio.create_task(end_others(client, own["access_token"]))
        await someone_waits_for_a_lock(resources, at_least=2)
        await holder.rollback()
        rotated, ended = await rotating, await ending_it

    assert ended.status_code == 204, ended.text
    # The pair the rotation issued ended with its login, not left out of the ending's sight.
    issued = assert_tokens(rotated, "alice")
    assert_problem(await refresh(client, issued["refresh_token"]), 401, "invalid_refresh_token")
    assert_problem(
        await client.get("/v1/me", headers=bearer(issued["access_token"])), 401, "not_authenticated"
    )
    assert [item["id"] for item in await sessions(client, own["access_token"])][:1] == [
        login_of(own["access_token"])
    ]


@pytest.mark.parametrize(
    ("user_agent", "label"),
    [
        (IPHONE_SAFARI, "Safari on iOS"),
        (WINDOWS_CHROME, "Chrome on Windows"),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.4 Safari/605.1.15",
            "Safari on macOS",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "Firefox on Linux"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
            "Edge on Windows",
        ),
        ("remixfeed-ios/2.1 (iPhone; iOS 17.4)", "remixfeed-ios on iOS"),
        ("okhttp/4.12.0", "okhttp"),
        ("", UNKNOWN_DEVICE),
        (None, UNKNOWN_DEVICE),
        ("\x00\x1b[31m<script>", UNKNOWN_DEVICE),
        ("A" * 5000, UNKNOWN_DEVICE),
    ],
)
def test_device_labels(user_agent, label):
    assert device_label(user_agent) == label


async def test_the_device_label_is_short_whatever_the_user_agent(client, users):
    inviter = await users.create("inviter")
    response = await sign_up(client, "dave", inviter.invite_code)
    assert response.status_code == 201, response.text
    odd = "Z" * 40 + "/1 (iPhone) " + "x" * 8000

    tokens = await log_in_from(client, "dave", "s3cret-pass", odd)

    labels = {item["device"] for item in await sessions(client, tokens["access_token"])}
    assert labels == {"python-httpx", "Z" * 40 + " on iOS"}


async def test_the_purge_of_expired_tokens_leaves_their_logins_to_the_session_retention(
    client, users, resources
):
    alice = await users.create("alice")
    laptop = await log_in_from(client, "alice", alice.password, WINDOWS_CHROME)
    laptop_login = login_of(laptop["access_token"])

    async def expire(days: int) -> None:
        past = {"past": datetime.now(UTC) - timedelta(days=days), "id": laptop_login}
        async with resources.engine.begin() as connection:
            await connection.execute(
                text("UPDATE login_sessions SET expires_at = :past WHERE id = :id"), past
            )
            await connection.execute(
                text("UPDATE refresh_tokens SET expires_at = :past WHERE family_id = :id"), past
            )

    await expire(days=2)
    assert await purge_expired_refresh_tokens(resources) == 1
    # The login stays, no longer listed, until REMIXFEED_SESSION_RETENTION_DAYS after it expired:
    # ending it is still 204.
    assert await prune_ended_sessions(resources) == 0
    assert await listed_ids(client, alice.access_token) == [login_of(alice.access_token)]
    assert (await end(client, alice.access_token, laptop_login)).status_code == 204

    await expire(days=31)
    assert await prune_ended_sessions(resources) == 1

    async with resources.engine.connect() as connection:
        left = (await connection.execute(text("SELECT id FROM login_sessions"))).scalars().all()
    assert [str(login) for login in left] == [login_of(alice.access_token)]
    # An access token of a login purged is refused, as one of a login ended.
    assert_problem(
        await client.get("/v1/me", headers=bearer(laptop["access_token"])), 401, "not_authenticated"
    )
    assert_problem(await end(client, alice.access_token, laptop_login), 404, "session_not_found")
