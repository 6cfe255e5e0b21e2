"""Fixtures of the moderation tests: published videos made without generation, and moderators."""

from __future__ import annotations

import pytest

from accounts.models import Role
from app.resources import Resources
from tests.factories import Actor, UserFactory
from tests.feed.factories import VideoFactory
from tests.feed.helpers import publish


@pytest.fixture
def videos(resources: Resources) -> VideoFactory:
    return VideoFactory(resources)


@pytest.fixture
def published(client, videos):
    """Make a draft and publish it through the API; returns its id."""

    async def make(author: Actor, *, remix_of: str | None = None, **body: object) -> str:
        draft = await videos.draft(author, remix_of=remix_of)
        response = await publish(client, author, draft.id, **body)
        assert response.status_code == 200, response.text
        return draft.id

    return make


@pytest.fixture
async def mod(users: UserFactory) -> Actor:
    return await users.create("mod", role=Role.MODERATOR)


@pytest.fixture
async def admin(users: UserFactory) -> Actor:
    return await users.create("boss", role=Role.ADMIN)
