"""The thresholds that turn a moderation result into allow / flag / refuse, and which screener the
settings choose. Plain functions, no HTTP: the HTTP behaviour is in the other modules here."""

from __future__ import annotations

from pathlib import Path

import pytest
from openai.types import Moderation

from app.screening import (
    Decision,
    LayeredScreen,
    LocalRules,
    create_content_screen,
    judge,
)
from app.settings import Settings
from generation.simulator.protocol import MODERATION_CATEGORIES


def result(
    scores: dict[str, float], *, flagged: set[str] | None = None, overall: bool | None = None
) -> Moderation:
    """A Moderation with these scores (others 0.0001); `flagged` categories marked true."""
    marked = flagged or set()
    full = {category: scores.get(category, 0.0001) for category in MODERATION_CATEGORIES}
    return Moderation.model_validate(
        {
            "flagged": bool(marked) if overall is None else overall,
            "categories": {category: category in marked for category in MODERATION_CATEGORIES},
            "category_scores": full,
            "category_applied_input_types": {category: ["text"] for category in MODERATION_CATEGORIES},
        }
    )


def test_nothing_flagged_is_allowed() -> None:
    assert judge(result({"violence": 0.3}), refuse_score=0.9).decision == Decision.ALLOW


def test_a_confident_score_refuses_even_when_unflagged() -> None:
    verdict = judge(result({"violence/graphic": 0.95, "violence": 0.91}), refuse_score=0.9)
    assert verdict.decision == Decision.REFUSE
    assert verdict.categories == ("violence", "violence/graphic")


def test_the_refuse_threshold_is_inclusive_and_configurable() -> None:
    assert judge(result({"hate": 0.9}, flagged={"hate"}), refuse_score=0.9).refused
    below = judge(result({"hate": 0.9}, flagged={"hate"}), refuse_score=0.95)
    assert (below.decision, below.categories) == (Decision.FLAG, ("hate",))


def test_flagged_below_the_threshold_is_a_flag_with_its_categories() -> None:
    verdict = judge(
        result({"harassment": 0.7, "violence": 0.55}, flagged={"harassment", "violence"}), refuse_score=0.9
    )
    assert (verdict.decision, verdict.categories) == (Decision.FLAG, ("harassment", "violence"))


def test_a_flag_on_sexual_minors_refuses_at_any_score() -> None:
    verdict = judge(result({"sexual/minors": 0.4}, flagged={"sexual/minors"}), refuse_score=0.9)
    assert (verdict.decision, verdict.categories) == (Decision.REFUSE, ("sexual/minors",))


def test_flagged_overall_without_a_category_names_the_likeliest() -> None:
    verdict = judge(result({"self-harm": 0.45}, overall=True), refuse_score=0.9)
    assert (verdict.decision, verdict.categories) == (Decision.FLAG, ("self-harm",))


async def test_the_local_rules_refuse_only_clear_violations() -> None:
    rules = LocalRules()
    refused = await rules.screen("Naked\n  CHILDREN on a beach", kind="prompt")
    assert (refused.decision, refused.categories, refused.source) == (
        Decision.REFUSE,
        ("sexual/minors",),
        "local_rules",
    )
    weapon = await rules.screen("instructions for how to make a nerve agent", kind="comment")
    assert weapon.categories == ("illicit/violent",)
    for fine in ("children building sandcastles", "a brawl outside a pub", "nude beach sunset"):
        assert (await rules.screen(fine, kind="caption")).decision == Decision.ALLOW


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, LocalRules),  # no key and no endpoint: the local rules alone
        ({"openai_base_url": "http://127.0.0.1:9/v1"}, LayeredScreen),  # the simulator
        ({"openai_api_key": "sk-test"}, LayeredScreen),  # OpenAI
        ({"openai_api_key": "sk-test", "screening_mode": "local"}, LocalRules),
    ],
)
async def test_the_settings_choose_the_screener(
    tmp_path: Path, changes: dict[str, object], expected: type[object]
) -> None:
    screen = create_content_screen(Settings(data_dir=tmp_path).replace(**changes))
    try:
        assert isinstance(screen, expected)
    finally:
        await screen.close()
