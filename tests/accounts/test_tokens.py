"""Login, refresh-token rotation and reuse detection, logout, bearer tokens and rate limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from accounts.passwords import HashingTurn
from app.factory import create_app
from tests.accounts.helpers import PASSWORD, assert_problem, available, bearer, me, sign_up
from tests.conftest import TEST_SECRET, make_settings, serve_in_process

RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


async def log_in(client: httpx.AsyncClient, login: str, password: str) -> httpx.Response:
    return await client.post("/v1/auth/token", json={"login": login, "password": password})


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/v1/auth/refresh", json={"refresh_token": token})


def assert_tokens(response: httpx.Response, username: str) -> dict:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["username"] == username
    assert body["token_type"] == "bearer"
    assert body["access_token"]
    assert body["refresh_token"]
    assert isinstance(body["expires_in"], int)
    assert body["expires_in"] > 0
    return body


@asynccontextmanager
async def tight_app(servers, tmp_path, **limits: str) -> AsyncIterator[httpx.AsyncClient]:
    """A second app on the same database and Redis namespace, with the given rate limits."""
    app = create_app(make_settings(servers, tmp_path, **limits))
    async with serve_in_process(app) as http:
        yield http


# --- login ----------------------------------------------------------------------------------


async def test_login_by_username(client, users):
    alice = await users.create("alice")

    body = assert_tokens(await log_in(client, "alice", alice.password), "alice")

    assert (await me(client, bearer(body["access_token"])))["id"] == alice.id
    # The new refresh token belongs to a working session.
    assert_tokens(await refresh(client, body["refresh_token"]), "alice")


async def test_login_by_email_is_case_insensitive(client, users):
    alice = await users.create("alice", email="alice@example.test")

    body = assert_tokens(await log_in(client, "Alice@EXAMPLE.test", alice.password), "alice")

    assert (await me(client, bearer(body["access_token"])))["username"] == "alice"


async def test_login_by_an_email_whose_lower_case_differs_in_python(client, users):
    # Python lower-cases Greek capital sigma-alpha-sigma with a final sigma, PostgreSQL with a plain
    # one: the login compared one with the other and refused the right password (401).
    upper, lower = "\u03a3\u0391\u03a3", "\u03c3\u03b1\u03c3"
    alice = await users.create("alice")
    response = await sign_up(client, "sigma", alice.invite_code, email=f"{upper}@example.test")
    assert response.status_code == 201, response.text

    for login in (f"{upper}@example.test", f"{lower}@EXAMPLE.test"):
        assert_tokens(await log_in(client, login, PASSWORD), "sigma")


async def test_wrong_password_and_unknown_user_answer_identically(client, users):
    alice = await users.create("alice")

    wrong_password = await log_in(client, "alice", alice.password + "x")
    unknown_user = await log_in(client, "nobody", alice.password)
    unknown_email = await log_in(client, "nobody@example.test", alice.password)

    body = assert_problem(wrong_password, 401, "invalid_credentials")
    for other in (unknown_user, unknown_email):
        assert other.status_code == wrong_password.status_code
        assert other.headers["content-type"] == wrong_password.headers["content-type"]
        assert other.json() == body


# --- refresh rotation and reuse -------------------------------------------------------------


async def test_refresh_rotates_the_pair(client, users):
    alice = await users.create("alice")

    first = assert_tokens(await refresh(client, alice.refresh_token), "alice")
    assert first["refresh_token"] != alice.refresh_token
    assert (await me(client, bearer(first["access_token"])))["id"] == alice.id

    # The new refresh token works once more, giving yet another pair.
    second = assert_tokens(await refresh(client, first["refresh_token"]), "alice")
    assert second["refresh_token"] not in (alice.refresh_token, first["refresh_token"])

    # The rotated one no longer works.
    assert_problem(await refresh(client, first["refresh_token"]), 401)


async def test_reusing_a_rotated_refresh_token_revokes_the_family(client, users):
    alice = await users.create("alice")
    # A second, independent login of the same user.
    other_session = assert_tokens(await log_in(client, "alice", alice.password), "alice")

    first = assert_tokens(await refresh(client, alice.refresh_token), "alice")
    newest = assert_tokens(await refresh(client, first["refresh_token"]), "alice")

    reuse = await refresh(client, alice.refresh_token)
    assert_problem(reuse, 401)

    # The revocation stands although the reuse was answered with an error: the newest token of
    # the family is dead too.
    assert_problem(await refresh(client, newest["refresh_token"]), 401)
    assert_problem(await refresh(client, first["refresh_token"]), 401)
    # Another login's family is untouched.
    assert_tokens(await refresh(client, other_session["refresh_token"]), "alice")


async def test_a_reuse_revokes_the_token_a_rotation_in_flight_issues(client, users):
    alice = await users.create("alice")
    for _ in range(5):
        login = assert_tokens(await log_in(client, "alice", alice.password), "alice")
        current = assert_tokens(await refresh(client, login["refresh_token"]), "alice")["refresh_token"]

        # The current token is rotated while the used one comes back: whichever commits first,
        # the family ends revoked, including the token the rotation issued.
        rotated, reused = await asyncio.gather(
            refresh(client, current), refresh(client, login["refresh_token"])
        )

        assert_problem(reused, 401)
        if rotated.status_code == 200:
            assert_problem(await refresh(client, rotated.json()["refresh_token"]), 401)
        else:
            assert_problem(rotated, 401)


async def test_unknown_refresh_token_is_401(client):
    assert_problem(await refresh(client, "not-a-refresh-token"), 401)


async def test_logout_ends_the_refresh_token(client, users):
    alice = await users.create("alice")
    rotated = assert_tokens(await refresh(client, alice.refresh_token), "alice")

    response = await client.post("/v1/auth/logout", json={"refresh_token": rotated["refresh_token"]})

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_problem(await refresh(client, rotated["refresh_token"]), 401)
    # Idempotent, and an unknown token is no error either.
    again = await client.post("/v1/auth/logout", json={"refresh_token": rotated["refresh_token"]})
    assert again.status_code == 204
    unknown = await client.post("/v1/auth/logout", json={"refresh_token": "never-issued"})
    assert unknown.status_code == 204


@pytest.mark.parametrize("content_type", [None, "application/json"], ids=["no type", "json"])
async def test_logout_without_a_body_says_it_needs_the_refresh_token(client, users, content_type):
    """The contract's logout takes the refresh token (API.md); a body-less logout answered a field
    `data` with the message `'data'`, which told the client nothing."""
    alice = await users.create("alice")
    headers = bearer(alice.access_token) | ({"content-type": content_type} if content_type else {})

    response = await client.post("/v1/auth/logout", content=b"", headers=headers)

    problem = assert_problem(response, 422, "validation_failed")
    assert problem["detail"] == 'This request needs a JSON body: {"refresh_token": ...}'
    assert [error["field"] for error in problem["errors"]] == ["refresh_token"]
    # A body of JSON null is named the body, not the handler's parameter `data`.
    null = await client.post("/v1/auth/logout", content=b"null", headers=headers)
    assert [error["field"] for error in assert_problem(null, 422, "validation_failed")["errors"]] == ["body"]
    # The access token alone ends no login.
    assert_tokens(await refresh(client, alice.refresh_token), "alice")


# --- bearer tokens --------------------------------------------------------------------------


def signed_access_token(subject: str, *, secret: str = TEST_SECRET, expired: bool = False) -> str:
    now = datetime.now(UTC)
    issued = now - timedelta(hours=2) if expired else now
    payload = {
        "sub": subject,
        "role": "user",
        "iat": issued,
        "nbf": issued,
        "exp": issued + timedelta(minutes=15),
        "iss": "remixfeed",
        "aud": "remixfeed-api",
        "typ": "access",
    }
    return jwt.encode(payload, secret, algorithm="HS256")


async def test_well_formed_self_signed_token_is_accepted(client, users):
    # Guards the bad-token cases below: the same claims, fresh and correctly signed, do work.
    alice = await users.create("alice")

    assert (await me(client, bearer(signed_access_token(alice.id))))["id"] == alice.id


@pytest.mark.parametrize(
    "case",
    ["missing", "empty", "garbage", "basic-scheme", "expired", "wrong-secret", "refresh-token"],
)
async def test_bad_bearer_tokens_are_401(client, users, case):
    alice = await users.create("alice")
    headers = {
        "missing": {},
        "empty": {"Authorization": "Bearer "},
        "garbage": bearer("garbage.token.here"),
        "basic-scheme": {"Authorization": "Basic YWxpY2U6cGFzcw=="},
        "expired": bearer(signed_access_token(alice.id, expired=True)),
        "wrong-secret": bearer(signed_access_token(alice.id, secret="another-secret-that-is-long-enough-xx")),
        "refresh-token": bearer(alice.refresh_token),
    }[case]

    response = await client.get("/v1/me", headers=headers)

    assert_problem(response, 401)


NEW_SECRET = "the-key-after-a-scheduled-rotation-0123456789"


def signed_with(token: str, secret: str) -> bool:
    try:
        jwt.decode(token, secret, algorithms=["HS256"], audience="remixfeed-api", issuer="remixfeed")
    except jwt.InvalidSignatureError:
        return False
    return True


async def test_a_key_rotation_keeps_earlier_access_tokens_working_while_the_old_key_is_listed(
    servers, tmp_path, users
):
    """REMIXFEED_PREVIOUS_SECRET_KEYS: access tokens signed before a rotation stay good until they
    expire (no refresh storm as every client is signed out at once); new ones carry the new key;
    once the old key is dropped, its tokens are 401 and a refresh token (not signed) still works."""
    alice = await users.create("alice")
    rotated = make_settings(
        servers, tmp_path, secret_key=NEW_SECRET, previous_secret_keys=f" {TEST_SECRET} ,"
    )
    async with serve_in_process(create_app(rotated)) as http:
        assert (await me(http, alice.headers))["id"] == alice.id
        never_listed = signed_access_token(alice.id, secret="a-key-nobody-listed-0123456789abcdef")
        assert_problem(await http.get("/v1/me", headers=bearer(never_listed)), 401)
        expired = signed_access_token(alice.id, expired=True)
        assert_problem(await http.get("/v1/me", headers=bearer(expired)), 401)
        fresh = assert_tokens(await log_in(http, "alice", alice.password), "alice")
        assert signed_with(fresh["access_token"], NEW_SECRET)
        assert not signed_with(fresh["access_token"], TEST_SECRET)

    dropped = make_settings(servers, tmp_path, secret_key=NEW_SECRET)
    async with serve_in_process(create_app(dropped)) as http:
        assert_problem(await http.get("/v1/me", headers=alice.headers), 401)
        assert (await me(http, bearer(fresh["access_token"])))["id"] == alice.id
        renewed = assert_tokens(await refresh(http, alice.refresh_token), "alice")
        assert (await me(http, bearer(renewed["access_token"])))["id"] == alice.id


# --- rate limits ----------------------------------------------------------------------------


def assert_rate_headers(response: httpx.Response, limit: int, remaining: int) -> None:
    for name in RATE_HEADERS:
        assert name in response.headers, (name, response.headers)
    assert response.headers["RateLimit-Limit"] == str(limit)
    assert response.headers["RateLimit-Remaining"] == str(remaining)
    assert int(response.headers["RateLimit-Reset"]) > 0


def assert_rate_limited(response: httpx.Response, limit: int, window_seconds: int) -> None:
    assert_problem(response, 429, "rate_limited")
    assert_rate_headers(response, limit, 0)
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= window_seconds
    assert int(response.headers["RateLimit-Reset"]) <= window_seconds


async def test_signup_rate_limit(servers, tmp_path, client, users):
    alice = await users.create("alice")
    async with tight_app(servers, tmp_path, signup_rate_limit="2/hour") as tight:
        first = await sign_up(tight, "rl_one", alice.invite_code)
        second = await sign_up(tight, "rl_two", alice.invite_code)
        third = await sign_up(tight, "rl_three", alice.invite_code)

    assert first.status_code == 201, first.text
    assert_rate_headers(first, 2, 1)
    assert second.status_code == 201, second.text
    assert_rate_headers(second, 2, 0)
    assert_rate_limited(third, 2, 3600)
    assert (await available(client, "rl_three"))["available"] is True


async def test_token_rate_limit_per_address(servers, tmp_path, users):
    alice = await users.create("alice")
    await users.create("bob")
    async with tight_app(servers, tmp_path, token_rate_limit="2/minute") as tight:
        first = await log_in(tight, "alice", alice.password)
        second = await log_in(tight, "bob", PASSWORD + "wrong")
        third = await log_in(tight, "alice", alice.password)

    assert_tokens(first, "alice")
    assert_rate_headers(first, 2, 1)
    assert_problem(second, 401, "invalid_credentials")
    assert_rate_headers(second, 2, 0)
    assert_rate_limited(third, 2, 60)


async def spend_login_budget(tight: httpx.AsyncClient) -> list[httpx.Response]:
    """Two wrong guesses for alice on an app allowing 2 logins a minute per login."""
    return [await log_in(tight, "alice", f"guess-{n}") for n in range(2)]


async def test_login_rate_limit_per_login(servers, tmp_path, users):
    alice = await users.create("alice")
    bob = await users.create("bob")
    async with tight_app(servers, tmp_path, login_rate_limit="2/minute") as tight:
        guesses = await spend_login_budget(tight)
        # The right password no longer helps once this login's guesses are spent...
        blocked = await log_in(tight, "alice", alice.password)
        # ...and the same login spelled differently counts against the same budget.
        blocked_upper = await log_in(tight, " ALICE ", alice.password)
        # Another login is not affected.
        other = await log_in(tight, "bob", bob.password)

    for guess in guesses:
        assert_problem(guess, 401, "invalid_credentials")
    for refused in (blocked, blocked_upper):
        assert_problem(refused, 429, "rate_limited")
        assert 0 < int(refused.headers["Retry-After"]) <= 60
        for name in RATE_HEADERS:
            assert name in refused.headers, (name, refused.headers)
    assert_tokens(other, "bob")


async def test_login_rate_limit_counts_the_account_whichever_name_is_typed(servers, tmp_path, users):
    """Username and email were counted apart: alternating them gave twice the guesses."""
    alice = await users.create("alice")
    async with tight_app(servers, tmp_path, login_rate_limit="2/minute") as tight:
        guesses = [await log_in(tight, "alice", "guess-1"), await log_in(tight, alice.email, "guess-2")]
        by_username = await log_in(tight, "alice", alice.password)
        by_email = await log_in(tight, alice.email.upper(), alice.password)
        # A name with no account has a budget of its own name, refused the same way.
        nobody = [await log_in(tight, "nobody", f"guess-{n}") for n in range(2)]
        nobody_refused = await log_in(tight, " NoBody ", "guess-3")

    for guess in [*guesses, *nobody]:
        assert_problem(guess, 401, "invalid_credentials")
    for refused in (by_username, by_email, nobody_refused):
        assert_rate_limited(refused, 2, 60)
    assert by_username.json().keys() == nobody_refused.json().keys()
    assert by_username.headers.keys() - {"x-request-id"} == nobody_refused.headers.keys() - {"x-request-id"}


async def test_a_name_whose_login_budget_is_spent_is_refused_before_any_hashing(
    servers, tmp_path, users, monkeypatch
):
    """Counting only per account, after the hash, let a guessing attack from many addresses spend a
    password hash on every refused attempt."""
    alice = await users.create("alice")
    verified: list[str] = []
    real_verify = HashingTurn.verify

    async def counted_verify(self, password_hash, password):
        verified.append(password)
        return await real_verify(self, password_hash, password)

    monkeypatch.setattr(HashingTurn, "verify", counted_verify)
    async with tight_app(servers, tmp_path, login_rate_limit="2/minute") as tight:
        await spend_login_budget(tight)
        refused = [await log_in(tight, "alice", alice.password), await log_in(tight, "ALICE", "guess-3")]

    for response in refused:
        assert_rate_limited(response, 2, 60)
    assert verified == ["guess-0", "guess-1"]


async def test_login_rate_limit_refusal_headers_describe_the_login_limit(servers, tmp_path, users):
    alice = await users.create("alice")
    async with tight_app(servers, tmp_path, login_rate_limit="2/minute") as tight:
        await spend_login_budget(tight)
        refused = await log_in(tight, "alice", alice.password)

    # A 429 must not claim requests remain: its RateLimit-* headers describe the refusing limit.
    assert_rate_limited(refused, 2, 60)
