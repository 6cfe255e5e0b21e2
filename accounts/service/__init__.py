"""Business rules of accounts. Services flush, never commit."""

from accounts.service.auth import AuthService, IssuedTokens, NewAccount
from accounts.service.avatars import AvatarService
from accounts.service.profiles import ProfileService, avatar_url

__all__ = ["AuthService", "AvatarService", "IssuedTokens", "NewAccount", "ProfileService", "avatar_url"]
