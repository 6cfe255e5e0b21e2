"""Password reset by email: POST /v1/auth/password-reset answers the same 202 whatever the email, and
for an account a job mails a reset token after the commit (the file backend in these tests, which
the test app's in-process worker writes to REMIXFEED_DATA_DIR/mail, and SMTP through a real local
aiosmtpd server); POST /v1/auth/password-reset/confirm sets the password with it once, signing
every session out, as a password change does."""

from __future__ import annotations

import asyncio
import re
import stat
import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.mail import CHANGED_SUBJECT, PASSWORD_CHANGED_MAIL_JOB, PASSWORD_RESET_MAIL_JOB, RESET_SUBJECT
from accounts.service import password_reset
from accounts.service.password_reset import ACCEPTED
from app.db import advisory_key
from app.deferred_jobs import DeferredJob
from app.factory import create_app
from app.resources import Resources
from tests.accounts.helpers import assert_problem, bearer, error_fields, me
from tests.accounts.test_account_deletion import delete_account
from tests.accounts.test_password_change import change_password
from tests.accounts.test_tokens import assert_tokens, log_in, refresh, tight_app
from tests.conftest import TEST_SECRET, make_settings, serve_in_process
from tests.factories import Actor
from tests.harness import free_port
from tests.locks import someone_waits_for_a_lock

NEW_PASSWORD = "a freshly reset passphrase"
_TOKEN_LINE = re.compile(r"^Reset token: ([A-Za-z0-9_.-]+)", re.MULTILINE)


# --- the mailbox: what the file backend wrote -----------------------------------------------


def mail_dir(resources: Resources) -> Path:
    return resources.settings.data_dir / "mail"


@pytest.fixture(autouse=True)
def empty_mailbox(clean_data: None, resources: Resources) -> None:
    """The test app's mail directory is the run's: each test starts with it empty (once the data
    is wiped, so a mail job of an earlier test finds no account and writes nothing after this)."""
    for path in mail_dir(resources).glob("*.eml"):
        path.unlink()


def read_mail(path: Path) -> EmailMessage:
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def mailbox(
    resources: Resources, to: str | None = None, subject: str | None = RESET_SUBJECT
) -> list[EmailMessage]:
    """Every mail written so far (to `to`, when given; with `subject`, reset mails by default, or
    any when None), oldest first."""
    messages = [read_mail(path) for path in sorted(mail_dir(resources).glob("*.eml"))]
    return [
        message
        for message in messages
        if (to is None or message["To"] == to) and (subject is None or message["Subject"] == subject)
    ]


async def mails_to(
    resources: Resources, to: str, count: int = 1, subject: str = RESET_SUBJECT, within: float = 20
) -> list[EmailMessage]:
    """Once `count` mails to `to` with `subject` (reset mails by default) have been written: them."""
    for _ in range(int(within / 0.05)):
        found = mailbox(resources, to, subject)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    everything = mailbox(resources, subject=None)
    raise AssertionError(f"{count} mail(s) to {to} were not written within {within} s: {everything}")


async def every_mail_job_has_run(resources: Resources, within: float = 30) -> None:
    """Once no mail job is kept in the outbox: each one asked for has run (its row is deleted once
    it has), so every mail it was to send is written."""
    for _ in range(int(within / 0.05)):
        async with resources.engine.connect() as connection:
            kept = await connection.scalar(
                select(func.count()).where(
                    DeferredJob.function.in_([PASSWORD_RESET_MAIL_JOB, PASSWORD_CHANGED_MAIL_JOB])
                )
            )
        if kept == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("reset mail jobs still pending")


def token_in(message: EmailMessage) -> str:
    found = _TOKEN_LINE.search(body_of(message))
    assert found, body_of(message)
    return found[1]


def body_of(message: EmailMessage) -> str:
    content = message.get_content()
    assert isinstance(content, str)
    return content


# --- the requests ---------------------------------------------------------------------------


