"""How urgent an item is, and which actions make sense for it.

Priority: the severity of the gravest reason among an item's reports decides the tier, and within
a tier more distinct reporters come first. A tier is worth more than any number of reporters, so
one report of a child in danger goes before a thousand reports of spam. Claims then take the
oldest item among equals.
"""

from __future__ import annotations

from collections.abc import Iterable

from moderation.models import Action, Queue

SEVERITY: dict[str, int] = {
    "minor_safety": 7,
    "self_harm": 7,
    "sexual": 6,
    "violence": 5,
    "hate": 4,
    "harassment": 3,
    "likeness": 2,
    # Takedown requests (the cameo work) weigh like likeness reports.
    "my_likeness": 2,
    "impersonation": 2,
    "spam": 1,
    "other": 1,
}
TIER = 10_000
MAX_REPORTER_WEIGHT = TIER - 1


def severity(reason: str) -> int:
    return SEVERITY.get(reason, 1)


def priority(reasons: Iterable[str], distinct_reporters: int) -> int:
    gravest = max((severity(reason) for reason in reasons), default=0)
    return gravest * TIER + min(distinct_reporters, MAX_REPORTER_WEIGHT)


# Actions against the affected user. Each names the rule broken (`reason`, one of the report
# reasons) and may state the facts (`statement`): the user is told both, the statement of reasons
# the EU Digital Services Act (Art. 17) asks for. The other actions take neither.
AGAINST_USER = frozenset({Action.REMOVE_CONTENT, Action.WARN_USER, Action.SUSPEND_USER, Action.REJECT_CAMEO})

# Actions that did something to the affected user, and so can be appealed (once): those against
# them. Granting the appeal of a removal restores the video, or reinstates the cameo it revoked;
# of a rejected cameo, reinstates it.
APPEALABLE = AGAINST_USER

# Actions that end an item; escalate sends it back to its queue for an admin.
CLOSING = frozenset(set(Action) - {Action.ESCALATE})

CAMEO_ACTIONS = frozenset({Action.APPROVE_CAMEO, Action.REJECT_CAMEO})

# On a cameo_verification item: approve or reject the recording. dismiss only closes an item whose
# cameo is no longer waiting for review (its owner revoked it meanwhile).
VERIFICATION_ACTIONS = frozenset({*CAMEO_ACTIONS, Action.DISMISS, Action.ESCALATE})

# On an appeal item: restore_content grants it, dismiss denies it.
APPEAL_ACTIONS = frozenset({Action.RESTORE_CONTENT, Action.DISMISS, Action.ESCALATE})

# What each action may be applied to (target types of the item), in the reports, takedowns and
# automated queues. remove_content on a cameo revokes it.
TARGETS_OF: dict[Action, frozenset[str]] = {
    Action.DISMISS: frozenset({"video", "comment", "user", "cameo"}),
    Action.ESCALATE: frozenset({"video", "comment", "user", "cameo"}),
    Action.REMOVE_CONTENT: frozenset({"video", "comment", "cameo"}),
    Action.RESTORE_CONTENT: frozenset({"video", "comment"}),
    Action.WARN_USER: frozenset({"video", "comment", "user", "cameo"}),
    Action.SUSPEND_USER: frozenset({"video", "comment", "user", "cameo"}),
    Action.APPROVE_CAMEO: frozenset(),
    Action.REJECT_CAMEO: frozenset(),
}


def applicable(action: Action, queue: str, target_type: str) -> bool:
    if queue == Queue.APPEALS:
        return action in APPEAL_ACTIONS
    if queue == Queue.CAMEO_VERIFICATION:
        return action in VERIFICATION_ACTIONS
    return target_type in TARGETS_OF[action]
