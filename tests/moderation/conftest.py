"""Fixtures of the moderation tests: moderators and admins (videos come from tests/conftest.py)."""

from __future__ import annotations

import pytest

from accounts.models import Role
from tests.factories import Actor, UserFactory


@pytest.fixture
async def mod(users: UserFactory) -> Actor:
    return await users.create("mod", role=Role.MODERATOR)


@pytest.fixture
async def admin(users: UserFactory) -> Actor:
    return await users.create("boss", role=Role.ADMIN)
