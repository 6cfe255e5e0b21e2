"""Requests that lock the same rows at once wait for each other rather than deadlock: every
writer takes a video's row before its parent's and both before the author's users row."""

from __future__ import annotations

import asyncio

import pytest

from feed.service import videos as video_service
from tests.accounts.helpers import me
from tests.locks import someone_waits_for_a_lock


async def test_deleting_a_remix_and_its_source_at_once(
    client, users, videos, published, resources, monkeypatch: pytest.MonkeyPatch
):
    alice = await users.create("alice")
    source = await published(alice)
    remix = await published(alice, remix_of=source)
    assert (await me(client, alice.headers))["post_count"] == 2

    # Both deletes hold their own video's row when they come to the counts. The remix's goes first
    # and waits for its source's row; only then does the source's go on.
    recount = video_service.recount
    source_holds_its_row = asyncio.Event()

    async def in_order(session, deleted, *, was_counted):
        if str(deleted.id) == remix:
            await source_holds_its_row.wait()
        else:
            source_holds_its_row.set()
            await someone_waits_for_a_lock(resources)
        await recount(session, deleted, was_counted=was_counted)

    monkeypatch.setattr(video_service, "recount", in_order)
    answers = await asyncio.gather(
        client.delete(f"/v1/videos/{remix}", headers=alice.headers),
        client.delete(f"/v1/videos/{source}", headers=alice.headers),
    )

    assert [answer.status_code for answer in answers] == [204, 204], [answer.text for answer in answers]
    assert (await me(client, alice.headers))["post_count"] == 0
