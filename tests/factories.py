"""Builders for test data. Users are created through the same service the API uses (with a real
password hash and invite code) and get a real access token, so tests start from a signed-in user."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date
from typing import Any

from accounts import queries
from accounts.models import Role
from accounts.service import AuthService, NewAccount
from app.db import in_transaction
from app.resources import Resources

_sequence = itertools.count(1)
DEFAULT_PASSWORD = "correct horse battery"
ADULT_BIRTHDATE = date(1990, 5, 17)


@dataclass
class Actor:
    id: str
    username: str
    email: str
    password: str
    role: str
    access_token: str
    refresh_token: str
    invite_code: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


class UserFactory:
    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    async def create(
        self,
        username: str | None = None,
        *,
        role: Role = Role.USER,
        birthdate: date = ADULT_BIRTHDATE,
        password: str = DEFAULT_PASSWORD,
        email: str | None = None,
    ) -> Actor:
        n = next(_sequence)
        username = username or f"user{n}"
        email = email or f"{username}@example.test"

        async def work(session: Any) -> Actor:
            auth = AuthService(session, self.resources.settings, keys=self.resources.signing_keys)
            user = await auth.create_user(
                NewAccount(email=email, password=password, username=username, birthdate=birthdate, role=role),
                require_invite=False,
            )
            tokens = await auth.issue_tokens(user)
            invite = await queries.invite_of(session, user.id)
            assert invite is not None
            return Actor(
                id=str(user.id),
                username=user.username,
                email=email,
                password=password,
                role=user.role,
                access_token=tokens.access_token,
                refresh_token=tokens.refresh_token,
                invite_code=invite.code,
            )

        actor: Actor = await in_transaction(self.resources.session_factory, work)
        return actor
