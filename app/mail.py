"""Outgoing mail: messages built with the standard library's `EmailMessage`, delivered by the backend
REMIXFEED_MAIL_BACKEND names.

- `file` (the default, for development): each message is written as an .eml file under
  `REMIXFEED_DATA_DIR/mail/`, where a developer opens it (any mail client reads .eml).
- `smtp` (production): sent through REMIXFEED_SMTP_HOST with aiosmtplib, one connection per message.

Mail is sent from jobs, never inside a request (a slow or failing SMTP server must not hold a
request, and a job that fails is retried): a domain keeps a mail job in its request's outbox
(`JobQueue.enqueue_after_commit`), and the job builds the message and calls `send_mail`.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Protocol

import aiosmtplib
import anyio.to_thread
import structlog

from app.settings import Settings

log = structlog.get_logger(__name__)

# The From when REMIXFEED_MAIL_FROM is unset (the file backend only: smtp requires it).
DEVELOPMENT_SENDER = "remixfeed <no-reply@remixfeed.localhost>"


class MailDeliveryError(RuntimeError):
    """The message could not be handed over; the job sending it fails, and is retried."""


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


def sender(settings: Settings) -> str:
    return settings.mail_from.strip() or DEVELOPMENT_SENDER


def compose(settings: Settings, *, to: str, subject: str, text: str) -> EmailMessage:
    """A plain-text message from the configured sender, with the headers a receiving server expects
    (Date, Message-ID: some refuse or mark as spam a message without them)."""
    message = EmailMessage()
    message["From"] = sender(settings)
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    # A domain given: make_msgid would otherwise look up this host's name (a DNS call each time).
    domain = parseaddr(sender(settings))[1].rpartition("@")[2] or "remixfeed.localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(text)
    return message


class FileMailer:
    """Writes each message to `directory` as `<time>-<id>.eml`, whole or not at all (written aside,
    then renamed), readable by its owner only: a reset mail holds a credential."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, message: EmailMessage) -> None:
        data = bytes(message)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.directory / f"{stamp}-{uuid.uuid4().hex[:12]}.eml"

        def write() -> None:
            self.directory.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".eml.partial")
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(data)
            os.replace(partial, path)

        await anyio.to_thread.run_sync(write)
        log.info("mail_written", path=str(path), subject=message["Subject"])


class SmtpMailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, message: EmailMessage) -> None:
        settings = self.settings
        try:
            await aiosmtplib.send(
                message,
                hostname=settings.smtp_host,
                port=settings.smtp_port or None,
                username=settings.smtp_username or None,
                password=settings.smtp_password or None,
                use_tls=settings.smtp_security == "tls",
                # Required, not opportunistic: a server that offers no STARTTLS is refused rather
                # than sent a credential in clear text.
                start_tls=settings.smtp_security == "starttls",
                timeout=settings.smtp_timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailDeliveryError(f"SMTP delivery to {settings.smtp_host} failed: {exc}") from exc
        log.info("mail_sent", subject=message["Subject"])


def warn_if_mail_stays_local(settings: Settings) -> None:
    """A job worker on real servers with the development backend writes every mail (password
    resets) to its own disk, where nobody reads it: said once at start, as a warning."""
    if settings.mail_backend == "file":
        log.warning(
            "mail_written_to_files",
            directory=str(settings.data_dir / "mail"),
            hint="set REMIXFEED_MAIL_BACKEND=smtp and REMIXFEED_SMTP_HOST to send mail",
        )


def create_mailer(settings: Settings) -> Mailer:
    if settings.mail_backend == "smtp":
        return SmtpMailer(settings)
    return FileMailer(settings.data_dir / "mail")


async def send_mail(settings: Settings, message: EmailMessage) -> None:
    """Deliver `message` with the configured backend (made for each message: it holds no
    connection, and the settings it reads are the process's)."""
    await create_mailer(settings).send(message)
