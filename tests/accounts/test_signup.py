"""POST /v1/auth/signup, invites, age rules, username rules and username availability."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime

import pytest

from tests.accounts.helpers import (
    PASSWORD,
    PROBLEM_JSON,
    assert_problem,
    available,
    bearer,
    error_fields,
    me,
    sign_up,
    years_ago,
)


async def invite_of(client, headers):
    response = await client.get("/v1/me/invite", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_signup_happy_path_returns_user_and_working_tokens(client, users):
    alice = await users.create("alice")

    response = await sign_up(
        client, "bob.smith_1", alice.invite_code, password="exactly8", display_name="Bob Smith"
    )

    assert response.status_code == 201, response.text
    body = response.json()
    user = body["user"]
    assert user["username"] == "bob.smith_1"
    assert user["display_name"] == "Bob Smith"
    assert user["role"] == "user"
    assert user["age_band"] == "adult"
    assert user["avatar_url"] is None
    assert (user["follower_count"], user["following_count"], user["post_count"]) == (0, 0, 0)
    assert isinstance(user["id"], str)
    assert user["id"]
    assert datetime.fromisoformat(user["created_at"].replace("Z", "+00:00")).utcoffset().total_seconds() == 0
    assert body["token_type"] == "bearer"
    assert isinstance(body["access_token"], str)
    assert body["access_token"]
    assert isinstance(body["refresh_token"], str)
    assert body["refresh_token"]
    assert isinstance(body["expires_in"], int)
    assert body["expires_in"] > 0

    mine = await me(client, bearer(body["access_token"]))
    assert mine["id"] == user["id"]
    assert mine["username"] == "bob.smith_1"
    # The new account is no longer available and got its own invite code.
    assert (await available(client, "bob.smith_1"))["available"] is False
    own_invite = await invite_of(client, bearer(body["access_token"]))
    assert re.fullmatch(r"[A-Z0-9]{6}", own_invite["code"])
    assert own_invite["code"] != alice.invite_code
    assert own_invite["redeemed_count"] == 0


async def test_signup_without_invite_is_refused_by_default(client):
    response = await sign_up(client, "noinvite", None)

    assert_problem(response, 422, "invite_invalid")
    assert (await available(client, "noinvite"))["available"] is True


async def test_signup_with_bogus_invite_is_refused(client, users):
    alice = await users.create("alice")
    bogus = "QQQQQ1" if alice.invite_code != "QQQQQ1" else "QQQQQ2"

    response = await sign_up(client, "bogus", bogus)

    body = assert_problem(response, 422, "invite_invalid")
    assert body["status"] == 422
    assert (await available(client, "bogus"))["available"] is True
    assert (await invite_of(client, alice.headers))["redeemed_count"] == 0


async def test_invite_counts_redemptions_and_is_exhausted_after_four(client, users):
    alice = await users.create("alice")
    invite = await invite_of(client, alice.headers)
    assert invite == {"code": alice.invite_code, "redeemed_count": 0, "total_count": 4}
    assert re.fullmatch(r"[A-Z0-9]{6}", invite["code"])

    for n in range(1, 5):
        response = await sign_up(client, f"invitee{n}", alice.invite_code)
        assert response.status_code == 201, response.text
        invite = await invite_of(client, alice.headers)
        assert invite["redeemed_count"] == n
        assert invite["total_count"] == 4

    response = await sign_up(client, "invitee5", alice.invite_code)

    assert_problem(response, 422, "invite_exhausted")
    assert (await invite_of(client, alice.headers))["redeemed_count"] == 4
    assert (await available(client, "invitee5"))["available"] is True


async def test_duplicate_username_is_a_conflict(client, users):
    alice = await users.create("alice")

    response = await sign_up(client, "alice", alice.invite_code, email="other-alice@signup.test")

    assert_problem(response, 409, "username_taken")
    # The refused sign-up spent no use of the invite.
    assert (await invite_of(client, alice.headers))["redeemed_count"] == 0


async def test_duplicate_email_in_another_case_is_a_conflict(client, users):
    alice = await users.create("alice", email="alice@example.test")

    response = await sign_up(client, "alice2", alice.invite_code, email="ALICE@Example.TEST")

    assert_problem(response, 409, "email_taken")
    assert (await available(client, "alice2"))["available"] is True


async def test_sign_ups_at_once_share_out_an_invites_last_use_and_a_name_once(client, users):
    alice = await users.create("alice")
    for n in range(3):
        assert (await sign_up(client, f"early{n}", alice.invite_code)).status_code == 201

    # One use left, three sign-ups for it; then two at once for one username, and for one email.
    last = await asyncio.gather(*(sign_up(client, f"late{n}", alice.invite_code) for n in range(3)))
    bob = await users.create("bob")
    same_name = await asyncio.gather(
        *(sign_up(client, "twin", bob.invite_code, email=f"twin{n}@signup.test") for n in range(2))
    )
    same_email = await asyncio.gather(
        *(sign_up(client, f"mail{n}", bob.invite_code, email="Same@signup.test") for n in range(2))
    )

    assert sorted(answer.status_code for answer in last) == [201, 422, 422]
    for answer in last:
        if answer.status_code == 422:
            assert_problem(answer, 422, "invite_exhausted")
    assert (await invite_of(client, alice.headers))["redeemed_count"] == 4
    assert sorted(answer.status_code for answer in same_name) == [201, 409]
    assert_problem(next(a for a in same_name if a.status_code == 409), 409, "username_taken")
    assert sorted(answer.status_code for answer in same_email) == [201, 409]
    assert_problem(next(a for a in same_email if a.status_code == 409), 409, "email_taken")
    # The refused ones spent no use of bob's invite.
    assert (await invite_of(client, bob.headers))["redeemed_count"] == 2


async def test_under_13_is_age_restricted(client, users):
    alice = await users.create("alice")

    response = await sign_up(
        client, "kid", alice.invite_code, birthdate=years_ago(13, plus_days=1).isoformat()
    )

    assert_problem(response, 403, "age_restricted")
    assert (await available(client, "kid"))["available"] is True
    assert (await invite_of(client, alice.headers))["redeemed_count"] == 0


@pytest.mark.parametrize(
    ("username", "birthdate", "band"),
    [
        ("just13", years_ago(13), "teen"),
        ("almost18", years_ago(18, plus_days=1), "teen"),
        ("just18", years_ago(18), "adult"),
    ],
)
async def test_age_band_from_birthdate(client, users, username, birthdate, band):
    alice = await users.create("alice")

    response = await sign_up(client, username, alice.invite_code, birthdate=birthdate.isoformat())

    assert response.status_code == 201, response.text
    assert response.json()["user"]["age_band"] == band
    assert (await me(client, bearer(response.json()["access_token"])))["age_band"] == band


async def test_future_birthdate_is_rejected(client, users):
    alice = await users.create("alice")

    response = await sign_up(client, "future", alice.invite_code, birthdate=years_ago(-1).isoformat())

    body = assert_problem(response, 422)
    assert "birthdate" in error_fields(body)
    assert (await available(client, "future"))["available"] is True


@pytest.mark.parametrize(
    "username",
    ["ab", "Alice", "al-ice", "al ice", "alice!", "émile", "a" * 31, "alice\n"],
    # A trailing newline once passed the `$`-anchored pattern (Python's `$` matches before a final
    # newline): the database's check refused it, answered as 409 username_taken.
    ids=["too-short", "uppercase", "hyphen", "space", "bang", "non-ascii", "31-chars", "trailing-newline"],
)
async def test_username_rules(client, username):
    # Validation runs before the invite check, so no invite is needed to see it.
    response = await sign_up(client, username, "ABCDEF", email="valid@signup.test")

    body = assert_problem(response, 422, "validation_failed")
    assert "username" in error_fields(body)


async def test_username_of_30_allowed_characters_is_accepted(client, users):
    alice = await users.create("alice")
    name = "a.b_c" + "9" * 25

    response = await sign_up(client, name, alice.invite_code)

    assert response.status_code == 201, response.text
    assert response.json()["user"]["username"] == name


async def test_short_password_is_rejected(client, users):
    alice = await users.create("alice")

    response = await sign_up(client, "shortpw", alice.invite_code, password="7chars!")

    body = assert_problem(response, 422, "validation_failed")
    assert "password" in error_fields(body)
    assert (await available(client, "shortpw"))["available"] is True


async def test_protected_role_field_is_rejected_and_creates_nothing(client, users):
    alice = await users.create("alice")

    response = await sign_up(client, "sneaky", alice.invite_code, role="admin")

    assert_problem(response, 422, "validation_failed")
    assert (await available(client, "sneaky"))["available"] is True
    login = await client.post("/v1/auth/token", json={"login": "sneaky", "password": PASSWORD})
    assert login.status_code == 401
    assert (await invite_of(client, alice.headers))["redeemed_count"] == 0


async def test_protected_role_field_is_named_in_errors(client, users):
    alice = await users.create("alice")

    response = await sign_up(client, "sneaky", alice.invite_code, role="admin")

    body = assert_problem(response, 422, "validation_failed")
    # API.md: "Validation errors list the offending fields in `errors`" - the offending field is role.
    assert "role" in error_fields(body), body


async def test_malformed_json_body_is_a_400_problem(client):
    response = await client.post(
        "/v1/auth/signup", content=b'{"username": "x",', headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert_problem(response, 400)


async def test_username_availability(client, users):
    await users.create("alice")

    free = await available(client, "freename")
    assert free["available"] is True
    assert free.get("reason") is None

    taken = await available(client, "alice")
    assert taken["available"] is False
    assert taken["reason"] == "taken"

    # "freename\n" (%0A in the path) was answered available, though no sign-up could take it.
    for invalid in ("Alice", "ab", "a" * 31, "bad-name", "freename%0A"):
        answer = await available(client, invalid)
        assert answer["available"] is False, invalid
        assert answer["reason"] == "invalid", invalid

    reserved = await available(client, "admin")
    assert reserved["available"] is False
    assert reserved["reason"] == "reserved"


async def test_reserved_username_cannot_be_signed_up(client, users):
    alice = await users.create("alice")

    response = await sign_up(client, "admin", alice.invite_code)

    assert 400 <= response.status_code < 500, response.text
    assert_problem(response, response.status_code)
    assert (await available(client, "admin"))["available"] is False
    assert (await invite_of(client, alice.headers))["redeemed_count"] == 0
