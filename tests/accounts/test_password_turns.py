"""Logins and sign-ups wait for a password-hashing turn without holding a pooled database
connection: a burst of them must not take the pool from every other request. A password change and
an account deletion hold none while they hash at all."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import event, update
from sqlalchemy.pool import Pool

from accounts import passwords
from accounts.models import Invite
from app.factory import create_app
from app.resources import Resources
from tests.conftest import make_settings, serve_in_process
from tests.factories import UserFactory
from tests.harness import RunServers

BURST = 8
PASSWORD = "a burst of logins"


class HeldByBurst:
    """How many connections the burst's requests held at the same moment (each request is a
    task named `burst-N`; nothing else of the app is counted)."""

    def __init__(self) -> None:
        self.holding: set[int] = set()
        self.most = 0

    def checkout(self, _dbapi: object, record: object, _proxy: object) -> None:
        task = asyncio.current_task()
        if task is not None and task.get_name().startswith("burst-"):
            self.holding.add(id(record))
            self.most = max(self.most, len(self.holding))

    def checkin(self, _dbapi: object, record: object) -> None:
        self.holding.discard(id(record))


async def burst_holds(
    servers: RunServers,
    tmp_path: Path,
    prepare: Callable[[httpx.AsyncClient], Awaitable[None]],
    request: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]],
    expected_statuses: list[int],
) -> int:
    # One turn per process (the default), and a pool big enough for the whole burst to hold one each.
    settings = make_settings(
        servers, tmp_path, invite_required=False, password_hashes_at_once=1, db_pool_size=BURST + 2
    )
    app = create_app(settings)
    async with serve_in_process(app) as http:
        await prepare(http)
        pool = app.state.resources.engine.sync_engine.pool
        held = HeldByBurst()
        event.listen(pool, "checkout", held.checkout)
        event.listen(pool, "checkin", held.checkin)
        try:
            tasks = [asyncio.create_task(request(http, n), name=f"burst-{n}") for n in range(BURST)]
            responses = await asyncio.gather(*tasks)
        finally:
            event.remove(pool, "checkout", held.checkout)
            event.remove(pool, "checkin", held.checkin)
    assert [response.status_code for response in responses] == expected_statuses, [
        response.text for response in responses
    ]
    return held.most


def account(name: str) -> dict[str, str]:
    return {"email": f"{name}@turns.test", "password": PASSWORD, "username": name, "birthdate": "1990-01-01"}


async def test_logins_waiting_for_a_hashing_turn_hold_no_connection(
    servers: RunServers, tmp_path: Path
) -> None:
    async def prepare(http: httpx.AsyncClient) -> None:
        for n in range(BURST):
            signup = await http.post("/v1/auth/signup", json=account(f"turner{n}"))
            assert signup.status_code == 201, signup.text

    async def log_in(http: httpx.AsyncClient, n: int) -> httpx.Response:
        # Half right, half wrong: a refused login takes its turn like an accepted one.
        password = PASSWORD if n % 2 == 0 else "not the password"
        return await http.post("/v1/auth/token", json={"login": f"turner{n}", "password": password})

    # The one login in its turn, and at most the one before it finishing its commit.
    expected = [200 if n % 2 == 0 else 401 for n in range(BURST)]
    assert await burst_holds(servers, tmp_path, prepare, log_in, expected) <= 2


async def test_sign_ups_waiting_for_a_hashing_turn_hold_no_connection(
    servers: RunServers, tmp_path: Path
) -> None:
    async def nothing(_http: httpx.AsyncClient) -> None:
        return None

    async def sign_up(http: httpx.AsyncClient, n: int) -> httpx.Response:
        return await http.post("/v1/auth/signup", json=account(f"newcomer{n}"))

    # Each hashes before its first query: only the inserts and commits hold connections.
    assert await burst_holds(servers, tmp_path, nothing, sign_up, [201] * BURST) <= 2


class PoolWatchingHasher:
    """Stands in for the Argon2 hasher: notes how many of the pool's connections are checked out
    while each hash or verification runs (in its thread), then does the real work."""

    def __init__(self, hasher: PasswordHasher, pool: Pool) -> None:
        self.hasher = hasher
        self.pool = pool
        self.checked_out: list[int] = []

    def hash(self, password: str) -> str:
        self.checked_out.append(self.pool.checkedout())  # type: ignore[attr-defined]
        return self.hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        self.checked_out.append(self.pool.checkedout())  # type: ignore[attr-defined]
        return self.hasher.verify(password_hash, password)

    def check_needs_rehash(self, password_hash: str) -> bool:
        return self.hasher.check_needs_rehash(password_hash)


@pytest.mark.parametrize("route", ["password change", "account deletion"])
async def test_a_password_check_holds_no_connection_while_it_hashes(
    servers: RunServers, tmp_path: Path, users: UserFactory, monkeypatch: pytest.MonkeyPatch, route: str
) -> None:
    """Re-authenticating by the password (and hashing the new one) runs with the request's pooled
    connection given back, as a login's wait for its turn does: tens of ms of hashing a request
    must not hold one of the pool's few connections idle."""
    ada = await users.create("ada")
    # An app of its own: no job worker borrowing connections from the pool being watched.
    app = create_app(make_settings(servers, tmp_path))
    async with serve_in_process(app) as http:
        watching = PoolWatchingHasher(passwords._hasher, app.state.resources.engine.sync_engine.pool)
        monkeypatch.setattr(passwords, "_hasher", watching)
        if route == "password change":
            body = {"current_password": ada.password, "new_password": "a brand new passphrase"}
            response = await http.post("/v1/me/password", headers=ada.headers, json=body)
            expected, hashes = 200, 2  # the current password checked, the new one hashed
        else:
            response = await http.request(
                "DELETE", "/v1/me", headers=ada.headers, json={"password": ada.password}
            )
            expected, hashes = 204, 1
    assert response.status_code == expected, response.text
    assert watching.checked_out == [0] * hashes


