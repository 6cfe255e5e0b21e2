"""The simulator's stand-ins for Sora's content policy and for the moderation endpoint, so callers
can exercise every refusal path.

Input moderation: a prompt containing any word of BLOCKED_WORDS (whole word, any case) is refused at
create or remix time with HTTP 400, code "moderation_blocked", and no job is made.

Output moderation: a prompt containing OUTPUT_BLOCK_TRIGGER (any case) is accepted, runs its course,
and then ends `failed` with error {code: "moderation_blocked"} instead of `completed`, as the real
API does when the generated video itself trips the filter.

Text moderation (POST /v1/moderations): every category scores BASELINE_SCORE unless the text holds a
word of MODERATION_TRIGGERS (whole word, any case), which raises the listed categories:
- clear violations score CLEAR_SCORE (0.97): "beheading" (violence, violence/graphic) and
  "bombmaking" (illicit, illicit/violent);
- borderline ones score BORDERLINE_SCORE (0.62): "brawl" (violence) and "trashtalk" (harassment).
A category at or above MODERATION_FLAG_SCORE (0.5) is marked true and the result is `flagged`, so a
borderline word is flagged with a moderate score and a clear one flagged with a high score; what to
do with each is the caller's threshold. The Sora words above are deliberately not moderation
triggers, so a caller that screens its prompts can still reach the provider's own refusal.
"""

from __future__ import annotations

import re

from generation.simulator.protocol import MODERATION_CATEGORIES

BLOCKED_WORDS = frozenset({"nsfw", "gore", "nude", "bloodbath"})
EXAMPLE_BLOCKED_WORD = "gore"  # for tests that need one
OUTPUT_BLOCK_TRIGGER = "[moderate-output]"

INPUT_BLOCKED_MESSAGE = "Your request was blocked by our moderation system when checking inputs."
OUTPUT_BLOCKED_MESSAGE = "The generated video was blocked by our moderation system."

_WORDS = re.compile(r"[a-z0-9]+")


def blocked_word(prompt: str) -> str | None:
    """The first blocked word in the prompt, if any."""
    words: list[str] = _WORDS.findall(prompt.lower())
    for word in words:
        if word in BLOCKED_WORDS:
            return word
    return None


def blocks_output(prompt: str) -> bool:
    return OUTPUT_BLOCK_TRIGGER in prompt.lower()


CLEAR_SCORE = 0.97
BORDERLINE_SCORE = 0.62
BASELINE_SCORE = 0.0001
MODERATION_FLAG_SCORE = 0.5
MODERATION_TRIGGERS: dict[str, tuple[float, tuple[str, ...]]] = {
    "beheading": (CLEAR_SCORE, ("violence", "violence/graphic")),
    "bombmaking": (CLEAR_SCORE, ("illicit", "illicit/violent")),
    "brawl": (BORDERLINE_SCORE, ("violence",)),
    "trashtalk": (BORDERLINE_SCORE, ("harassment",)),
}
EXAMPLE_CLEAR_VIOLATION = "beheading"  # for tests that need one
EXAMPLE_BORDERLINE = "brawl"


def moderation_scores(text: str) -> dict[str, float]:
    """Every category's score for `text`, in the API's category order."""
    scores = dict.fromkeys(MODERATION_CATEGORIES, BASELINE_SCORE)
    words: list[str] = _WORDS.findall(text.lower())
    for word in words:
        trigger = MODERATION_TRIGGERS.get(word)
        if trigger is not None:
            score, categories = trigger
            for category in categories:
                scores[category] = max(scores[category], score)
    return scores
