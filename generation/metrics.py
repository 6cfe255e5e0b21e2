"""Prometheus metrics of the calls to the video provider, observed by the process that makes them
(the job worker, and the API process for nothing but its own calls)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

PROVIDER_CALLS = Counter(
    "remixfeed_provider_calls_total",
    "Calls to the video provider by operation and outcome (ok, or the error code it became)",
    ["operation", "outcome"],
)
PROVIDER_SECONDS = Histogram(
    "remixfeed_provider_call_seconds",
    "How long one call to the video provider took, whatever its outcome",
    ["operation"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
