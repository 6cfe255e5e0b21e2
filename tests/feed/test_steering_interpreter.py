"""The local steering interpreter: free text to topics to favour and avoid, deterministic, capped;
and through PUT /v1/me/feed-preferences."""

from __future__ import annotations

import pytest

from feed.timeline import LocalSteeringInterpreter, SteerTopics, interpret_steer
from feed.timeline.steering import MAX_TOPICS


@pytest.mark.parametrize(
    ("text", "favour", "avoid"),
    [
        ("more cats and cooking, less politics", ["cats", "cooking"], ["politics"]),
        ("no horror", [], ["horror"]),
        ("show me skateboarding", ["skateboarding"], []),
        ("avoid: spiders", [], ["spiders"]),
        ("Avoid: spiders, snakes", [], ["spiders", "snakes"]),  # a list goes on
        ("more cats, dogs; no horror, gore", ["cats", "dogs"], ["horror", "gore"]),
        ("no horror but comedy", ["comedy"], ["horror"]),  # "but" turns it round
        ("I like cats but not dogs", ["cats"], ["dogs"]),
        ("More DANCE; fewer ads and no gore!", ["dance"], ["ads", "gore"]),
        ("I don't want to see clowns. Give me nature videos", ["nature"], ["clowns"]),
        ("cats, no cats", [], ["cats"]),  # saying no wins
        ("", [], []),
        ("the and of a", [], []),
        ("snow and knowledge", ["snow", "knowledge"], []),  # cue words only as whole words
    ],
)
async def test_phrases(text, favour, avoid):
    assert await interpret_steer(text) == SteerTopics(favour=favour, avoid=avoid)


async def test_deterministic_and_capped():
    text = (
        ", ".join(f"more topic{n}x" for n in range(20)) + ", no " + " no ".join(f"bad{n}x" for n in range(20))
    )
    first = await LocalSteeringInterpreter().interpret(text)
    assert first == await LocalSteeringInterpreter().interpret(text)
    assert len(first.favour) == MAX_TOPICS and len(first.avoid) == MAX_TOPICS
    assert all(len(topic) <= 32 for topic in first.favour + first.avoid)


async def test_another_interpreter_can_take_over():
    class Fixed:
        async def interpret(self, text: str) -> SteerTopics:
            return SteerTopics(favour=["llm"], avoid=[])

    assert await interpret_steer("anything", Fixed()) == SteerTopics(favour=["llm"], avoid=[])


async def test_preferences_store_the_interpreted_topics(client, users):
    viewer = await users.create("viewer")
    response = await client.put(
        "/v1/me/feed-preferences",
        headers=viewer.headers,
        json={"steer": "more cats and cooking, less politics"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["favour_topics"], body["avoid_topics"]) == (["cats", "cooking"], ["politics"])
