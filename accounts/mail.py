"""The mails accounts sends: their jobs' names, their texts, and asking for the one that tells an
account its password changed. Each is sent by a job after the request's commit (`accounts.jobs`),
through `app.mail`."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.jobs import JobQueue
from app.mail import compose
from app.settings import Settings

PASSWORD_RESET_MAIL_JOB = "accounts.send_password_reset"  # noqa: S105 - a job name, not a secret
PASSWORD_CHANGED_MAIL_JOB = "accounts.send_password_changed"  # noqa: S105 - a job name, not a secret
# A mail the SMTP server did not take is tried again (SAQ's backoff from 1 s, with jitter: at most
# about a minute in all), then the outbox row replays it a few times more.
MAIL_JOB_RETRIES = 6
MAIL_JOB_TIMEOUT_SECONDS = 120

RESET_SUBJECT = "Reset your remixfeed password"
CHANGED_SUBJECT = "Your remixfeed password was changed"

# How a password came to change: by someone signed in who gave the old one, or by a reset link.
HowChanged = Literal["changed", "reset"]


def reset_mail(settings: Settings, to: str, token: str) -> EmailMessage:
    minutes = settings.password_reset_ttl_minutes
    lines = [
        "Someone (we hope you) asked to reset the password of the remixfeed account with this email",
        "address.",
        "",
    ]
    if settings.password_reset_url:
        link = settings.password_reset_url.replace("{token}", token)
        lines += [f"To choose a new password, open this link within {minutes} minutes:", "", link, ""]
        lines += ["Or give the app this reset token:", ""]
    else:
        lines += [f"To choose a new password within {minutes} minutes, give the app this reset token:", ""]
    lines += [
        f"Reset token: {token}",
        "",
        "It works once, and no longer once the password has changed. Setting a new password signs",
        "every device out of the account.",
        "",
        "If you did not ask for this, ignore this mail: your password stays as it is.",
    ]
    return compose(settings, to=to, subject=RESET_SUBJECT, text="\n".join(lines))


def changed_mail(settings: Settings, to: str, changed_at: datetime, how: HowChanged) -> EmailMessage:
    stamp = changed_at.strftime("%Y-%m-%d %H:%M UTC")
    way = (
        "with a password reset link sent to this address"
        if how == "reset"
        else "by someone signed in to it who gave the old password"
    )
    lines = [
        f"The password of the remixfeed account with this email address was changed on {stamp},",
        f"{way}. Every device signed in to the account before was signed out.",
        "",
        "If that was you, there is nothing more to do.",
        "",
        "If it was not, someone else has your password or can read your mail: secure this mailbox,",
        'then choose a new password ("Forgot password" in the app sends a reset link here).',
    ]
    return compose(settings, to=to, subject=CHANGED_SUBJECT, text="\n".join(lines))


def tell_password_changed(
    jobs: JobQueue, session: AsyncSession, user_id: object, changed_at: datetime, how: HowChanged
) -> None:
    """Once `session` commits the change, mail the account that its password changed: whoever did
    it, the owner hears of it at their address."""
    jobs.enqueue_after_commit(
        session,
        PASSWORD_CHANGED_MAIL_JOB,
        timeout_seconds=MAIL_JOB_TIMEOUT_SECONDS,
        retries=MAIL_JOB_RETRIES,
        user_id=str(user_id),
        changed_at=changed_at.isoformat(),
        how=how,
    )