async def ask_reset(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/v1/auth/password-reset", json={"email": email})


async def confirm(client: httpx.AsyncClient, token: str, new_password: str = NEW_PASSWORD) -> httpx.Response:
    return await client.post(
        "/v1/auth/password-reset/confirm", json={"token": token, "new_password": new_password}
    )


def assert_accepted(response: httpx.Response) -> None:
    assert response.status_code == 202, response.text
    assert response.json() == {"detail": ACCEPTED}


async def reset_token(client: httpx.AsyncClient, resources: Resources, actor: Actor, nth: int = 1) -> str:
    """The token of the `nth` reset mail to `actor`, asked for here."""
    assert_accepted(await ask_reset(client, actor.email))
    return token_in((await mails_to(resources, actor.email, nth))[nth - 1])


# --- the way through --------------------------------------------------------------------------


async def test_a_reset_sets_the_new_password_once_and_signs_every_session_out(client, users, resources):
    alice = await users.create("alice")
    laptop = assert_tokens(await log_in(client, "alice", alice.password), "alice")

    # Any case of the address names the account, as the login's does.
    assert_accepted(await ask_reset(client, "Alice@EXAMPLE.test"))
    [mail] = await mails_to(resources, alice.email)
    token = token_in(mail)
    done = await confirm(client, token)

    assert mail["Subject"] == RESET_SUBJECT
    assert mail["From"] and mail["Date"] and mail["Message-ID"]
    [written] = mail_dir(resources).glob("*.eml")
    assert stat.S_IMODE(written.stat().st_mode) == 0o600  # it holds a credential
    assert done.status_code == 204, done.text
    # Every session is over: access tokens refused (their logins ended), refresh tokens revoked.
    for actor_tokens in ({"access_token": alice.access_token, "refresh_token": alice.refresh_token}, laptop):
        assert_problem(await client.get("/v1/me", headers=bearer(actor_tokens["access_token"])), 401)
        assert_problem(await refresh(client, actor_tokens["refresh_token"]), 401, "invalid_refresh_token")
    assert_problem(await log_in(client, "alice", alice.password), 401, "invalid_credentials")
    signed_in = assert_tokens(await log_in(client, "alice", NEW_PASSWORD), "alice")
    assert (await me(client, bearer(signed_in["access_token"])))["username"] == "alice"
    # The token has done its work: a second use changes nothing.
    assert_problem(await confirm(client, token, "yet another passphrase"), 400, "reset_token_invalid")
    assert_tokens(await log_in(client, "alice", NEW_PASSWORD), "alice")


async def test_an_email_without_an_account_gets_the_same_answer_and_no_mail(client, users, resources):
    alice = await users.create("alice")
    bob = await users.create("bob")
    assert (await delete_account(client, bob)).status_code == 204

    nobody = await ask_reset(client, "nobody@example.test")
    deleted = await ask_reset(client, bob.email)
    someone = await ask_reset(client, alice.email)

    for response in (nobody, deleted, someone):
        assert_accepted(response)
    assert nobody.content == someone.content == deleted.content
    await mails_to(resources, alice.email)
    await every_mail_job_has_run(resources)
    assert [message["To"] for message in mailbox(resources, subject=None)] == [alice.email]


async def test_a_password_change_voids_every_token_made_before_it(client, users, resources):
    alice = await users.create("alice")
    first = await reset_token(client, resources, alice)
    second = await reset_token(client, resources, alice, nth=2)

    # A reset with one token voids the other, which was made before it.
    assert (await confirm(client, second)).status_code == 204
    assert_problem(await confirm(client, first, "a passphrase of the first"), 400, "reset_token_invalid")

    # So does a change through POST /v1/me/password.
    third = await reset_token(client, resources, alice, nth=3)
    signed_in = assert_tokens(await log_in(client, "alice", NEW_PASSWORD), "alice")
    changed = await change_password(client, signed_in["access_token"], NEW_PASSWORD, "changed by alice")
    assert_tokens(changed, "alice")
    assert_problem(await confirm(client, third, "a passphrase of the third"), 400, "reset_token_invalid")
    assert_tokens(await log_in(client, "alice", "changed by alice"), "alice")


async def test_a_token_mailed_before_a_key_rotation_works_while_the_old_key_is_listed(
    servers, tmp_path, client, users, resources
):
    alice = await users.create("alice")
    token = await reset_token(client, resources, alice)
    new_key = "the-key-after-a-scheduled-rotation-0123456789"
    dropped = make_settings(servers, tmp_path, secret_key=new_key)
    async with serve_in_process(create_app(dropped)) as http:
        assert_problem(await confirm(http, token), 400, "reset_token_invalid")
    rotated = make_settings(servers, tmp_path, secret_key=new_key, previous_secret_keys=TEST_SECRET)
    async with serve_in_process(create_app(rotated)) as http:
        done = await confirm(http, token)
        assert done.status_code == 204, done.text
        assert_tokens(await log_in(http, "alice", NEW_PASSWORD), "alice")


async def test_an_expired_token_is_refused(client, users, resources, monkeypatch: pytest.MonkeyPatch):
    alice = await users.create("alice")
    token = await reset_token(client, resources, alice)
    made = password_reset.now()
    ttl = timedelta(minutes=resources.settings.password_reset_ttl_minutes)

    monkeypatch.setattr(password_reset, "now", lambda: made + ttl + timedelta(seconds=2))
    expired = await confirm(client, token)
    monkeypatch.setattr(password_reset, "now", lambda: made + ttl - timedelta(seconds=30))
    in_time = await confirm(client, token)

    assert_problem(expired, 400, "reset_token_invalid")
    assert in_time.status_code == 204, in_time.text
    assert_tokens(await log_in(client, "alice", NEW_PASSWORD), "alice")


def _flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


async def test_a_tampered_or_forged_token_is_refused(client, users, resources):
    alice = await users.create("alice")
    bob = await users.create("bob")
    token = await reset_token(client, resources, alice)
    bobs = await reset_token(client, resources, bob)
    payload, signature = token.split(".")
    bob_payload, _ = bobs.split(".")

    bad = {
        "payload changed": f"{_flip(payload, 3)}.{signature}",
        "signature changed": f"{payload}.{_flip(signature, 5)}",
        # Another account's id (and expiry) under alice's signature.
        "another account": f"{bob_payload}.{signature}",
        "no signature": payload,
        "empty signature": f"{payload}.",
        "truncated": token[:-2],
        "one more character": token + "A",
        "padded": f"{payload}.{signature}==",
        "three parts": f"{token}.{signature}",
        "not base64": f"{payload}.{signature[:-1]}*",
        "not ascii": f"{payload}.{signature[:-1]}\u00e9",
        "garbage": "not-a-token",
    }
    answers = {name: await confirm(client, value) for name, value in bad.items()}

    for name, response in answers.items():
        assert response.status_code == 400, (name, response.text)
        assert_problem(response, 400, "reset_token_invalid")
    # None of them changed anything; the real token still works.
    assert_tokens(await log_in(client, "alice", alice.password), "alice")
    assert (await confirm(client, token)).status_code == 204


async def test_a_deleted_accounts_token_is_refused(client, users, resources):
    alice = await users.create("alice")
    token = await reset_token(client, resources, alice)

    assert (await delete_account(client, alice)).status_code == 204
    response = await confirm(client, token)

    assert_problem(response, 400, "reset_token_invalid")
    assert_problem(await log_in(client, alice.email, NEW_PASSWORD), 401, "invalid_credentials")


async def test_the_new_password_follows_the_sign_up_rules(client, users, resources):
    alice = await users.create("alice")
    token = await reset_token(client, resources, alice)

    short = await confirm(client, token, "short")
    no_token = await client.post("/v1/auth/password-reset/confirm", json={"new_password": NEW_PASSWORD})
    extra = await client.post(
        "/v1/auth/password-reset/confirm",
        json={"token": token, "new_password": NEW_PASSWORD, "role": "admin"},
    )
    bad_email = await client.post("/v1/auth/password-reset", json={"email": "not an email"})

    assert error_fields(assert_problem(short, 422, "validation_failed")) == {"new_password"}
    assert error_fields(assert_problem(no_token, 422, "validation_failed")) == {"token"}
    assert "role" in error_fields(assert_problem(extra, 422, "validation_failed"))
    assert error_fields(assert_problem(bad_email, 422, "validation_failed")) == {"email"}
    # Refused bodies spent nothing: the token still works.
    assert (await confirm(client, token)).status_code == 204


# --- races ------------------------------------------------------------------------------------


async def test_two_confirms_of_one_token_at_once_set_one_password(client, users, resources):
    """Both check the token before either has committed; the second to take the account's
    sessions lock reads the password again under it and is refused, rather than setting its own
    password over the first's."""
    alice = await users.create("alice")
    token = await reset_token(client, resources, alice)
    async with resources.engine.connect() as holder:
        # Stands for a password change under way: both confirms have checked the token and hashed
        # their password, and wait for the lock.
        await holder.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(f"sessions:{alice.id}")}
        )
        first = asyncio.create_task(confirm(client, token, "the first one's password"))
        second = asyncio.create_task(confirm(client, token, "the second one's password"))
        await someone_waits_for_a_lock(resources, at_least=2)
        await holder.rollback()
        answers = [await first, await second]

    assert sorted(answer.status_code for answer in answers) == [204, 400], [a.text for a in answers]
    won = "the first one's password" if answers[0].status_code == 204 else "the second one's password"
    lost = "the second one's password" if won.startswith("the first") else "the first one's password"
    assert_problem(next(a for a in answers if a.status_code == 400), 400, "reset_token_invalid")
    assert_tokens(await log_in(client, "alice", won), "alice")
    assert_problem(await log_in(client, "alice", lost), 401, "invalid_credentials")


