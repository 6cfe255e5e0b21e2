"""Prometheus metrics of the feed, counted by the process that does the work."""

from __future__ import annotations

from prometheus_client import Counter

RANKINGS = Counter(
    "remixfeed_feed_rankings_total",
    "for_you rankings by how they ran: inline (a page waited for it), quick (a page found every "
    "inline turn of its process taken and ranked from the inbox and popular set only), ahead (a "
    "feed.rank_ahead job)",
    ["how"],
)
