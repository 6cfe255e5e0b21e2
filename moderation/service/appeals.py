"""Appeals: the user a removal, warning, suspension or cameo rejection was about may appeal it
once, into the `appeals` queue. Deciding that item with restore_content grants the appeal, with
dismiss denies it (see decisions.py). The appeal of a decision that needed an admin (a
moderator's or an admin's suspension, or a decision on an escalated item) is filed escalated, for
admins only."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from app.errors import FieldError, ValidationFailed
from moderation import policy, queries
from moderation.errors import AppealExists, DecisionNotAppealable, DecisionNotFound
from moderation.models import Action, Appeal, Decision, ItemStatus, ModerationItem, Queue
from moderation.schemas import AppealIn, AppealOut

# Within the appeals queue: a suspension keeps someone out meanwhile, so it is looked at first.
_APPEAL_PRIORITY = {
    Action.SUSPEND_USER: 3,
    Action.REMOVE_CONTENT: 2,
    Action.REJECT_CAMEO: 2,
    Action.WARN_USER: 1,
}


class AppealService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def appeal(self, appellant: User, data: AppealIn) -> AppealOut:
        try:
            decision_id = UUID(data.decision_id)
        except ValueError as exc:
            raise DecisionNotFound() from exc
        # Locked, so two appeals of one decision cannot both get past the check below.
        decision = await self.session.get(Decision, decision_id, with_for_update=True)
        if decision is None or decision.affected_user_id != appellant.id:
            raise DecisionNotFound()
        if decision.action not in policy.APPEALABLE:
            raise DecisionNotAppealable()
        if await queries.appeal_of_decision(self.session, decision.id) is not None:
            raise AppealExists()
        original = await self.session.get(ModerationItem, decision.item_id)
        assert original is not None
        statement = data.statement.strip()
        if not statement:
            raise ValidationFailed(
                "The statement is empty",
                errors=[FieldError(field="statement", message="1 to 2000 characters")],
            )
        item = ModerationItem(
            queue=Queue.APPEALS.value,
            status=ItemStatus.OPEN.value,
            target_type="decision",
            target_id=decision.id,
            subject_user_id=appellant.id,
            snapshot={
                "type": "appeal",
                "statement": statement,
                "decision": {
                    "id": str(decision.id),
                    "action": decision.action,
                    "note": decision.note,
                    "reason": decision.reason,
                    "statement": decision.statement,
                    "duration_hours": decision.duration_hours,
                    "created_at": decision.created_at.isoformat(),
                },
                "original": {
                    "item_id": str(original.id),
                    "queue": original.queue,
                    "target": {"type": original.target_type, "id": str(original.target_id)},
                    "snapshot": original.snapshot,
                },
            },
            priority=_APPEAL_PRIORITY.get(Action(decision.action), 0) * policy.TIER,
            # What needed an admin to decide needs one to review: the item waits for admins only.
            escalated=await queries.decision_needs_admin(self.session, decision.id),
        )
        self.session.add(item)
        await self.session.flush()
        appeal = Appeal(
            decision_id=decision.id, appellant_id=appellant.id, item_id=item.id, statement=statement
        )
        self.session.add(appeal)
        await self.session.flush()
        return AppealOut(
            id=str(appeal.id),
            status="open",
            decision_id=str(decision.id),
            outcome=None,
            created_at=appeal.created_at,
        )
