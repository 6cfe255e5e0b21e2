"""The caller's own account, other people's profiles, invites, follows and blocks.

Visibility rule used throughout: a user who blocks the viewer does not exist for that viewer
(404); a user the viewer blocked is still visible to the viewer (so they can unblock).
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import queries
from accounts.ages import age_band
from accounts.errors import CannotBlockSelf, CannotFollowSelf, UserNotFound
from accounts.models import Invite, User
from accounts.schemas import InviteOut, Me, MePatch, Profile, Tokens
from accounts.service.auth import USERNAME_FORMAT, IssuedTokens
from accounts.service.deletion import caller_still_here
from accounts.service.pending_purges import shown_follow_counts
from app.pagination import CursorCodec, Page
from app.security import SigningKeys
from app.storage import MediaStorage


def avatar_url(storage: MediaStorage, avatar_key: str | None) -> str | None:
    return storage.url(f"{avatar_key}-512.webp") if avatar_key else None


class ProfileService:
    def __init__(self, session: AsyncSession, storage: MediaStorage, keys: SigningKeys) -> None:
        self.session = session
        self.storage = storage
        self.keys = keys

    # --- own account -------------------------------------------------------------------------

    async def me(self, user: User) -> Me:
        follower_count, following_count = await self._follow_counts(user)
        return Me(
            id=str(user.id),
            username=user.username,
            email=user.email,
            display_name=user.display_name,
            bio=user.bio,
            avatar_url=avatar_url(self.storage, user.avatar_key),
            birthdate=user.birthdate,
            age_band=age_band(user.birthdate).value,
            role=user.role,  # type: ignore[arg-type]
            follower_count=follower_count,
            following_count=following_count,
            post_count=user.post_count,
            created_at=user.created_at,
        )

    async def tokens(self, issued: IssuedTokens) -> Tokens:
        return Tokens(
            user=await self.me(issued.user),
            access_token=issued.access_token,
            refresh_token=issued.refresh_token,
            expires_in=issued.expires_in,
        )

    async def update_me(self, user: User, patch: MePatch) -> Me:
        if patch.display_name is not msgspec.UNSET:
            user.display_name = patch.display_name.strip() or user.username
        if patch.bio is not msgspec.UNSET:
            user.bio = patch.bio.strip()
        await self.session.flush()
        return await self.me(user)

    async def my_invite(self, user: User) -> InviteOut:
        invite: Invite | None = await queries.invite_of(self.session, user.id)
        if invite is None:  # every account gets one at creation; this is a broken invariant
            raise UserNotFound("This account has no invite code")
        return InviteOut(
            code=invite.code, redeemed_count=invite.redeemed_count, total_count=invite.total_count
        )

    # --- other people ------------------------------------------------------------------------

    async def visible_user(self, viewer: User, username: str) -> User:
        """The user named `username` as the viewer may see them: 404 if absent or blocking the viewer."""
        other = await self._named(username)
        if other.id != viewer.id:
            relation = await queries.relationship(self.session, viewer.id, other.id)
            if relation.blocked_by:
                raise UserNotFound()
        return other

    async def profile(self, viewer: User, username: str) -> Profile:
        other = await self.visible_user(viewer, username)
        relation = await queries.relationship(self.session, viewer.id, other.id)
        follow_counts = await self._follow_counts(other)
        return self._profile(
            other, (relation.following, relation.followed_by), relation.blocking, follow_counts
        )

    async def _follow_counts(self, user: User) -> tuple[int, int]:
        return (await shown_follow_counts(self.session, [user]))[user.id]

    def _profile(
        self, user: User, flags: tuple[bool, bool], blocked: bool, follow_counts: tuple[int, int]
    ) -> Profile:
        following, follows_you = flags
        follower_count, following_count = follow_counts
        return Profile(
            id=str(user.id),
            username=user.username,
            display_name=user.display_name,
            bio=user.bio,
            avatar_url=avatar_url(self.storage, user.avatar_key),
            follower_count=follower_count,
            following_count=following_count,
            post_count=user.post_count,
            is_following=following,
            follows_you=follows_you,
            is_mutual=following and follows_you,
            is_blocked=blocked,
            created_at=user.created_at,
        )

    # --- follows -----------------------------------------------------------------------------

    async def follow(self, viewer: User, username: str) -> None:
        other = await self._other_party(viewer, username)
        if other.id == viewer.id:
            raise CannotFollowSelf()
        await queries.add_follow(self.session, viewer.id, other.id)

    async def unfollow(self, viewer: User, username: str) -> None:
        other = await self._other_party(viewer, username)
        await queries.remove_follow(self.session, viewer.id, other.id)

    async def _other_party(self, viewer: User, username: str) -> User:
        """Following needs both sides willing: a block either way makes the other side absent.
        The pair stays locked until commit, so the block check cannot go stale."""
        other = await self._named(username)
        if other.id != viewer.id:
            await queries.lock_pair(self.session, viewer.id, other.id)
            # Under a key-share lock: a deletion of the account under way is waited for, and none
            # starts before this commits, so no follow outlives the account it names; the same
            # for the caller's own (deleted while this was in flight: it would outlive its purge).
            await self._still_here(viewer)
            if not await queries.still_exists(self.session, other.id):
                raise UserNotFound()
            if await queries.is_blocked_either_way(self.session, viewer.id, other.id):
                raise UserNotFound()
        return other

    async def _named(self, username: str) -> User:
        # Anything that is not a valid username names nobody (and never reaches the database).
        other = (
            await queries.user_by_username(self.session, username)
            if USERNAME_FORMAT.match(username)
            else None
        )
        if other is None:
            raise UserNotFound()
        return other

    async def follow_list(
        self, viewer: User, username: str, direction: str, cursor: str | None, limit: int
    ) -> Page[Profile]:
        owner = await self.visible_user(viewer, username)
        codec = CursorCodec(self.keys, f"follows:{direction}:{owner.id}")
        after = codec.decode_position(cursor)
        rows = await queries.follow_page(
            self.session, user_id=owner.id, direction=direction, viewer_id=viewer.id, after=after, limit=limit
        )
        return await self._profiles_page(viewer, codec, rows, limit)

    async def block_list(self, viewer: User, cursor: str | None, limit: int) -> Page[Profile]:
        """The users the viewer blocks, newest block first, to find whom to unblock."""
        codec = CursorCodec(self.keys, f"blocks:{viewer.id}")
        after = codec.decode_position(cursor)
        rows = await queries.block_page(self.session, blocker_id=viewer.id, after=after, limit=limit)
        return await self._profiles_page(viewer, codec, rows, limit)

    async def _profiles_page(
        self, viewer: User, codec: CursorCodec, rows: list[tuple[User, datetime]], limit: int
    ) -> Page[Profile]:
        """Profiles as `viewer` sees them, from `limit + 1` rows of (user, when listed)."""
        page, more = rows[:limit], len(rows) > limit
        users = [user for user, _ in page]
        ids = [user.id for user in users]
        flags = await queries.relationship_flags(self.session, viewer.id, ids)
        blocked = await queries.blocked_among(self.session, viewer.id, ids)
        counted = await shown_follow_counts(self.session, users)
        items = [self._profile(user, flags[user.id], user.id in blocked, counted[user.id]) for user in users]
        next_cursor = None
        if more:
            last_user, listed_at = page[-1]
            next_cursor = codec.encode_position(listed_at, last_user.id)
        return Page(items=items, next_cursor=next_cursor)

    # --- blocks ------------------------------------------------------------------------------

    async def block(self, viewer: User, username: str) -> None:
        other = await self._named(username)
        if other.id == viewer.id:
            raise CannotBlockSelf()
        await queries.lock_pair(self.session, viewer.id, other.id)
        await self._still_here(viewer)
        if not await queries.still_exists(self.session, other.id):
            raise UserNotFound()
        await queries.add_block(self.session, viewer.id, other.id)

    async def _still_here(self, viewer: User) -> None:
        await caller_still_here(self.session, viewer)

    async def unblock(self, viewer: User, username: str) -> None:
        other = await self._named(username)
        await queries.lock_pair(self.session, viewer.id, other.id)
        await queries.remove_block(self.session, viewer.id, other.id)