async def test_a_confirm_waiting_for_the_accounts_deletion_is_refused(client, users, resources):
    alice = await users.create("alice")
    token = await reset_token(client, resources, alice)
    async with resources.engine.connect() as holder:
        # Stands for the deletion under way, which holds the account's sessions lock.
        await holder.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(f"sessions:{alice.id}")}
        )
        confirming = asyncio.create_task(confirm(client, token))
        await someone_waits_for_a_lock(resources)
        await holder.execute(
            text("UPDATE users SET password_hash = '!', deleted_at = now() WHERE id = :id"), {"id": alice.id}
        )
        await holder.commit()
        response = await confirming

    assert_problem(response, 400, "reset_token_invalid")
    async with resources.engine.connect() as reader:
        stored = await reader.scalar(text("SELECT password_hash FROM users WHERE id = :id"), {"id": alice.id})
    assert stored == "!"


# --- limits -----------------------------------------------------------------------------------


async def test_reset_mails_per_account_are_limited_without_saying_so(servers, tmp_path, users, resources):
    """Past the account's budget the answer is the same 202, but no mail goes: nobody can flood an
    address (and a 429 would tell that the email has an account)."""
    alice = await users.create("alice")
    bob = await users.create("bob")
    # The second app enqueues on the run's queue; the run's app's worker sends (to its mail dir).
    async with tight_app(servers, tmp_path, password_reset_rate_limit="2/hour") as tight:
        answers = [await ask_reset(tight, email) for email in ("alice@EXAMPLE.test", *[alice.email] * 3)]
        answers.append(await ask_reset(tight, bob.email))
        # An email with no account is counted apart, and told the same.
        answers += [await ask_reset(tight, "nobody@example.test") for _ in range(3)]

    for answer in answers:
        assert_accepted(answer)
    await every_mail_job_has_run(resources)
    assert len(mailbox(resources, alice.email)) == 2
    assert len(mailbox(resources, bob.email)) == 1
    assert len(mailbox(resources, subject=None)) == 3


