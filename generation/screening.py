"""Prompt screening before a generation is accepted, behind an interface so the moderation work
can put the OpenAI moderation endpoint behind it. The default is a local rule set that refuses
only clear violations; the provider applies its own content policy on top (ending `blocked`)."""

from __future__ import annotations

import re
from typing import Protocol

from generation.errors import PromptRejected

# Clear violations only: sexual content involving minors, and instructions for mass harm.
_CLEAR_VIOLATIONS = [
    re.compile(
        r"\b(child|children|minor|minors|kid|kids|underage|teen|teens)\b.{0,40}\b(nude|naked|sexual|porn\w*)\b"
    ),
    re.compile(r"\b(nude|naked|sexual|porn\w*)\b.{0,40}\b(child|children|minor|minors|kid|kids|underage)\b"),
    re.compile(
        r"\b(how to|instructions? for|steps to)\b.{0,30}\b(build|make)\b.{0,20}"
        r"\b(bomb|nerve agent|bioweapon)\b"
    ),
]


class PromptScreen(Protocol):
    async def check(self, prompt: str) -> None:
        """Raise PromptRejected for a prompt that must not be sent to the provider."""


class LocalPromptRules:
    async def check(self, prompt: str) -> None:
        text = " ".join(prompt.lower().split())
        if any(rule.search(text) for rule in _CLEAR_VIOLATIONS):
            raise PromptRejected("This prompt asks for content that is never allowed")
