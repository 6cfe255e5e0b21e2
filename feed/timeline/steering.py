"""Steering: free text ("more cats and cooking, less politics", "no horror", "avoid: spiders")
interpreted into topics to favour and to avoid, which ranking matches against `Video.search_vector`
with PostgreSQL full-text search (`websearch_to_tsquery('english', ...)`, so stemming happens
there: "cats" matches "cat").

The interpreter is behind `SteeringInterpreter` so a language model can replace the local one; the
local one is deterministic, needs nothing, and takes microseconds. It reads the text clause by
clause (split at commas, semicolons, full stops, "but"), decides each clause's polarity from the
cue that opens it ("more", "show me", "i like", "less", "no", "avoid:", "not", "without", ...;
favour by default), then keeps the clause's words that are not stop-words.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Protocol

# At most this many topics of each kind, and this long each (the column is VARCHAR(64)).
MAX_TOPICS = 8
MAX_TOPIC_LENGTH = 32


@dataclass(frozen=True)
class SteerTopics:
    favour: list[str] = field(default_factory=list)
    avoid: list[str] = field(default_factory=list)


class SteeringInterpreter(Protocol):
    async def interpret(self, text: str) -> SteerTopics: ...


# Cues, longest first so "a lot less" wins over "less". Matched at the start of a clause or right
# after "and"/"&" inside one ("more cats and less politics").
_AVOID_CUES = (
    "i don't want to see",
    "i dont want to see",
    "i don't want",
    "i dont want",
    "i don't like",
    "i dont like",
    "i hate",
    "don't show me",
    "dont show me",
    "don't show",
    "dont show",
    "stop showing me",
    "stop showing",
    "nothing about",
    "no more",
    "fewer",
    "less of",
    "less",
    "avoid",
    "hide",
    "skip",
    "block",
    "without",
    "exclude",
    "not",
    "no",
    "minus",
)
_FAVOUR_CUES = (
    "show me more",
    "show me",
    "i want to see",
    "i want",
    "i'd like",
    "i like",
    "i love",
    "give me",
    "more of",
    "more",
    "lots of",
    "plenty of",
    "include",
    "favour",
    "favor",
    "prefer",
    "mostly",
    "only",
    "plus",
)
_CUES = sorted(
    [(cue, False) for cue in _AVOID_CUES] + [(cue, True) for cue in _FAVOUR_CUES],
    key=lambda item: -len(item[0]),
)
_CUE_PATTERN = re.compile(
    r"(?:^|\s)(" + "|".join(re.escape(cue) for cue, _ in _CUES) + r")(?=\s|:|$)",
)
_POLARITY = dict(_CUES)

_CLAUSES = re.compile(r"([,;.!?\n]+|\bbut\b|\bthough\b|\bhowever\b)")
_TURNS = frozenset({"but", "though", "however"})
# Letters and digits of any script ("café", "猫"), with inner apostrophes and hyphens.
_WORDS = re.compile(r"[^\W_](?:[^\W_]|['\-])*")

STOP_WORDS = frozenset(
    """
    a about above after again all also am an and any are as at be because been before being below
    between both by can could did do does doing down during each else ever few for from further get
    had has have having he her here hers him his how i if in into is it its itself just let like lot
    lots me might mine much must my myself nor now of off on once or other our ours out over own
    please really same she should so some something stuff such than that the their them then there
    these they thing things this those through to too under until up us very videos video clips clip
    content posts post want was we were what when where which while who whom why will with would you
    your yours see show feed kind kinds type types maybe bit little way ones one
    """.split()  # noqa: SIM905
)


class LocalSteeringInterpreter:
    """Rule-based and deterministic: the same text always gives the same topics."""

    async def interpret(self, text: str) -> SteerTopics:
        return interpret_text(text)


def interpret_text(text: str) -> SteerTopics:
    favour: list[str] = []
    avoid: list[str] = []
    # NFC, so a decomposed "café" (e + combining accent) is one word as captions have it.
    lowered = unicodedata.normalize("NFC", text).lower().replace("\u2019", "'")
    # A clause without a cue of its own goes on in the previous clause's sense ("avoid: spiders,
    # snakes"), or turns it round after "but" ("no horror but comedy").
    wanted = True
    pieces = _CLAUSES.split(lowered)
    for index in range(0, len(pieces), 2):
        clause = pieces[index] or ""
        if index and pieces[index - 1] in _TURNS:
            wanted = not wanted
        parts = _parts(clause, wanted)
        for polarity, words in parts:
            target = favour if polarity else avoid
            for word in words:
                _add(target, word)
        wanted = parts[-1][0]
    # A topic named both ways is avoided: saying "no" wins.
    favour = [topic for topic in favour if topic not in avoid]
    return SteerTopics(favour=favour[:MAX_TOPICS], avoid=avoid[:MAX_TOPICS])


def _parts(clause: str, wanted: bool) -> list[tuple[bool, list[str]]]:
    """The clause cut at each cue, each part with the polarity of the cue before it (`wanted`
    when the clause opens without one)."""
    parts: list[tuple[bool, list[str]]] = []
    start = 0
    for match in _CUE_PATTERN.finditer(clause):
        parts.append((wanted, _topic_words(clause[start : match.start()])))
        wanted, start = _POLARITY[match.group(1)], match.end()
    parts.append((wanted, _topic_words(clause[start:])))
    # The last part is kept even when it names nothing: its sense carries on to the next clause.
    return [part for index, part in enumerate(parts) if part[1] or index == len(parts) - 1]


def _topic_words(fragment: str) -> list[str]:
    words = []
    for word in _WORDS.findall(fragment.replace(":", " ")):
        word = word.strip("'-")
        if word.endswith("'s"):
            word = word[:-2]
        if len(word) < 2 or word in STOP_WORDS or word.isdigit():
            continue
        words.append(word[:MAX_TOPIC_LENGTH])
    return words


def _add(target: list[str], word: str) -> None:
    if word not in target:
        target.append(word)


_default = LocalSteeringInterpreter()


async def interpret_steer(text: str, interpreter: SteeringInterpreter | None = None) -> SteerTopics:
    """The topics of a steering text, by `interpreter` (the local one by default)."""
    return await (interpreter or _default).interpret(text)