async def test_reset_requests_and_confirms_share_the_logins_budget_per_address(
    servers, tmp_path, users, resources
):
    alice = await users.create("alice")
    async with tight_app(servers, tmp_path, token_rate_limit="3/minute") as tight:
        asked = [await ask_reset(tight, alice.email) for _ in range(2)]
        refused_confirm = await confirm(tight, "not-a-token")
        refused_ask = await ask_reset(tight, alice.email)
        login = await log_in(tight, "alice", alice.password)

    for answer in asked:
        assert_accepted(answer)
    assert_problem(refused_confirm, 400, "reset_token_invalid")
    for answer in (refused_ask, login):
        assert_problem(answer, 429, "rate_limited")
        assert "Retry-After" in answer.headers


# --- after the commit only ----------------------------------------------------------------------


async def test_a_request_that_does_not_commit_sends_nothing(
    client, users, resources, monkeypatch: pytest.MonkeyPatch
):
    alice = await users.create("alice")
    bob = await users.create("bob")
    real_commit = AsyncSession.commit
    # httpx's ASGI transport runs the app in the task that sends the request: this test's. The job
    # worker's transactions, in tasks of their own, commit as usual.
    request_task = asyncio.current_task()

    async def commit(session: AsyncSession) -> None:
        if asyncio.current_task() is request_task:
            raise OperationalError("COMMIT", None, ConnectionResetError("the connection was lost"))
        await real_commit(session)

    monkeypatch.setattr(AsyncSession, "commit", commit)
    lost = await ask_reset(client, alice.email)
    monkeypatch.setattr(AsyncSession, "commit", real_commit)
    await ask_reset(client, bob.email)

    assert_problem(lost, 503, "service_unavailable")
    await mails_to(resources, bob.email)
    await every_mail_job_has_run(resources)
    assert mailbox(resources, alice.email, subject=None) == []


