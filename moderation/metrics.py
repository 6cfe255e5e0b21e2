"""Prometheus metrics of the moderation queues.

Depth, oldest age, the escalated items and the items waiting for another admin are gauges read
from the database whenever /metrics is scraped (the composition root registers
`refresh_queue_gauges` with the metrics endpoint), so every API process reports the same truth.
Handling time, from claim to decision, is observed by the process that records the decision, once
it has committed.
"""

from __future__ import annotations

from prometheus_client import Gauge, Histogram

from app.resources import Resources
from moderation import queries
from moderation.models import Queue

QUEUE_DEPTH = Gauge(
    "remixfeed_moderation_queue_depth",
    "Undecided items in a moderation queue (claimed ones included)",
    ["queue"],
)
QUEUE_OLDEST_AGE = Gauge(
    "remixfeed_moderation_queue_oldest_age_seconds",
    "Age of the oldest undecided item in a moderation queue (0 when it is empty)",
    ["queue"],
)
# Escalated items (and appeals filed escalated) are for admins only: this is the admins' share of
# the depth, the same count as the queue's escalated_count in GET /v1/moderation/queues.
QUEUE_ESCALATED = Gauge(
    "remixfeed_moderation_queue_escalated",
    "Undecided escalated items in a moderation queue (for admins only)",
    ["queue"],
)
# Items no admin may take now (see queries._waits_for_another_admin): they stay undecided however
# many moderators work, so an alert on this says "add an admin", which depth alone cannot.
QUEUE_WAITING_FOR_ANOTHER_ADMIN = Gauge(
    "remixfeed_moderation_queue_waiting_for_another_admin",
    "Undecided items in a moderation queue that only an admin may take and no admin may take now",
    ["queue"],
)
HANDLING_SECONDS = Histogram(
    "remixfeed_moderation_handling_seconds",
    "Time from claiming an item to deciding on it",
    ["queue"],
    buckets=(5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)
# Every queue is exported from the start, at zero, rather than appearing with its first decision.
for _queue in Queue:
    HANDLING_SECONDS.labels(queue=_queue.value)


async def refresh_queue_gauges(resources: Resources) -> None:
    async with resources.session_factory() as session:
        now = await queries.db_now(session)
        stats = await queries.queue_stats(session, now)
    for queue in Queue:
        count, escalated, waiting, oldest = stats.get(queue.value, (0, 0, 0, None))
        QUEUE_DEPTH.labels(queue=queue.value).set(count)
        QUEUE_ESCALATED.labels(queue=queue.value).set(escalated)
        QUEUE_WAITING_FOR_ANOTHER_ADMIN.labels(queue=queue.value).set(waiting)
        age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        QUEUE_OLDEST_AGE.labels(queue=queue.value).set(age)


def observe_handling(queue: str, seconds: float) -> None:
    HANDLING_SECONDS.labels(queue=queue).observe(max(0.0, seconds))
