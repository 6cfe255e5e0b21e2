"""Small helpers shared by the accounts HTTP tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

PROBLEM_JSON = "application/problem+json"
PASSWORD = "s3cret-pass"


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem with the given status (and code, when given); returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    for key in ("type", "title", "status", "detail", "code"):
        assert key in body, body
    assert body["status"] == status, body
    assert isinstance(body["code"], str), body
    assert body["code"], body
    if code is not None:
        assert body["code"] == code, body
    return body


def error_fields(body: dict[str, Any]) -> set[str]:
    """The field names a validation problem lists in `errors`."""
    errors = body.get("errors")
    assert isinstance(errors, list), body
    assert errors, body
    return {error["field"] for error in errors}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_client_error(response: httpx.Response) -> None:
    """Bad input: a 4xx problem, never a 5xx."""
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers


def assert_refused(response: httpx.Response) -> dict[str, Any]:
    """A 4xx problem+json with a non-empty machine code; returns the body."""
    assert_client_error(response)
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("code"), str), body
    assert body["code"], body
    return body


def unexpected(response: httpx.Response, status: int | None = None, code: str | None = None) -> str | None:
    """None when the response is a problem+json with a code and the given status and code (any 4xx
    when no status is given); otherwise a line describing the request and the answer."""
    problem = response.headers.get("content-type", "").startswith(PROBLEM_JSON)
    got = response.json().get("code") if problem else None
    status_ok = response.status_code == status if status is not None else 400 <= response.status_code < 500
    if status_ok and got and (code is None or got == code):
        return None
    request = response.request
    path = request.url.raw_path.decode()[:90]
    return f"{request.method} {path} -> {response.status_code} {response.text[:120]}"


def today() -> date:
    """The app's notion of today (UTC)."""
    return datetime.now(UTC).date()


def years_ago(years: int, *, plus_days: int = 0) -> date:
    """The date `years` years before today (28 Feb for a 29 Feb that does not exist), shifted
    `plus_days` later: `years_ago(13, plus_days=1)` is someone who turns 13 tomorrow."""
    now = today()
    try:
        born = now.replace(year=now.year - years)
    except ValueError:  # 29 February
        born = now.replace(year=now.year - years, day=28)
    return born + timedelta(days=plus_days)


def signup_body(username: str, invite_code: str | None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": f"{username}@signup.test",
        "password": PASSWORD,
        "username": username,
        "birthdate": "1990-01-15",
    }
    if invite_code is not None:
        body["invite_code"] = invite_code
    body.update(overrides)
    return body


async def sign_up(
    client: httpx.AsyncClient, username: str, invite_code: str | None, **overrides: Any
) -> httpx.Response:
    return await client.post("/v1/auth/signup", json=signup_body(username, invite_code, **overrides))


async def me(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/v1/me", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def counts(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[int, int]:
    """(follower_count, following_count) of the caller, from GET /v1/me."""
    mine = await me(client, headers)
    return mine["follower_count"], mine["following_count"]


async def available(client: httpx.AsyncClient, username: str) -> dict[str, Any]:
    response = await client.get(f"/v1/usernames/{username}/availability")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def profile(client: httpx.AsyncClient, viewer_headers: dict[str, str], username: str) -> httpx.Response:
    return await client.get(f"/v1/users/{username}", headers=viewer_headers)


async def follow(client: httpx.AsyncClient, headers: dict[str, str], username: str) -> httpx.Response:
    return await client.post(f"/v1/users/{username}/follow", headers=headers)


async def unfollow(client: httpx.AsyncClient, headers: dict[str, str], username: str) -> httpx.Response:
    return await client.delete(f"/v1/users/{username}/follow", headers=headers)


async def block(client: httpx.AsyncClient, headers: dict[str, str], username: str) -> httpx.Response:
    return await client.post(f"/v1/users/{username}/block", headers=headers)


async def unblock(client: httpx.AsyncClient, headers: dict[str, str], username: str) -> httpx.Response:
    return await client.delete(f"/v1/users/{username}/block", headers=headers)


async def list_page(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    username: str,
    direction: str,
    **params: Any,
) -> httpx.Response:
    return await client.get(f"/v1/users/{username}/{direction}", headers=headers, params=params)


async def usernames_in(
    client: httpx.AsyncClient, headers: dict[str, str], username: str, direction: str
) -> list[str]:
    """Every username on one page (limit 100) of a followers/following list."""
    response = await list_page(client, headers, username, direction, limit=100)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None, body
    return [item["username"] for item in body["items"]]