# --- the owner is told -------------------------------------------------------------------------


async def test_the_account_is_told_by_mail_when_its_password_changes(client, users, resources):
    """Whoever changed it (a reset link, or someone signed in who gave the old password), the
    address on the account hears of it; an attempt that changed nothing tells nothing."""
    alice = await users.create("alice")
    bob = await users.create("bob")

    token = await reset_token(client, resources, alice)
    assert (await confirm(client, token)).status_code == 204
    signed_in = assert_tokens(await log_in(client, "bob", bob.password), "bob")
    refused = await change_password(client, signed_in["access_token"], "not bob's password", "whatever it is")
    changed = await change_password(client, signed_in["access_token"], bob.password, "bob's new passphrase")

    assert_problem(refused, 403, "password_incorrect")
    assert_tokens(changed, "bob")
    [by_reset] = await mails_to(resources, alice.email, subject=CHANGED_SUBJECT)
    [by_change] = await mails_to(resources, bob.email, subject=CHANGED_SUBJECT)
    await every_mail_job_has_run(resources)
    assert "with a password reset link sent to this address" in body_of(by_reset)
    assert "by someone signed in to it who gave the old password" in body_of(by_change)
    assert len(mailbox(resources, subject=CHANGED_SUBJECT)) == 2
    # The notice carries no token: nothing in it changes the password.
    assert not _TOKEN_LINE.search(body_of(by_change))


# --- what the mail says ------------------------------------------------------------------------


async def test_the_mail_links_to_the_apps_reset_page(
    client, users, resources, monkeypatch: pytest.MonkeyPatch
):
    alice = await users.create("alice")
    monkeypatch.setattr(
        resources,
        "settings",
        resources.settings.replace(password_reset_url="https://remixfeed.test/reset#t={token}"),
    )

    assert_accepted(await ask_reset(client, alice.email))
    [mail] = await mails_to(resources, alice.email)
    link = re.search(r"^https://remixfeed\.test/reset#t=(\S+)$", body_of(mail), re.MULTILINE)

    assert link, body_of(mail)
    assert link[1] == token_in(mail)
    assert (await confirm(client, link[1])).status_code == 204


# --- SMTP, through a real server over TCP --------------------------------------------------------


