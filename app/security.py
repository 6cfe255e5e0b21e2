"""Secrets, access tokens and request signing primitives shared by every domain."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import msgspec
from litestar.connection import ASGIConnection
from litestar.datastructures import Headers
from litestar.handlers.base import BaseRouteHandler

from app.errors import NotAuthenticated
from app.settings import Settings, SettingsError

OPENAPI_PATH = "/schema"
_ALGORITHM = "HS256"
_ISSUER = "remixfeed"
_AUDIENCE = "remixfeed-api"


def resolve_secret_key(settings: Settings) -> Settings:
    """Production must set REMIXFEED_SECRET_KEY; the embedded default keeps one in its data dir."""
    if any(len(key) < 32 for key in settings.previous_secret_key_list):
        raise SettingsError("each of REMIXFEED_PREVIOUS_SECRET_KEYS must be at least 32 characters")
    if settings.secret_key:
        if len(settings.secret_key) < 32:
            raise SettingsError("REMIXFEED_SECRET_KEY must be at least 32 characters")
        return settings
    if not settings.embedded_database:
        raise SettingsError("REMIXFEED_SECRET_KEY is required when DATABASE_URL is set (production)")
    path = settings.data_dir / "secret_key"
    if path.exists():
        key = path.read_text().strip()
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
    return settings.replace(secret_key=key)


class AccessClaims(msgspec.Struct, frozen=True):
    user_id: str
    role: str
    expires_at: datetime
    # Whole seconds, as JWT's `iat` carries it.
    issued_at: datetime
    # The login the token was issued from (`sid`, a refresh-token family); None in tokens issued
    # before logins were tracked.
    session_id: str | None = None


def encode_access_token(
    keys: SigningKeys, user_id: str, role: str, ttl_seconds: int, session_id: str | None = None
) -> tuple[str, int]:
    """An access token signed with the current key."""
    now = datetime.now(UTC)
    payload: dict[str, Any] = {
        "sub": user_id,
        "role": role,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(seconds=ttl_seconds),
        "iss": _ISSUER,
        "aud": _AUDIENCE,
        "typ": "access",
    }
    if session_id is not None:
        payload["sid"] = session_id
    return jwt.encode(payload, keys.current, algorithm=_ALGORITHM), ttl_seconds


def decode_access_token(keys: SigningKeys, token: str) -> AccessClaims:
    """The claims of a token signed with the current key or, while a key rotation lets them run
    out, with one of the previous keys (REMIXFEED_PREVIOUS_SECRET_KEYS)."""
    try:
        payload = _verified_payload(token, keys)
    except jwt.ExpiredSignatureError as exc:
        raise NotAuthenticated("The access token has expired") from exc
    except jwt.PyJWTError as exc:
        raise NotAuthenticated("The access token is not valid") from exc
    if payload.get("typ") != "access":
        raise NotAuthenticated("The access token is not valid")
    return AccessClaims(
        user_id=str(payload["sub"]),
        role=str(payload.get("role", "user")),
        expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
        issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
        session_id=str(payload["sid"]) if payload.get("sid") is not None else None,
    )


def _verified_payload(token: str, keys: SigningKeys) -> dict[str, Any]:
    for key in (keys.current, *keys.previous):
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[_ALGORITHM],
                audience=_AUDIENCE,
                issuer=_ISSUER,
                options={"require": ["exp", "sub", "iat"]},
            )
        except jwt.InvalidSignatureError:
            continue  # perhaps signed with the next key; every other fault is the token's own
        return payload
    raise jwt.InvalidSignatureError("Signature verification failed")


def bearer_token_of(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer` header; None without one, 401 for any other form."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("Use 'Authorization: Bearer <access_token>'")
    return token.strip()


def new_opaque_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def token_digest(token: str) -> str:
    """Refresh tokens are stored only as digests: a leaked table does not leak sessions."""
    return hashlib.sha256(token.encode()).hexdigest()


def sign(secret: str, purpose: str, data: bytes) -> bytes:
    return hmac.new(f"{purpose}:{secret}".encode(), data, hashlib.sha256).digest()[:16]


def verify_signature(secret: str, purpose: str, data: bytes, signature: bytes) -> bool:
    return hmac.compare_digest(sign(secret, purpose, data), signature)


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """The key that signs (REMIXFEED_SECRET_KEY) and those that, after a key rotation, still
    verify what was signed before it (REMIXFEED_PREVIOUS_SECRET_KEYS). Made once per process
    (`Resources.signing_keys`), so no request parses the setting again."""

    current: str
    previous: tuple[str, ...] = ()

    @classmethod
    def of(cls, settings: Settings) -> SigningKeys:
        """The keys of settings whose secret key is resolved (`resolve_secret_key`)."""
        if not settings.secret_key:
            raise SettingsError("REMIXFEED_SECRET_KEY is not set")
        return cls(settings.secret_key, settings.previous_secret_key_list)

    def sign(self, purpose: str, data: bytes) -> bytes:
        return sign(self.current, purpose, data)

    def verify(self, purpose: str, data: bytes, signature: bytes) -> bool:
        """Whether `signature` was made by `sign` with the current key or a previous one."""
        return verify_signature(self.current, purpose, data, signature) or any(
            verify_signature(key, purpose, data, signature) for key in self.previous
        )


ACCESS_CLAIMS = "access_claims"
PUBLIC = "public"


def verified_claims(scope: Any, keys: SigningKeys) -> AccessClaims | None:
    """The claims of the request's bearer token, verified once per request with the process's keys
    (`Resources.signing_keys`) and kept in its scope (the rate limiter, the guard and
    `current_user` all need them); None without a token, 401 for a token that is not valid."""
    state = scope.setdefault("state", {})
    claims = state.get(ACCESS_CLAIMS)
    if isinstance(claims, AccessClaims):
        return claims
    token = bearer_token_of(Headers.from_scope(scope).get("authorization"))
    if token is None:
        return None
    claims = decode_access_token(keys, token)
    state[ACCESS_CLAIMS] = claims
    return claims


async def authentication_guard(
    connection: ASGIConnection[Any, Any, Any, Any], route_handler: BaseRouteHandler
) -> None:
    """Every route needs a valid access token unless it is marked `opt={"public": True}`.

    A guard runs before the request body is read, so an anonymous caller cannot make the server
    parse uploads or JSON for a route it may not use, and a new route is private unless someone
    decides otherwise. The decoded claims are kept for the `current_user` dependency. It is a
    coroutine because Litestar runs a plain function guard in a worker thread.
    """
    if route_handler.opt.get(PUBLIC) or connection.scope["path"].startswith(OPENAPI_PATH):
        return
    keys: SigningKeys = connection.app.state.resources.signing_keys
    if verified_claims(connection.scope, keys) is None:
        raise NotAuthenticated()


def access_claims(connection: ASGIConnection[Any, Any, Any, Any]) -> AccessClaims:
    claims = connection.scope.get("state", {}).get(ACCESS_CLAIMS)
    if not isinstance(claims, AccessClaims):
        raise NotAuthenticated()
    return claims
