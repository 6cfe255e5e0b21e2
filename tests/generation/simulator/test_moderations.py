"""POST /v1/moderations, spoken to through the `openai` SDK as OpenAI's endpoint would be."""

from __future__ import annotations

import httpx
import openai
import pytest

from generation.simulator import SimulatorHandle
from generation.simulator.policy import BORDERLINE_SCORE, CLEAR_SCORE, EXAMPLE_BLOCKED_WORD
from generation.simulator.protocol import MODERATION_CATEGORIES
from tests.generation.simulator.support import control

IMAGE = {"type": "image_url", "image_url": {"url": "https://example.test/picture.png"}}


async def test_plain_text_is_not_flagged_and_every_category_is_scored(
    videos_client: openai.AsyncOpenAI,
) -> None:
    response = await videos_client.moderations.create(
        model="omni-moderation-latest", input="a paper boat on a rainy street"
    )
    assert response.id.startswith("modr-")
    assert response.model == "omni-moderation-2024-09-26"  # the alias answers as its snapshot
    [result] = response.results
    assert result.flagged is False
    scores = result.category_scores.model_dump(by_alias=True)
    assert set(scores) == set(MODERATION_CATEGORIES)
    assert all(0 <= score < 0.01 for score in scores.values())
    assert not any(result.categories.model_dump(by_alias=True).values())
    assert result.category_applied_input_types.violence == ["text"]


async def test_a_clear_violation_is_flagged_with_a_high_score(
    videos_client: openai.AsyncOpenAI, sim: SimulatorHandle
) -> None:
    response = await videos_client.moderations.create(
        model="omni-moderation-latest", input=f"a {sim.moderation_clear_word.upper()} in the square"
    )
    [result] = response.results
    assert result.flagged is True
    assert result.categories.violence and result.categories.violence_graphic
    assert result.category_scores.violence_graphic == CLEAR_SCORE
    assert not result.categories.harassment
    bomb = (await videos_client.moderations.create(input="bombmaking at home")).results[0]
    assert bomb.categories.illicit_violent and bomb.category_scores.illicit_violent == CLEAR_SCORE


async def test_a_borderline_text_is_flagged_with_a_moderate_score(
    videos_client: openai.AsyncOpenAI, sim: SimulatorHandle
) -> None:
    [result] = (
        await videos_client.moderations.create(input=f"a {sim.moderation_borderline_word} outside")
    ).results
    assert result.flagged is True
    assert result.categories.violence is True
    assert result.category_scores.violence == BORDERLINE_SCORE
    assert result.categories.violence_graphic is False
    [talk] = (await videos_client.moderations.create(input="some trashtalk")).results
    assert talk.categories.harassment and talk.category_scores.harassment == BORDERLINE_SCORE


async def test_words_must_be_whole_and_the_video_policy_words_are_not_triggers(
    videos_client: openai.AsyncOpenAI,
) -> None:
    response = await videos_client.moderations.create(
        input=["brawler", f"a scene with {EXAMPLE_BLOCKED_WORD}", "beheadings"]
    )
    assert [result.flagged for result in response.results] == [False, False, False]


async def test_a_list_of_strings_answers_one_result_each_in_order(videos_client: openai.AsyncOpenAI) -> None:
    response = await videos_client.moderations.create(
        model="text-moderation-latest", input=["hello", "trashtalk", "beheading"]
    )
    assert response.model == "text-moderation-007"
    assert [result.flagged for result in response.results] == [False, True, True]
    assert response.results[1].categories.harassment
    assert response.results[2].categories.violence_graphic


async def test_multimodal_parts_answer_one_result_for_them_all(videos_client: openai.AsyncOpenAI) -> None:
    response = await videos_client.moderations.create(
        model="omni-moderation-latest", input=[{"type": "text", "text": "a brawl"}, IMAGE]
    )
    [result] = response.results
    assert result.flagged and result.categories.violence
    assert result.category_applied_input_types.violence == ["text", "image"]
    assert result.category_applied_input_types.harassment == ["text"]  # text-only category


def test_the_model_defaults_to_omni_moderation(sim: SimulatorHandle) -> None:
    response = httpx.post(
        f"{sim.url}/moderations", json={"input": "hello"}, headers={"Authorization": "Bearer k"}, timeout=5
    )
    assert response.status_code == 200
    assert response.json()["model"] == "omni-moderation-2024-09-26"


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"input": []}, 400, "empty_array"),
        ({"input": 42}, 400, "invalid_type"),
        ({"input": ["text", {"type": "text", "text": "x"}]}, 400, "invalid_type"),
        ({"input": [{"type": "video", "video": "x"}]}, 400, "invalid_type"),
        ({"input": [IMAGE], "model": "text-moderation-latest"}, 400, None),
        ({"input": "hello", "model": "gpt-moderation-9"}, 404, "model_not_found"),
        ({"input": "hello", "extra_body": {"colour": "red"}}, 400, "unknown_parameter"),
    ],
)
async def test_bad_requests_are_refused_in_openais_shape(
    videos_client: openai.AsyncOpenAI, kwargs: dict[str, object], status: int, code: str | None
) -> None:
    with pytest.raises(openai.APIStatusError) as refused:
        await videos_client.moderations.create(**kwargs)  # type: ignore[arg-type]
    assert refused.value.status_code == status
    assert refused.value.code == code
    assert isinstance(refused.value.body, dict) and refused.value.body["message"]


def test_missing_input_and_missing_key_are_refused(sim: SimulatorHandle) -> None:
    missing = httpx.post(f"{sim.url}/moderations", json={}, headers={"Authorization": "Bearer k"}, timeout=5)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "missing_required_parameter"
    anonymous = httpx.post(f"{sim.url}/moderations", json={"input": "hello"}, timeout=5)
    assert anonymous.status_code == 401


async def test_faults_can_target_moderations_and_requests_are_counted(
    videos_client: openai.AsyncOpenAI, sim: SimulatorHandle
) -> None:
    control(sim, "faults", {"operation": "moderations", "status": 503})
    with pytest.raises(openai.InternalServerError):
        await videos_client.moderations.create(input="hello")
    control(sim, "faults", {"operation": "moderations", "garbage": True})
    with pytest.raises((openai.APIResponseValidationError, ValueError)):
        await videos_client.moderations.create(input="hello")
    await videos_client.videos.list()  # other operations are untouched
    assert (await videos_client.moderations.create(input="hello")).results[0].flagged is False
    stats = control(sim, "stats")
    assert stats["requests"]["moderations"] == 3
    assert stats["faults_served"] == 2
