"""Decisions on claimed items. Only the lease holder decides; the decision takes effect in the same
transaction as its Decision row and audit entry, and the people concerned are told once it has
committed (the notifications are written in the transaction, so they exist exactly when it does).

- dismiss: the item closes, nothing else changes (on a cameo_verification item, only once the
  cameo no longer waits for review: a waiting one is approved or rejected).
- remove_content: a video is taken down (404 to all but its author and its cameos' owners, gone
  from every list but those owners' appearances); a
  comment is hidden with its replies (kept, so a granted appeal brings the thread back); a cameo
  is revoked (by moderation: nothing may use it, and generations using it are cancelled).
- restore_content: a removed video is published again, a removed comment shown again with the
  replies removed with it; on an appeal item, the appeal is granted
  (undoing the removal, the suspension, or the cameo's rejection or revocation; a video or comment
  deleted since stays deleted, and granting only records the outcome). A published video featuring
  a cameo revoked since it was made is not brought back (its owner said no to every new viewer,
  which no moderator overrules): restore_content on another item about it is refused, and a
  granted appeal stays granted with the video removed; so does one while another removal of it
  stands. The appellant is told (`kept_removed` in `appeal_outcome`: `cameo_revoked`,
  `another_removal`).
- warn_user: the affected user is told.
- suspend_user: the affected user may read but not post, comment, generate or report for
  `duration_hours` (or longer, while an earlier suspension still runs past it).
- approve_cameo, reject_cameo: only on cameo_verification items. Approval makes the cameo active
  and registers it with the provider once committed; a rejection may be appealed.
- escalate: the item goes back to its queue for admins only; the lease ends.

A removal, warning, suspension or cameo rejection (policy.AGAINST_USER) names the rule broken,
`reason` (a report reason), and may state the facts for the user, `statement`; the other actions
take neither (422 reason_not_applicable). `reason` is optional (the v1 contract had none): without
one the service infers it (`_inferred_reason`) and stores it, so the affected user is always told
one. Both reach the affected user; the moderator's `note` never does.

An item that needs an admin (escalated, or the appeal of a decision that needed one) is decided by
an admin only (403 insufficient_role); anyone holding it may still escalate it.

Told: the item's subject (`moderation_decision`, with the decision id to appeal with, whether it
may be appealed, and the reason and statement of one against them) when the action affects them;
each reporter (`report_outcome`), or each takedown requester (`takedown_outcome`, subject the
request).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import get_args
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from accounts import notifications
from accounts.errors import InsufficientRole
from accounts.models import Role, User
from app.db import after_commit
from app.errors import AppError, FieldError, ValidationFailed
from app.jobs import JobQueue
from feed.service import moderation as feed_moderation
from moderation import metrics, policy, queries
from moderation.errors import ActionNotApplicable, ItemNotFound, LeaseNotHeld, ReasonNotApplicable
from moderation.models import Action, Decision, ItemStatus, ModerationItem, Queue
from moderation.schemas import DecisionIn, ItemOut, ReasonName
from moderation.service import audit, cameos, flags
from moderation.service.present import ItemPresenter
from moderation.service.queues import end_lease, holds_lease, parse_item_id

MODERATION_DECISION = "moderation_decision"
REPORT_OUTCOME = "report_outcome"
APPEAL_OUTCOME = "appeal_outcome"
TAKEDOWN_OUTCOME = "takedown_outcome"

# Why a granted appeal of a removal left the content down (`kept_removed` in `appeal_outcome`): another
# removal of it still stands; else the code of the widening hook's refusal (`cameo_revoked`).
ANOTHER_REMOVAL = "another_removal"

# Actions that change something for the item's subject, who is told and (for some) may appeal.
_AFFECTING = frozenset(
    {
        Action.REMOVE_CONTENT,
        Action.RESTORE_CONTENT,
        Action.WARN_USER,
        Action.SUSPEND_USER,
        Action.APPROVE_CAMEO,
        Action.REJECT_CAMEO,
    }
)


def _check_duration(data: DecisionIn, action: Action) -> None:
    if action == Action.SUSPEND_USER and data.duration_hours is None:
        raise ValidationFailed(
            "suspend_user needs duration_hours",
            errors=[FieldError(field="duration_hours", message="required for suspend_user (1-8760)")],
        )
    if action != Action.SUSPEND_USER and data.duration_hours is not None:
        raise ValidationFailed(
            "duration_hours is only for suspend_user",
            errors=[FieldError(field="duration_hours", message="only for suspend_user")],
        )


def _statement_of_reasons(data: DecisionIn, action: Action) -> tuple[str | None, str | None]:
    """(reason, statement) as sent: an action against the user may give both (a reason left out is
    inferred later), the others neither."""
    if action in policy.AGAINST_USER:
        # A statement of only blanks says nothing: none is given.
        return data.reason, (data.statement or "").strip() or None
    sent = [name for name in ("reason", "statement") if getattr(data, name) is not None]
    if sent:
        raise ReasonNotApplicable(
            f"{action.value} acts against nobody: it takes no {' and no '.join(sent)}",
            errors=[FieldError(field=name, message=f"not for {action.value}") for name in sent],
        )
    return None, None


# The rules a decision may name (the report reasons of POST /v1/reports), in the fixed order that
# breaks the last ties of an inferred reason.
_RULES: tuple[str, ...] = get_args(ReasonName)


def _likeliest(counts: dict[str, int]) -> str | None:
    """The rule named most often; a tie goes to the most severe (policy.SEVERITY), then to the
    first in _RULES. None when nothing names a rule."""
    named = {rule: count for rule, count in counts.items() if rule in _RULES and count > 0}
    if not named:
        return None
    return min(named, key=lambda rule: (-named[rule], -policy.severity(rule), _RULES.index(rule)))


async def _inferred_reason(session: AsyncSession, item: ModerationItem) -> str:
    """The reason of an action against a user whose moderator named none:
    - an item of the takedowns or cameo_verification queue is about a likeness: `likeness` (a
      takedown request's own reasons, my_likeness, impersonation or other, are no rules, and a
      cameo awaiting verification has no reports);
    - else the reason most reporters gave (each reporter counted once per reason);
    - else, on an automated item, the screening category most often flagged, as a report reason
      (flags.reason_of);
    - else `other`.
    Ties go to the most severe reason, then to the first in _RULES (`_likeliest`)."""
    if item.queue in (Queue.TAKEDOWNS, Queue.CAMEO_VERIFICATION):
        return "likeness"
    reason = _likeliest(await queries.report_reason_counts(session, item.id))
    if reason is None and item.queue == Queue.AUTOMATED:
        categories = Counter(
            flags.reason_of(str(category))
            for flag in (item.snapshot or {}).get("flags", [])
            for category in flag.get("categories", [])
        )
        reason = _likeliest(dict(categories))
    return reason or "other"


class DecisionService:
    def __init__(self, session: AsyncSession, jobs: JobQueue, retention_days: int) -> None:
        self.session = session
        self.jobs = jobs
        # How long a rejected or revoked cameo's recording is kept (for an appeal) before deletion.
        self.retention_days = retention_days
        self.presenter = ItemPresenter(session)

    async def decide(self, moderator: User, item_id: str, data: DecisionIn) -> ItemOut:
        item_uuid = parse_item_id(item_id)
        # Lock order: a cameo before its items (moderation/service/cameos.py), as a recording
        # submitted and a granted appeal filing it for review again take them.
        target = await queries.item_target(self.session, item_uuid)
        if target is not None and target[0] == "cameo":
            await cameos.lock(self.session, target[1])
        item = await queries.item_for_update(self.session, item_uuid)
        if item is None:
            raise ItemNotFound()
        now = await queries.db_now(self.session)
        if not holds_lease(item, moderator, now):
            raise LeaseNotHeld()
        action = Action(data.action)
        _check_duration(data, action)
        note = data.note.strip()
        if not note:
            raise ValidationFailed(
                "The note is empty", errors=[FieldError(field="note", message="1 to 2000 characters")]
            )
        if not policy.applicable(action, item.queue, item.target_type):
            raise ActionNotApplicable(
                f"{action.value} does not apply to a {item.target_type} in {item.queue}"
            )
        reason, statement = _statement_of_reasons(data, action)
        if action in policy.AGAINST_USER and reason is None:
            reason = await _inferred_reason(self.session, item)

        if (
            action != Action.ESCALATE
            and moderator.role != Role.ADMIN
            and await queries.item_needs_admin(self.session, item.id)
        ):
            # A lease taken as an admin outlives a change of role; so does an appeal item filed
            # before its decision came to need an admin.
            raise InsufficientRole("Only an admin may decide this item: escalate it")

        kept_removed: str | None = None
        if item.queue == Queue.APPEALS:
            affected_id, kept_removed = await self._decide_appeal(item, action)
        else:
            await self._enforce(moderator, item, action, data, now)
            affected_id = item.subject_user_id if action in _AFFECTING else None

        decision = Decision(
            item_id=item.id,
            moderator_id=moderator.id,
            action=action.value,
            note=note,
            reason=reason,
            statement=statement,
            duration_hours=data.duration_hours,
            affected_user_id=affected_id,
        )
        self.session.add(decision)
        await self.session.flush()
        names = await queries.usernames(self.session, [item.subject_user_id])
        await audit.record(
            self.session, item, decision, names.get(item.subject_user_id) if item.subject_user_id else None
        )
        self._observe_handling(item, now)

        if action == Action.ESCALATE:
            item.status = ItemStatus.OPEN.value
            item.escalated = True
        else:
            item.status = ItemStatus.CLOSED.value
            item.closed_at = now
        end_lease(item)
        await self.session.flush()
        if action != Action.ESCALATE:
            await self._notify(item, decision, kept_removed=kept_removed)
        return await self.presenter.one(item, now)

    def _observe_handling(self, item: ModerationItem, now: datetime) -> None:
        if item.claimed_at is None:
            return
        queue, seconds = item.queue, (now - item.claimed_at).total_seconds()

        async def observe() -> None:
            metrics.observe_handling(queue, seconds)

        after_commit(self.session, observe)

    # --- effects -----------------------------------------------------------------------------

    async def _enforce(
        self, moderator: User, item: ModerationItem, action: Action, data: DecisionIn, now: datetime
    ) -> None:
        if action == Action.REMOVE_CONTENT:
            await self._remove(item)
        elif action == Action.RESTORE_CONTENT and item.target_type == "comment":
            if not await feed_moderation.restore_comment(self.session, item.target_id):
                raise ActionNotApplicable(
                    "The comment is not removed, or a removed comment above it still hides it, so "
                    "there is nothing to restore"
                )
        elif action == Action.RESTORE_CONTENT:
            video = await feed_moderation.lock_video(self.session, item.target_id)
            try:
                restored = video is not None and await feed_moderation.restore_video(self.session, video)
            except AppError as refusal:  # a widening hook's: nothing was changed
                raise ActionNotApplicable(
                    f"The video cannot be brought back ({refusal.code}: {refusal.detail}); dismiss the "
                    "item instead"
                ) from refusal
            if not restored:
                raise ActionNotApplicable("The video is not removed, so there is nothing to restore")
        elif action in (Action.WARN_USER, Action.SUSPEND_USER):
            user = (
                await self.session.get(User, item.subject_user_id, with_for_update=True)
                if item.subject_user_id is not None
                else None
            )
            if user is None:
                raise ActionNotApplicable("The account this item is about no longer exists")
            if action == Action.SUSPEND_USER and user.role != Role.USER and moderator.role != Role.ADMIN:
                # Otherwise one report and any moderator could lock an admin out of moderation.
                raise ActionNotApplicable("Only an admin may suspend a moderator or an admin: escalate it")
            if action == Action.SUSPEND_USER:
                assert data.duration_hours is not None
                # Suspensions run side by side: a shorter one never cuts a longer one short (only
                # granting its appeal lifts a suspension, see _undo).
                until = now + timedelta(hours=data.duration_hours)
                if user.suspended_until is None or user.suspended_until < until:
                    user.suspended_until = until
        elif action == Action.APPROVE_CAMEO:
            await cameos.approve(self.session, self.jobs, item.target_id)
        elif action == Action.REJECT_CAMEO:
            await cameos.reject(self.session, item.target_id, retention_days=self.retention_days)
        elif (
            action == Action.DISMISS
            and item.queue == Queue.CAMEO_VERIFICATION
            and await cameos.still_pending(self.session, item.target_id)
        ):
            raise ActionNotApplicable("The cameo is waiting for review: approve or reject it")

    async def _remove(self, item: ModerationItem) -> None:
        if item.target_type == "video":
            video = await feed_moderation.lock_video(self.session, item.target_id)
            if video is None or video.deleted_at is not None:
                raise ActionNotApplicable("The video no longer exists; dismiss the item instead")
            await feed_moderation.remove_video(self.session, video)  # already removed: nothing more to do
        elif item.target_type == "cameo":
            await cameos.revoke(self.session, item.target_id, retention_days=self.retention_days)
        elif not await feed_moderation.remove_comment(self.session, item.target_id):
            raise ActionNotApplicable("The comment no longer exists; dismiss the item instead")

    async def _decide_appeal(self, item: ModerationItem, action: Action) -> tuple[UUID | None, str | None]:
        """restore_content grants the appeal (undoing what it appealed), dismiss denies it. The
        appellant to tell, and why a granted removal's content stays down (None when it does not)."""
        appeal = await queries.appeal_of_item(self.session, item.id)
        if appeal is None:  # an appeals item is only ever made with its appeal
            raise ActionNotApplicable("This item has no appeal")
        if action == Action.ESCALATE:
            return None, None
        kept_removed = None
        if action == Action.RESTORE_CONTENT:
            appealed = await self.session.get(Decision, appeal.decision_id)
            if appealed is not None:
                kept_removed = await self._undo(appealed)
            appeal.outcome = "granted"
        else:
            appeal.outcome = "denied"
        await self.session.flush()
        return appeal.appellant_id, kept_removed

    async def _undo(self, appealed: Decision) -> str | None:
        """Undo what a granted appeal appealed, as far as it may be; why a removed video or comment
        stays down (None when it comes back, or there was nothing to bring back)."""
        original = await self.session.get(ModerationItem, appealed.item_id)
        if (
            appealed.action == Action.REMOVE_CONTENT
            and original is not None
            and original.target_type in ("video", "comment")
        ):
            # The video's row lock first (every removal and restore of it or its comments takes
            # it), so two appeals granted at once each see whether the other was.
            await feed_moderation.lock_video_of(self.session, original.target_type, original.target_id)
            if await queries.removal_still_stands(
                self.session,
                target_type=original.target_type,
                target_id=original.target_id,
                granted_decision_id=appealed.id,
            ):
                # Another removal of it (another item, say a takedown) still stands: granting this
                # appeal records it, and the content stays down until that one is undone too.
                return ANOTHER_REMOVAL
        if (
            appealed.action == Action.REMOVE_CONTENT
            and original is not None
            and original.target_type == "video"
        ):
            video = await feed_moderation.lock_video(self.session, original.target_id)
            if video is not None:
                try:
                    await feed_moderation.restore_video(self.session, video)
                except AppError as refusal:
                    # A cameo in it revoked since: granting records that the removal was wrong,
                    # and the video stays removed (restore_video changed nothing).
                    return refusal.code
        elif (
            appealed.action == Action.REMOVE_CONTENT
            and original is not None
            and original.target_type == "comment"
        ):
            # Nothing to bring back when the thread was deleted since: granting records it.
            await feed_moderation.restore_comment(self.session, original.target_id)
        elif (
            original is not None
            and original.target_type == "cameo"
            and appealed.action
            in (
                Action.REMOVE_CONTENT,
                Action.REJECT_CAMEO,
            )
        ):
            await cameos.reinstate(self.session, self.jobs, original.target_id)
        elif appealed.action == Action.SUSPEND_USER and appealed.affected_user_id is not None:
            user = await self.session.get(User, appealed.affected_user_id, with_for_update=True)
            if user is not None:
                # Lift this suspension only: another, later one still stands.
                user.suspended_until = await queries.suspension_end_without(
                    self.session, user_id=user.id, granted_decision_id=appealed.id
                )
        # A warning has nothing to undo.
        return None

    # --- who is told -------------------------------------------------------------------------

    async def _notify(self, item: ModerationItem, decision: Decision, *, kept_removed: str | None) -> None:
        video_id = {"video_id": str(item.target_id)} if item.target_type == "video" else {}
        if item.queue == Queue.APPEALS:
            appeal = await queries.appeal_of_item(self.session, item.id)
            if appeal is not None and decision.affected_user_id is not None:
                kept = {"kept_removed": kept_removed} if kept_removed is not None else {}
                await notifications.notify(
                    self.session,
                    user_id=decision.affected_user_id,
                    kind=APPEAL_OUTCOME,
                    actor_id=None,
                    subject_type="appeal",
                    subject_id=appeal.id,
                    data={"excerpt": appeal.outcome or "", **kept},
                    dedupe_key=f"appeal_outcome:{appeal.id}",
                )
            return
        if decision.affected_user_id is not None:
            # The decision's id is what the user appeals with; the note stays with moderators.
            reasons = {
                key: value
                for key, value in (("reason", decision.reason), ("statement", decision.statement))
                if value is not None
            }
            await notifications.notify(
                self.session,
                user_id=decision.affected_user_id,
                kind=MODERATION_DECISION,
                actor_id=None,
                subject_type="decision",
                subject_id=decision.id,
                data={
                    "excerpt": decision.action,
                    **video_id,
                    **reasons,
                    "appealable": decision.action in policy.APPEALABLE,
                },
                dedupe_key=f"decision:{decision.id}",
            )
        takedown = item.queue == Queue.TAKEDOWNS
        kind, subject_type = (
            (TAKEDOWN_OUTCOME, "takedown_request") if takedown else (REPORT_OUTCOME, "report")
        )
        reporters = await queries.first_report_per_reporter(self.session, item.id)
        for reporter_id, report_id in reporters.items():
            await notifications.notify(
                self.session,
                user_id=reporter_id,
                kind=kind,
                actor_id=None,
                subject_type=subject_type,
                subject_id=report_id,
                data={"excerpt": decision.action},
                dedupe_key=f"{kind}:{decision.id}:{reporter_id}",
            )
