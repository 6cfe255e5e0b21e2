"""A user deleting their own account.

The users row stays as a tombstone (`deleted_at`): moderation decisions, the audit log, reports and
appeals keep pointing at it, and its username stays taken for ever while every lookup by username
answers 404. What identifies the person is scrubbed in the request: the email (so they may sign up
again with it), the password hash, display name, bio and avatar (its files deleted after the
commit). The birthdate stays: it is needed for nothing, but the column is NOT NULL and it names
nobody without the rest.

In the request's one transaction: the domains registered with `accounts.hooks.on_account_deleted`
do their part first (its generations under way stopped, the videos hidden, then the cameo
revoked), since every change takes a video's row before its author's (likes, comments,
publishing), and a generation takes the video it remixes and the cameos it casts before its
author's quota lock; then the users row is locked and becomes the tombstone, every token stops working
(the access tokens through `provide_current_user`, which treats a tombstone as no account; the
refresh tokens revoked), and the invite code stops working.

The request's work does not grow with other people: the follows and blocks both ways, which may be
100k rows each moving someone's counts, are ended by the durable background purge enqueued after
the commit (`accounts.jobs`), a batch a transaction, and until then every read leaves them out
(follower and following lists skip deleted accounts, counts are shown less the follows still
pending, `queries.follow_counts`). The purge also takes the rest (likes, comments, notifications,
generations, media, Redis state).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ScalarSelect
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import hooks, queries
from accounts.models import User
from accounts.service.auth import CountAttempt, reauthenticate
from accounts.service.avatars import RENDITION_SIZES
from accounts.service.pending_purges import PENDING_PURGES
from app.db import after_commit
from app.errors import NotAuthenticated
from app.jobs import JobQueue
from app.media_deletion import MediaDeletions
from app.settings import Settings

PURGE_ACCOUNT_JOB = "accounts.purge_deleted_account"
PURGE_TIMEOUT_SECONDS = 1800
# Not an Argon2 hash: verifying any password against it fails.
UNUSABLE_PASSWORD_HASH = "!account-deleted"  # noqa: S105 (not a password: a marker)


def scrubbed_email(user: User) -> str:
    """Unique (the id), never deliverable (RFC 2606 `.invalid`), and frees the real address."""
    return f"deleted+{user.id}@invalid"


def purge_job_key(user_id: object) -> str:
    return f"account-purge:{user_id}"


async def caller_still_here(session: AsyncSession, caller: User) -> None:
    """For a write that adds a row naming its caller which the purge takes away (a like, a view,
    a comment, a see-less mark, a check-in, feed preferences), once the row is added: the account
    is read again under the key-share lock the insert's foreign key took on its users row, held
    until commit (`queries.still_exists`; the same lock, so no new lock order). The caller was
    read when the request began; without this, a write held up past the deletion (on the
    deletion's lock on that row, or any other) would add its row to the tombstone after the purge
    had taken that kind, and `purged_at` means no sweep comes back. With it, a deletion under way
    was waited for and now refuses the write (401, its row rolled back), and none takes the row
    until the write commits, so the purge, which starts after the deletion's commit, finds it.
    On a hot path, `caller_presence` saves the statement."""
    refuse_unless_present(await queries.still_exists(session, caller.id))


def caller_presence(caller: User) -> ScalarSelect[bool]:
    """`caller_still_here`'s read, for a statement with other work to do to return, one statement
    less: the counter's update that follows a new like's, view's or comment's insert, or the
    see-less mark's insert itself (a WITH of the read). After the insert, it is under the same
    lock, already held since the insert's foreign key check so taken again without waiting; in the
    insert's own statement, the read takes that lock itself, and the foreign key check takes it
    again. Either way the lock is held from the read until commit in the statement that writes, and
    a locking read sees the deletion that statement waited for (the row as last committed). Hand
    what it returned to `refuse_unless_present` (a row rolled back with the transaction like the
    rest)."""
    return queries.still_exists_read(caller.id)


def refuse_unless_present(present: bool | None) -> None:
    """401 unless `caller_presence` (or `queries.still_exists`) found the account."""
    if present is not True:
        raise NotAuthenticated("The account no longer exists")


class AccountDeletionService:
    def __init__(
        self, session: AsyncSession, settings: Settings, deletions: MediaDeletions, jobs: JobQueue
    ) -> None:
        self.session = session
        self.settings = settings
        self.deletions = deletions
        self.jobs = jobs

    async def delete(self, user: User, password: str, count_attempt: CountAttempt | None = None) -> None:
        """Re-authenticated by the password (`reauthenticate`): a wrong one changes nothing."""
        # What the password was checked against: `user_for_deletion` below reloads `user`.
        checked_changed_at = user.password_changed_at
        await reauthenticate(self.session, self.settings, user, password, count_attempt)

        # The other domains' rows first (its generations, videos, then its cameo), its users row after:
        # the order every change of a video takes them in, so a like or a publish in flight on one
        # of them is waited for rather than deadlocked with (an Idempotency-Key's record, which
        # names the account, has its foreign key checked at COMMIT: `app.idempotency`). A deletion
        # of the same account in flight is waited for there too, and this one then finds the
        # tombstone below and rolls back.
        await hooks.account_deleted(self.session, user, self.deletions)
        now = datetime.now(UTC)
        # Before the users row too, as the requests that take them first and the users row after
        # do: a token rotation or a password change in flight holds the sessions lock and then
        # needs the users row; a sign-up redeeming the invite holds its row and then needs the
        # inviter's (its new user's key). Taken the other way round, either deadlocked with this.
        await queries.lock_out_sessions(self.session, user.id, now)
        await queries.delete_invite(self.session, user.id)
        locked = await queries.user_for_deletion(self.session, user.id)
        if locked is None or locked.deleted_at is not None:  # deleted by a request in flight
            raise NotAuthenticated("The account no longer exists")
        # A password change that committed after the caller was read (we hold the sessions lock it
        # held until then) signed this caller out, and the password checked was the old one.
        if locked.password_changed_at != checked_changed_at:
            raise NotAuthenticated(
                "The password was changed after this access token was issued; log in again"
            )
        avatar_key = locked.avatar_key
        locked.deleted_at = now
        locked.email = scrubbed_email(locked)
        locked.password_hash = UNUSABLE_PASSWORD_HASH
        locked.display_name = ""
        locked.bio = ""
        locked.avatar_key = None
        await self.session.flush()

        if avatar_key:
            self.deletions.after_commit(
                self.session, [f"{avatar_key}-{size}.webp" for size in RENDITION_SIZES]
            )
        after_commit(self.session, PENDING_PURGES.account_deleted)
        self.jobs.enqueue_after_commit(
            self.session,
            PURGE_ACCOUNT_JOB,
            key=purge_job_key(locked.id),
            timeout_seconds=PURGE_TIMEOUT_SECONDS,
            user_id=str(locked.id),
        )
