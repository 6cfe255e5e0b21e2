"""Moderation failures with the stable codes from the API contract."""

from app.errors import Conflict, NotFound, ValidationFailed


class CannotReportSelf(ValidationFailed):
    code = "cannot_report_self"
    title = "You cannot report yourself or your own content"


class VideoAlreadyRemoved(Conflict):
    code = "video_removed"
    title = "This video is already taken down"


class ReportNotFound(NotFound):
    code = "report_not_found"
    title = "No such report"


class ReportExists(Conflict):
    code = "report_exists"
    title = "You already reported this, and that report is still open"


class QueueNotFound(NotFound):
    code = "queue_not_found"
    title = "No such queue"


class ItemNotFound(NotFound):
    code = "item_not_found"
    title = "No such moderation item"


class LeaseNotHeld(Conflict):
    code = "lease_not_held"
    title = "You do not hold the lease on this item"


class ActionNotApplicable(ValidationFailed):
    code = "action_not_applicable"
    title = "That action does not apply to this item"


class ReasonNotApplicable(ValidationFailed):
    code = "reason_not_applicable"
    title = "Only a removal, warning, suspension or cameo rejection takes a reason and a statement"


class DecisionNotFound(NotFound):
    code = "decision_not_found"
    title = "No such decision"


class DecisionNotAppealable(ValidationFailed):
    code = "decision_not_appealable"
    title = "Only a removal, a warning, a suspension or a cameo rejection can be appealed"


class AppealExists(Conflict):
    code = "appeal_exists"
    title = "This decision has already been appealed"


class TakedownNotFound(NotFound):
    code = "takedown_request_not_found"
    title = "No such takedown request"


class TakedownRequestExists(Conflict):
    code = "takedown_request_exists"
    title = "You already asked for this video to be taken down, and that request is still open"