class Inbox:
    """An aiosmtpd handler keeping what it was sent; `refuse_first` DATA commands get a temporary
    failure (451), as a busy server's."""

    def __init__(self, refuse_first: int = 0) -> None:
        self.messages: list[tuple[Any, EmailMessage]] = []
        self.hellos = 0
        self.refuse = refuse_first
        self.lock = threading.Lock()

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        with self.lock:
            self.hellos += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.refuse > 0:
                self.refuse -= 1
                return "451 4.3.0 Try again later"
            message = message_from_bytes(envelope.content, policy=policy.default)
            assert isinstance(message, EmailMessage)
            self.messages.append(
                ((envelope.mail_from, tuple(envelope.rcpt_tos), session.authenticated), message)
            )
        return "250 OK"

    async def received(self, count: int = 1, within: float = 30) -> list[tuple[Any, EmailMessage]]:
        for _ in range(int(within / 0.05)):
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            await asyncio.sleep(0.05)
        raise AssertionError(f"the SMTP server did not receive {count} message(s) within {within} s")


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    good = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"remixfeed",
        b"smtp-secret",
    )
    return AuthResult(success=good)


@pytest.fixture
def smtp_server(request: pytest.FixtureRequest) -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox(refuse_first=getattr(request, "param", 0))
    port = free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=_authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def use_smtp(resources: Resources, monkeypatch: pytest.MonkeyPatch, port: int, **overrides: Any) -> None:
    """The run's app's worker sends through the local server from now on (it reads its settings
    for each mail)."""
    settings = resources.settings.replace(
        mail_backend="smtp",
        mail_from="remixfeed <no-reply@remixfeed.test>",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        smtp_username="remixfeed",
        smtp_password="smtp-secret",
        smtp_timeout_seconds=5.0,
    ).replace(**overrides)
    monkeypatch.setattr(resources, "settings", settings)


async def test_the_smtp_backend_delivers_through_a_real_server(
    client, users, resources, smtp_server, monkeypatch: pytest.MonkeyPatch
):
    inbox, port = smtp_server
    alice = await users.create("alice")
    use_smtp(resources, monkeypatch, port)

    assert_accepted(await ask_reset(client, alice.email))
    [((mail_from, recipients, authenticated), message)] = await inbox.received()

    assert (mail_from, recipients, authenticated) == ("no-reply@remixfeed.test", (alice.email,), True)
    assert message["From"] == "remixfeed <no-reply@remixfeed.test>"
    assert message["Subject"] == RESET_SUBJECT
    assert (await confirm(client, token_in(message))).status_code == 204
    await every_mail_job_has_run(resources)
    assert mailbox(resources, subject=None) == []  # nothing went to the file backend


@pytest.mark.parametrize("smtp_server", [2], indirect=True)
async def test_a_mail_the_smtp_server_refuses_for_now_is_sent_again(
    client, users, resources, smtp_server, monkeypatch: pytest.MonkeyPatch
):
    inbox, port = smtp_server
    alice = await users.create("alice")
    use_smtp(resources, monkeypatch, port)

    assert_accepted(await ask_reset(client, alice.email))
    [(_, message)] = await inbox.received()
    await every_mail_job_has_run(resources)

    assert inbox.refuse == 0  # refused twice, then taken: once
    assert len(inbox.messages) == 1
    assert (await confirm(client, token_in(message))).status_code == 204


async def test_starttls_is_required_when_asked_for(
    client, users, resources, smtp_server, monkeypatch: pytest.MonkeyPatch
):
    """A server that offers no STARTTLS is not sent the credentials and the mail in clear text:
    the job fails (and tries again later) rather than falling back."""
    inbox, port = smtp_server
    alice = await users.create("alice")
    use_smtp(resources, monkeypatch, port, smtp_security="starttls")

    assert_accepted(await ask_reset(client, alice.email))
    for _ in range(600):  # the first try and a retry, each giving up after its greeting
        if inbox.hellos >= 2:
            break
        await asyncio.sleep(0.05)

    assert inbox.hellos >= 2
    assert inbox.messages == []
