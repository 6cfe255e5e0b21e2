"""What the feed serves: its three cuts, the ranking of `for_you`, per-user inboxes filled by
fan-out on write, and the interpretation of steering text. Pacing and the endpoints are elsewhere
(`feed.pacing`, `feed.routes`)."""

from feed.timeline.ranking import Cut, FeedItem, FeedRanker, Reason
from feed.timeline.steering import (
    LocalSteeringInterpreter,
    SteeringInterpreter,
    SteerTopics,
    interpret_steer,
)

__all__ = [
    "Cut",
    "FeedItem",
    "FeedRanker",
    "LocalSteeringInterpreter",
    "Reason",
    "SteerTopics",
    "SteeringInterpreter",
    "interpret_steer",
]