class CountingHasher:
    """Stands in for the Argon2 hasher and counts the hashes made."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher
        self.hashes = 0

    def hash(self, password: str) -> str:
        self.hashes += 1
        return self.hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        return self.hasher.verify(password_hash, password)

    def check_needs_rehash(self, password_hash: str) -> bool:
        return self.hasher.check_needs_rehash(password_hash)


@pytest.mark.parametrize("obstacle", ["username taken", "email taken", "unknown invite", "used-up invite"])
async def test_a_sign_up_refused_for_what_is_committed_hashes_nothing(
    client: httpx.AsyncClient,
    users: UserFactory,
    resources: Resources,
    monkeypatch: pytest.MonkeyPatch,
    obstacle: str,
) -> None:
    """A hash takes one of the process's few hashing turns, which logins queue for: a sign-up that
    a plain read refuses (a wrong invite code tried again and again, say) must not cost one."""
    inviter = await users.create()
    taken = await users.create()
    invite_code = inviter.invite_code
    if obstacle == "used-up invite":
        async with resources.session_factory() as session, session.begin():
            await session.execute(
                update(Invite).where(Invite.code == invite_code).values(redeemed_count=Invite.total_count)
            )
    elif obstacle == "unknown invite":
        invite_code = "QQQQQ1" if invite_code != "QQQQQ1" else "QQQQQ2"
    body = account("hopeful")
    body["invite_code"] = invite_code
    if obstacle == "username taken":
        body["username"] = taken.username
    if obstacle == "email taken":
        body["email"] = taken.email.upper()
    counting = CountingHasher(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", counting)

    response = await client.post("/v1/auth/signup", json=body)

    expected = {
        "username taken": (409, "username_taken"),
        "email taken": (409, "email_taken"),
        "unknown invite": (422, "invite_invalid"),
        "used-up invite": (422, "invite_exhausted"),
    }[obstacle]
    assert (response.status_code, response.json()["code"]) == expected, response.text
    assert counting.hashes == 0
    # The same sign-up with nothing in its way still hashes (once) and succeeds.
    if obstacle == "unknown invite":
        body["invite_code"] = inviter.invite_code
        accepted = await client.post("/v1/auth/signup", json=body)
        assert accepted.status_code == 201, accepted.text
        assert counting.hashes == 1
