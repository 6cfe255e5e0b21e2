"""Reading Prometheus text in tests."""

from __future__ import annotations


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, 0 when it is absent."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    prefix = f"{name}{{{wanted}}} " if labels else f"{name} "
    for line in metrics.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
