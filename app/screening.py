"""Automated screening of what users write (generation prompts, video captions, comments) before it
is accepted, behind one small interface so domains need not know which screener runs.

A `ContentScreen` answers a `Verdict`:
- `allow`: accept;
- `flag`: borderline; accept, and queue it for a human (the `automated` moderation queue);
- `refuse`: a clear violation; the request fails with 422 (`prompt_rejected` for prompts,
  `content_rejected` for captions and comments) and nothing is created.

Screeners (`create_content_screen` picks, `content_gate_for` keeps one per process):
- `LocalRules`: a few regular expressions for clear violations only. Always the first, cheap pass;
  the only screener when there is no moderation endpoint at all (or REMIXFEED_SCREENING_MODE=local).
- `OpenAIModerationScreen`: the `openai` SDK's `moderations.create` (omni-moderation-latest) against
  the same endpoint as the video provider: OpenAI with OPENAI_API_KEY (and OPENAI_BASE_URL when
  set), otherwise the local simulator at OPENAI_BASE_URL. Thresholds are at `judge`.

Flag job contract. Domains never import moderation; when a flagged text has been stored they
enqueue, after the request commits, a job by name:

    moderation.flag_content(
        target_type: "generation" | "video" | "comment",  # the row the text belongs to
        target_id: str,                                  # its UUID
        categories: list[str],                           # moderation category names, such as
                                                         # "violence" or "harassment/threatening";
                                                         # ["screening_unavailable"] when the
                                                         # screener failed and nothing was judged
        text_kind: "prompt" | "caption" | "comment",     # which text of the target was flagged
        text_sha: str,                                   # text_fingerprint() of that text, as
                                                         # screened (optional: jobs queued before
                                                         # it existed carry none)
    )

The moderation domain registers the handler, which turns it into an item of the `automated` queue
(joining the target's open item there, if any), unless the target's text has changed since (its
fingerprint no longer matches): the new text was screened on its own when it was written, so the
old verdict says nothing about it. A missing handler loses nothing already accepted:
the text stands as it would have without screening.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass
from typing import Literal, Protocol, cast
from uuid import UUID

import httpx2
import openai
import structlog
from openai import AsyncOpenAI
from openai.types import Moderation
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import AppError, ValidationFailed
from app.jobs import JobQueue
from app.resources import Resources
from app.settings import Settings

log = structlog.get_logger(__name__)

FLAG_CONTENT_JOB = "moderation.flag_content"
MODERATION_MODEL = "omni-moderation-latest"
# The category a flag carries when the screener could not judge the text at all.
SCREENING_UNAVAILABLE = "screening_unavailable"
# Categories where any flag from the endpoint is a clear violation, whatever its score: these are
# never published, not even while a human looks at them.
ZERO_TOLERANCE = frozenset({"sexual/minors"})

TextKind = Literal["prompt", "caption", "comment"]
TargetType = Literal["generation", "video", "comment"]


class Decision(enum.StrEnum):
    ALLOW = "allow"
    FLAG = "flag"
    REFUSE = "refuse"


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    # Moderation category names behind a flag or refusal (empty when allowed).
    categories: tuple[str, ...] = ()
    # Which screener decided: "local_rules", "moderation" or "none".
    source: str = "none"

    @property
    def refused(self) -> bool:
        return self.decision == Decision.REFUSE

    @property
    def flagged(self) -> bool:
        return self.decision == Decision.FLAG


ALLOW = Verdict(Decision.ALLOW)


class ContentScreen(Protocol):
    async def screen(self, text: str, *, kind: str) -> Verdict:
        """Judge `text` (a prompt, caption or comment, named by `kind`). Never raises for an
        unreachable screener: that is a flag, so a human looks at what could not be checked."""
        ...

    async def close(self) -> None: ...


class ContentRejected(ValidationFailed):
    code = "content_rejected"
    title = "The text breaks the content rules"


# --- local rules ----------------------------------------------------------------------------------

# Clear violations only, with the moderation category each one stands for: sexual content involving
# minors, and instructions for mass harm. Anything subtler is the moderation endpoint's job.
_CLEAR_VIOLATIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"\b(child|children|minor|minors|kid|kids|underage|teen|teens)\b.{0,40}"
            r"\b(nude|naked|sexual|porn\w*)\b"
        ),
        "sexual/minors",
    ),
    (
        re.compile(
            r"\b(nude|naked|sexual|porn\w*)\b.{0,40}\b(child|children|minor|minors|kid|kids|underage)\b"
        ),
        "sexual/minors",
    ),
    (
        re.compile(
            r"\b(how to|instructions? for|steps to)\b.{0,30}\b(build|make)\b.{0,20}"
            r"\b(bomb|nerve agent|bioweapon)\b"
        ),
        "illicit/violent",
    ),
)


class LocalRules:
    """Refuses the clear violations above; allows everything else. No network, no flags."""

    async def screen(self, text: str, *, kind: str) -> Verdict:
        normalized = " ".join(text.lower().split())
        categories = tuple(
            dict.fromkeys(category for rule, category in _CLEAR_VIOLATIONS if rule.search(normalized))
        )
        return Verdict(Decision.REFUSE, categories, "local_rules") if categories else ALLOW

    async def close(self) -> None:
        return None


# --- the moderation endpoint ----------------------------------------------------------------------


def judge(result: Moderation, refuse_score: float) -> Verdict:
    """Thresholds, applied to one `openai.types.Moderation` result:
    - refuse when any category score is at or above `refuse_score` (REMIXFEED_SCREENING_REFUSE_SCORE,
      default 0.9: the model is confident), or when the endpoint flags a ZERO_TOLERANCE category at
      any score;
    - flag when the endpoint flags the text (its own per-category thresholds) below that;
    - allow otherwise."""
    scores: dict[str, float | None] = result.category_scores.model_dump(by_alias=True)
    marked: dict[str, bool | None] = result.categories.model_dump(by_alias=True)
    flagged = sorted(name for name, on in marked.items() if on)
    confident = sorted(name for name, score in scores.items() if score is not None and score >= refuse_score)
    if confident:
        return Verdict(Decision.REFUSE, tuple(confident), "moderation")
    zero_tolerance = [name for name in flagged if name in ZERO_TOLERANCE]
    if zero_tolerance:
        return Verdict(Decision.REFUSE, tuple(zero_tolerance), "moderation")
    if result.flagged or flagged:
        if not flagged:  # flagged overall with no category marked: name the likeliest one
            flagged = [max(scores, key=lambda name: scores[name] or 0.0)]
        return Verdict(Decision.FLAG, tuple(flagged), "moderation")
    return ALLOW


class OpenAIModerationScreen:
    """`AsyncOpenAI().moderations.create` against OpenAI or any compatible base URL (the simulator)."""

    def __init__(
        self, *, api_key: str, base_url: str | None, timeout_seconds: float, refuse_score: float
    ) -> None:
        # No SDK retries: screening sits in the request path, and a failure is already safe (flag).
        self._client = AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=httpx2.Timeout(timeout_seconds, connect=min(2.0, timeout_seconds)),
        )
        self.refuse_score = refuse_score

    async def screen(self, text: str, *, kind: str) -> Verdict:
        if not text.strip():
            return ALLOW
        try:
            response = await self._client.moderations.create(model=MODERATION_MODEL, input=text)
            result = response.results[0]
        except (openai.OpenAIError, ValueError, IndexError) as exc:
            # The screener is down, slow (timeout), refusing us or answering nonsense. Failing the
            # user's request for that would make every outage of the endpoint an outage of posting;
            # accepting unchecked text silently would let anything through while it lasts. So the
            # text is accepted and flagged: a human reviews what the machine could not.
            log.warning("screening_unavailable", kind=kind, error=type(exc).__name__, detail=str(exc)[:200])
            return Verdict(Decision.FLAG, (SCREENING_UNAVAILABLE,), "moderation")
        return judge(result, self.refuse_score)

    async def close(self) -> None:
        await self._client.close()


class LayeredScreen:
    """The local rules first (cheap, and they hold when the endpoint is down), then the endpoint."""

    def __init__(self, first: ContentScreen, then: ContentScreen) -> None:
        self.first = first
        self.then = then

    async def screen(self, text: str, *, kind: str) -> Verdict:
        verdict = await self.first.screen(text, kind=kind)
        if verdict.refused:
            return verdict
        return await self.then.screen(text, kind=kind)

    async def close(self) -> None:
        await self.first.close()
        await self.then.close()


def create_content_screen(settings: Settings) -> ContentScreen:
    """The local rules, then the moderation endpoint of the video provider's API: OpenAI (or
    OPENAI_BASE_URL) with a key, the simulator at OPENAI_BASE_URL without one. With neither, or
    with REMIXFEED_SCREENING_MODE=local, the local rules alone."""
    if settings.screening_mode == "local":
        return LocalRules()
    if settings.openai_api_key:
        api_key, base_url = settings.openai_api_key, settings.openai_base_url
    elif settings.openai_base_url:
        api_key, base_url = "simulator", settings.openai_base_url
    else:
        return LocalRules()
    endpoint = OpenAIModerationScreen(
        api_key=api_key,
        base_url=base_url,
        timeout_seconds=settings.screening_timeout_seconds,
        refuse_score=settings.screening_refuse_score,
    )
    return LayeredScreen(LocalRules(), endpoint)


# --- what services use ----------------------------------------------------------------------------


class ContentGate:
    """A screen and the job queue: services `admit` text before accepting it, and once the row it
    belongs to exists, `flag_after_commit` sends a borderline verdict to human review."""

    def __init__(self, screen: ContentScreen, jobs: JobQueue) -> None:
        self.screen = screen
        self.jobs = jobs

    async def admit(self, text: str, *, kind: TextKind, refusal: type[AppError] = ContentRejected) -> Verdict:
        """The verdict on `text`; raises `refusal` (422) for a clear violation."""
        verdict = await self.screen.screen(text, kind=kind)
        if verdict.refused:
            log.info("content_refused", kind=kind, categories=list(verdict.categories), source=verdict.source)
            raise refusal(f"This {kind} breaks the content rules ({', '.join(verdict.categories)})")
        return verdict

    def flag_after_commit(
        self,
        session: AsyncSession,
        verdict: Verdict,
        *,
        target_type: TargetType,
        target_id: UUID | str,
        text_kind: TextKind,
        text: str,
    ) -> None:
        """Enqueue FLAG_CONTENT_JOB (see the module docstring) once `session` commits, if flagged.
        `text` is the text as screened and stored: the job files nothing if it has changed by the
        time it runs (a replay from the outbox may run long after an edit)."""
        if not verdict.flagged:
            return
        text_sha = text_fingerprint(text)
        # Keyed by the text it flags, not a fresh key per flag: a job can be enqueued twice (kept
        # in deferred_jobs after a lost Redis reply, yet queued in SAQ as well), and the second
        # copy must collapse into the first while that one is pending. Once it has run, the handler
        # drops a flag its target's open item already carries, or its decided item carried, so a
        # later copy files nothing either. The fingerprint is in the key: a changed text's job
        # must not collapse into the pending job of the text it replaced, which will file nothing.
        self.jobs.enqueue_after_commit(
            session,
            FLAG_CONTENT_JOB,
            key=flag_job_key(target_type, target_id, text_kind, text_sha),
            target_type=target_type,
            target_id=str(target_id),
            categories=list(verdict.categories),
            text_kind=text_kind,
            text_sha=text_sha,
        )


def text_fingerprint(text: str) -> str:
    """A short hash of a flagged text, carried by its job to tell whether the text still stands."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def flag_job_key(target_type: str, target_id: UUID | str, text_kind: str, text_sha: str) -> str:
    """FLAG_CONTENT_JOB's key: one per flagged text (the target, which of its texts, and the
    text's fingerprint)."""
    return f"{FLAG_CONTENT_JOB}:{target_type}:{target_id}:{text_kind}:{text_sha}"


_SCREEN = "app.screening"


def content_gate_for(resources: Resources) -> ContentGate:
    """One screen (and its HTTP client) per process, closed with the process's resources."""
    screen = cast("ContentScreen | None", resources.extras.get(_SCREEN))
    if screen is None:
        screen = create_content_screen(resources.settings)
        resources.extras[_SCREEN] = screen
        resources.closers.append(screen.close)
    return ContentGate(screen, resources.jobs)
