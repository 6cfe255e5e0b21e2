"""Request and response bodies for reports, queues, items, decisions, appeals and the audit log.
Inputs forbid unknown fields, so a protected field sent by a client is a 422 naming that field."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

TargetType = Literal["video", "comment", "user", "cameo"]
ReasonName = Literal[
    "harassment", "sexual", "violence", "hate", "self_harm", "spam", "likeness", "minor_safety", "other"
]
QueueName = Literal["reports", "takedowns", "cameo_verification", "appeals", "automated"]
ActionName = Literal[
    "dismiss",
    "remove_content",
    "restore_content",
    "warn_user",
    "suspend_user",
    "approve_cameo",
    "reject_cameo",
    "escalate",
]
Identifier = Annotated[str, Meta(max_length=64)]
Note = Annotated[str, Meta(min_length=1, max_length=2000, description="1-2000 characters")]

MAX_SUSPENSION_HOURS = 8760


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class ReportIn(Input):
    target_type: TargetType
    target_id: Identifier
    reason: ReasonName
    details: Annotated[str, Meta(max_length=1000, description="At most 1000 characters")] = ""


TakedownReason = Literal["my_likeness", "impersonation", "other"]


class TakedownIn(Input):
    video_id: Identifier
    reason: Annotated[
        TakedownReason,
        Meta(description="`my_likeness` (it shows me), `impersonation` (it pretends to be me), `other`"),
    ]
    details: Annotated[str, Meta(max_length=2000, description="At most 2000 characters")] = ""


class DecisionIn(Input):
    """`note` is the moderator's own, for moderators (the item history, the audit log); `reason` and
    `statement` are the statement of reasons the affected user is told."""

    action: ActionName
    note: Note
    reason: (
        Annotated[
            ReasonName,
            Meta(
                description="The rule broken (a report reason), for remove_content, warn_user, "
                "suspend_user and reject_cameo: when left out, inferred from the item (see README, "
                "Moderation); refused for the other actions (422 reason_not_applicable)"
            ),
        ]
        | None
    ) = None
    statement: (
        Annotated[
            str,
            Meta(
                max_length=1000,
                description="At most 1000 characters: the facts, told to the affected user with "
                "the reason (never the note); only for the actions that take a reason",
            ),
        ]
        | None
    ) = None
    duration_hours: (
        Annotated[
            int,
            Meta(ge=1, le=MAX_SUSPENSION_HOURS, description="1-8760; required for suspend_user, only for it"),
        ]
        | None
    ) = None


class AppealIn(Input):
    decision_id: Identifier
    statement: Note


class Target(msgspec.Struct, kw_only=True):
    type: str
    id: str


class ReportOut(msgspec.Struct, kw_only=True):
    """A report as its reporter sees it: `open` until a decision closes its item, then `closed`
    with the `outcome` (the action taken)."""

    id: str
    status: Literal["open", "closed"]
    target: Target
    reason: str
    details: str
    outcome: str | None
    created_at: datetime


class TakedownOut(msgspec.Struct, kw_only=True):
    """A takedown request as its requester sees it: `open` until a moderator decides, then
    `closed` with the `outcome` (the action taken, e.g. remove_content or dismiss)."""

    id: str
    status: Literal["open", "closed"]
    video_id: str
    reason: str
    details: str
    outcome: str | None
    created_at: datetime


class AppealOut(msgspec.Struct, kw_only=True):
    id: str
    status: Literal["open", "closed"]
    decision_id: str
    outcome: Literal["granted", "denied"] | None
    created_at: datetime


class QueueOut(msgspec.Struct, kw_only=True):
    name: QueueName
    open_count: Annotated[int, Meta(description="Items not yet decided, claimed ones included")]
    escalated_count: int
    waiting_for_another_admin_count: Annotated[
        int,
        Meta(
            description="Undecided items only an admin may take that no admin may take now (each "
            "decided what it appeals, reported it, is who it is about, or is suspended): they wait for "
            "another admin"
        ),
    ]
    oldest_age_seconds: Annotated[
        int | None, Meta(description="Age of the oldest undecided item; null when there is none")
    ]


class UserRef(msgspec.Struct, kw_only=True):
    id: str
    username: str


class Subject(msgspec.Struct, kw_only=True):
    """Whom the item is about, and what the target looked like when it entered the queue."""

    user: UserRef | None
    snapshot: dict[str, Any]


class ItemReport(msgspec.Struct, kw_only=True):
    id: str
    reason: str
    details: str
    reporter: str | None
    created_at: datetime


class DecisionOut(msgspec.Struct, kw_only=True):
    id: str
    action: str
    note: str
    reason: Annotated[str | None, Meta(description="The rule broken, told to the affected user")]
    statement: Annotated[str | None, Meta(description="What the affected user was told with the reason")]
    duration_hours: int | None
    moderator: str | None
    affected_user: str | None
    created_at: datetime


class ItemOut(msgspec.Struct, kw_only=True):
    id: str
    queue: QueueName
    status: Literal["open", "claimed", "closed"]
    escalated: bool
    waiting_for: Annotated[
        Literal["another_admin"] | None,
        Meta(
            description="`another_admin`: only an admin may take this item and no admin may now "
            "(nobody judges their own decision, a report of their own, or an item about themselves); "
            "it stays open until another admin can. Null otherwise."
        ),
    ]
    target: Target
    subject: Subject
    reports: list[ItemReport]
    report_count: int
    priority: int
    history: list[DecisionOut]
    lease_holder: str | None
    lease_expires_at: datetime | None
    created_at: datetime
    closed_at: datetime | None


class AuditEntryOut(msgspec.Struct, kw_only=True):
    id: str
    moderator: str | None
    action: str
    note: str
    reason: Annotated[str | None, Meta(description="The rule broken, told to the affected user")]
    statement: Annotated[str | None, Meta(description="What the affected user was told with the reason")]
    subject: dict[str, Any]
    item_id: str
    decision_id: str | None
    created_at: datetime
