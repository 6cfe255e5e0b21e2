"""The simulator's stand-in for Sora's content policy, so callers can exercise both refusal paths.

Input moderation: a prompt containing any word of BLOCKED_WORDS (whole word, any case) is refused at
create or remix time with HTTP 400, code "moderation_blocked", and no job is made.

Output moderation: a prompt containing OUTPUT_BLOCK_TRIGGER (any case) is accepted, runs its course,
and then ends `failed` with error {code: "moderation_blocked"} instead of `completed`, as the real
API does when the generated video itself trips the filter.
"""

from __future__ import annotations

import re

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
