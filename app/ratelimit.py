"""Fixed-window rate limits kept in Redis, so every API process shares the same counters.

Every write has a budget per user and per client address; a route opts in to more with
`opt={"rate_limits": [Limit(...)]}` for limits keyed on what the scope already knows (the client
address, the verified caller); a handler calls `RateLimiter.enforce` for limits keyed on
the body (the login being tried), or `RateLimiter.charged` for a limit that a refusal of a certain
kind gives back (a duplicate report files nothing, so it costs nothing). Refusals are 429
`rate_limited` with Retry-After and the RateLimit-* headers; allowed answers carry the RateLimit-*
headers too. If Redis is unreachable
the limit is not enforced and that is logged: a rate limiter must not take sign-in down with it.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

import msgspec
import structlog
from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.handlers import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.errors import NotAuthenticated, RateLimited
from app.redis import key as redis_key
from app.security import PUBLIC, verified_claims
from app.settings import RateLimitRule, Settings

log = structlog.get_logger(__name__)

# For each key: INCR the window's counter, start its expiry on first use; return every count, the
# ms left and when the window ends (by Redis's clock, ms), flat. One round trip whatever the number
# of limits a request counts against. (PEXPIRETIME would say when outright, but the embedded Redis
# is 6.2.)
_HIT = """
local now = redis.call('TIME')
local now_ms = now[1] * 1000 + math.floor(now[2] / 1000)
local out = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('PEXPIRE', key, ARGV[i]) end
  local ttl = redis.call('PTTL', key)
  out[#out + 1] = count
  out[#out + 1] = ttl
  out[#out + 1] = now_ms + ttl
end
return out
"""


# Give one request back to the window it was counted in, named by when it ends (ARGV[1]): once that
# window has expired the counter is a later window's, or none, which owes nothing back. The end of
# one window computed twice (TIME plus PTTL) comes out within a millisecond; a later window's ends
# at least its length (1 s or more) later, as it starts once this one has expired.
_REFUND = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then return -1 end
local now = redis.call('TIME')
local ends_ms = now[1] * 1000 + math.floor(now[2] / 1000) + ttl
if math.abs(ends_ms - tonumber(ARGV[1])) > 10 then return -1 end
if tonumber(redis.call('GET', KEYS[1])) > 0 then return redis.call('DECR', KEYS[1]) end
return -1
"""


class Limit(msgspec.Struct, frozen=True):
    """A route's limit: `rule` picks the setting, `subject` what the counter is keyed on."""

    name: str
    rule: Callable[[Settings], RateLimitRule]
    subject: Callable[[Scope], str | None]


class Usage(msgspec.Struct, frozen=True):
    limit: int
    count: int
    reset_seconds: int
    # When the window counted in ends (Unix ms, by Redis's clock): the window a refund goes back to.
    window_ends_ms: int

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if self.exceeded:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers

    def error(self) -> RateLimited:
        return RateLimited(f"Too many requests; try again in {self.reset_seconds} s", headers=self.headers())


# One X-Forwarded-For hop: an address, optionally with a port, IPv6 in brackets when it has one
# (RFC 7239's form, which some proxies use in X-Forwarded-For too), optionally quoted.
_HOP = re.compile(
    r'"?(?:\[(?P<bracketed>[^\]"]+)\](?::[0-9]{1,5})?|(?P<ipv4>[0-9.]+)(?::[0-9]{1,5})?|(?P<bare>[^\["]+))"?'
)


def _hop_address(hop: str) -> IPv4Address | IPv6Address | None:
    """The address a hop names, without its port; None for anything else (`unknown`, an RFC 7239
    obfuscated `_name`, garbage)."""
    found = _HOP.fullmatch(hop.strip())
    if found is None:
        return None
    try:
        return ip_address(found["bracketed"] or found["ipv4"] or found["bare"])
    except ValueError:
        return None


def client_ip(scope: Scope) -> str | None:
    """The caller's address. Behind trusted reverse proxies (REMIXFEED_TRUSTED_PROXIES) it is the
    rightmost X-Forwarded-For hop that is not itself a trusted proxy, without a port; otherwise the
    peer. A hop that names no address stops the walk at the trusted proxy that wrote it: what lies
    left of it is the client's to write, so it is never believed."""
    client = scope.get("client")
    peer = client[0] if client else None
    settings: Settings = scope["litestar_app"].state.settings
    networks = settings.trusted_proxy_networks
    if peer is None or not networks or not _within(peer, networks):
        return peer
    nearest = peer
    forwarded = [
        hop for value in Headers.from_scope(scope).getall("x-forwarded-for", []) for hop in value.split(",")
    ]
    for hop in reversed(forwarded):
        if not hop.strip():
            continue
        address = _hop_address(hop)
        if address is None:
            return nearest
        nearest = str(address)
        if not any(address in network for network in networks):
            return nearest
    return nearest


def client_network(scope: Scope) -> str | None:
    """What per-address limits count on: the client's IPv4 address, or its IPv6 /64. One IPv6
    subscriber is usually handed a whole /64, so counting single addresses would give each client
    2^64 budgets."""
    address = client_ip(scope)
    if address is None:
        return None
    try:
        parsed = ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, IPv6Address):
        if parsed.ipv4_mapped is not None:  # ::ffff:a.b.c.d is an IPv4 client
            return str(parsed.ipv4_mapped)
        return str(ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def caller_id(scope: Scope) -> str | None:
    """The signed-in caller's user id, from a valid access token (None otherwise: the
    authentication guard then refuses the request). Verified, so nobody can spend another's
    budget by naming them."""
    state = scope["litestar_app"].state
    settings: Settings = state.settings
    if settings.secret_key is None:
        return None
    try:
        claims = verified_claims(scope, state.resources.signing_keys)
    except NotAuthenticated:
        return None
    return None if claims is None else claims.user_id


# Every write, per user (signed in) and per client address (anyone), on top of a route's own
# limits; a route marked EXEMPT_FROM_WRITE_LIMITS (the provider's signed webhook) has neither.
WRITE_LIMIT = Limit(name="write", rule=lambda s: s.write_limit, subject=caller_id)
IP_WRITE_LIMIT = Limit(name="ip-write", rule=lambda s: s.ip_write_limit, subject=client_network)
EXEMPT_FROM_WRITE_LIMITS = "exempt_from_write_limits"
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Reads that cost far more than a lookup (walking a remix tree, holding a progress stream open)
# opt in with `opt={"rate_limits": EXPENSIVE_READ_LIMITS}`; the feed has its own per-user budget
# and shares the per-address one.
READ_LIMIT = Limit(name="read", rule=lambda s: s.read_limit, subject=caller_id)
IP_READ_LIMIT = Limit(name="ip-read", rule=lambda s: s.ip_read_limit, subject=client_network)
EXPENSIVE_READ_LIMITS = (READ_LIMIT, IP_READ_LIMIT)


def _within(address: str, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)


class RateLimiter:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._settings = settings
        self._script = redis.register_script(_HIT)
        self._refund = redis.register_script(_REFUND)

    async def hit(self, name: str, subject: str, rule: RateLimitRule) -> Usage | None:
        usages = await self.hit_all([(name, subject, rule)])
        return usages[0] if usages else None

    async def hit_all(self, hits: Sequence[tuple[str, str, RateLimitRule]]) -> list[Usage]:
        """Counts one request against each (limit name, subject, rule); [] when Redis is away."""
        keys = [redis_key(self._settings, "rl", name, subject) for name, subject, _ in hits]
        try:
            replies = await self._script(keys=keys, args=[rule.window_seconds * 1000 for _, _, rule in hits])
        except RedisError as exc:
            log.warning("rate_limit_unavailable", error=str(exc), limits=[name for name, _, _ in hits])
            return []
        usages = []
        replied = zip(hits, replies[0::3], replies[1::3], replies[2::3], strict=True)
        for (_, _, rule), count, ttl_ms, ends_ms in replied:
            reset = math.ceil(int(ttl_ms) / 1000) if int(ttl_ms) > 0 else rule.window_seconds
            usages.append(
                Usage(
                    limit=rule.limit,
                    count=int(count),
                    reset_seconds=max(1, reset),
                    window_ends_ms=int(ends_ms),
                )
            )
        return usages

    async def enforce(self, name: str, subject: str, rule: RateLimitRule) -> Usage | None:
        """Count one request, 429 when over the limit; what was counted (None when Redis is away)."""
        usage = await self.hit(name, subject, rule)
        if usage is not None and usage.exceeded:
            raise usage.error()
        return usage

    async def refund(self, name: str, subject: str, counted: Usage) -> None:
        """Give back one request counted against (name, subject), to the window `counted` was in:
        nothing once that window has ended, or a refusal landing just after a window rolled over
        would give the next one an extra request."""
        try:
            await self._refund(
                keys=[redis_key(self._settings, "rl", name, subject)], args=[counted.window_ends_ms]
            )
        except RedisError as exc:
            log.warning("rate_limit_unavailable", error=str(exc), limits=[name])

    @asynccontextmanager
    async def charged(
        self,
        name: str,
        subject: str,
        rule: RateLimitRule,
        *,
        refund_on: tuple[type[BaseException], ...],
    ) -> AsyncIterator[None]:
        """Count one request before the work inside runs (429 when over the limit, so a caller over
        it costs no more than that), and give it back when the work ends in one of `refund_on`:
        a refusal that did nothing (a duplicate) should not use up what the caller has left.
        Two duplicates racing are both counted first and both given back; one refused after its
        window ended gives nothing back (`refund`)."""
        counted = await self.enforce(name, subject, rule)
        try:
            yield
        except refund_on:
            if counted is not None:
                await self.refund(name, subject, counted)
            raise


def limits_of(handler: BaseRouteHandler, method: str) -> list[Limit]:
    """The limits a request to `handler` with `method` counts against."""
    limits: list[Limit] = list(handler.opt.get("rate_limits", []))
    if method in _WRITE_METHODS and not handler.opt.get(EXEMPT_FROM_WRITE_LIMITS):
        limits += [IP_WRITE_LIMIT] if handler.opt.get(PUBLIC) else [WRITE_LIMIT, IP_WRITE_LIMIT]
    return limits


class RateLimitMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        limits = limits_of(scope["route_handler"], str(scope.get("method", "")))
        if not limits:
            await next_app(scope, receive, send)
            return
        app = scope["litestar_app"]
        limiter: RateLimiter = app.state.rate_limiter
        settings: Settings = app.state.settings
        hits = [
            (limit.name, subject, limit.rule(settings))
            for limit in limits
            if (subject := limit.subject(scope)) is not None
        ]
        usages = await limiter.hit_all(hits) if hits else []
        for usage in usages:
            if usage.exceeded:
                raise usage.error()
        tightest = min(usages, key=lambda usage: usage.remaining, default=None)
        if tightest is None:
            await next_app(scope, receive, send)
            return
        extra = tightest.headers()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                for name, value in extra.items():
                    # A handler's own refusal already describes the limit that refused it.
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await next_app(scope, receive, send_with_headers)
