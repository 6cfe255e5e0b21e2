"""Queue depth, oldest age, escalated items, items waiting for another admin and handling time per
queue on /metrics (Prometheus)."""

from __future__ import annotations

import asyncio
import re

from accounts.models import Role
from tests.moderation.helpers import claimed, decided, queues, reported


def _sample(text: str, name: str, queue: str) -> float:
    match = re.search(rf'^{name}{{queue="{queue}"}} (\S+)$', text, re.MULTILINE)
    assert match, f"{name} for {queue} missing"
    return float(match[1])


async def test_queue_depth_oldest_age_and_handling_time_are_exported(client, users, mod):
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    before = (await client.get("/metrics")).text
    handled_before = _sample(before, "remixfeed_moderation_handling_seconds_count", "reports")

    await reported(client, carol, "user", alice.id)
    await reported(client, carol, "user", bob.id)
    await asyncio.sleep(1.1)
    metrics = (await client.get("/metrics")).text
    assert _sample(metrics, "remixfeed_moderation_queue_depth", "reports") == 2
    assert _sample(metrics, "remixfeed_moderation_queue_oldest_age_seconds", "reports") >= 1
    for queue in ("takedowns", "cameo_verification", "appeals", "automated"):
        assert _sample(metrics, "remixfeed_moderation_queue_depth", queue) == 0
        assert _sample(metrics, "remixfeed_moderation_queue_oldest_age_seconds", queue) == 0

    held = await claimed(client, mod)
    await decided(client, mod, held["id"], "dismiss")

    after = (await client.get("/metrics")).text
    assert _sample(after, "remixfeed_moderation_queue_depth", "reports") == 1
    assert _sample(after, "remixfeed_moderation_handling_seconds_count", "reports") == handled_before + 1
    assert 'remixfeed_moderation_handling_seconds_bucket{le="300.0",queue="reports"}' in after


async def test_escalated_items_are_exported_as_the_queues_endpoint_counts_them(client, users, mod, admin):
    """An escalated item counts in its queue's gauge, as in escalated_count, until an admin decides
    it; the other, not escalated, item of the queue counts in the depth only."""
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    await reported(client, carol, "user", alice.id)
    await reported(client, carol, "user", bob.id)
    await decided(client, mod, (await claimed(client, mod))["id"], "escalate")

    metrics = (await client.get("/metrics")).text
    assert _sample(metrics, "remixfeed_moderation_queue_escalated", "reports") == 1
    assert _sample(metrics, "remixfeed_moderation_queue_depth", "reports") == 2
    counted = await queues(client, mod)
    for queue in ("reports", "takedowns", "cameo_verification", "appeals", "automated"):
        escalated_count = counted[queue]["escalated_count"]
        assert _sample(metrics, "remixfeed_moderation_queue_escalated", queue) == escalated_count

    escalated = await claimed(client, admin)
    assert escalated["escalated"] is True
    await decided(client, admin, escalated["id"], "dismiss")
    after = (await client.get("/metrics")).text
    assert _sample(after, "remixfeed_moderation_queue_escalated", "reports") == 0
    assert _sample(after, "remixfeed_moderation_queue_depth", "reports") == 1


async def test_items_waiting_for_another_admin_are_exported(client, users, mod, admin):
    """An escalated item the only admin reported waits for another admin: the gauge counts it in
    its queue until one exists."""
    bob = await users.create("bob")
    await reported(client, admin, "user", bob.id, "harassment")
    await decided(client, mod, (await claimed(client, mod))["id"], "escalate")

    metrics = (await client.get("/metrics")).text
    assert _sample(metrics, "remixfeed_moderation_queue_waiting_for_another_admin", "reports") == 1
    for queue in ("takedowns", "cameo_verification", "appeals", "automated"):
        assert _sample(metrics, "remixfeed_moderation_queue_waiting_for_another_admin", queue) == 0

    await users.create("bosstwo", role=Role.ADMIN)
    after = (await client.get("/metrics")).text
    assert _sample(after, "remixfeed_moderation_queue_waiting_for_another_admin", "reports") == 0
    assert _sample(after, "remixfeed_moderation_queue_depth", "reports") == 1
