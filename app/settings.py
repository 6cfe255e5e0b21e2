"""One typed settings object, read from the environment.

Every setting is listed in README.md (a test checks). Names without the REMIXFEED_ prefix are the
ones other tools already know (DATABASE_URL, REDIS_URL).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from email.utils import parseaddr
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)\s*$")
_WINDOW_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class RateLimitRule(msgspec.Struct, frozen=True):
    """`limit` requests per `window_seconds`, written in settings as e.g. "20/hour"."""

    limit: int
    window_seconds: int

    @classmethod
    def parse(cls, text: str) -> RateLimitRule:
        match = _RATE.match(text)
        if not match:
            raise ValueError(f"rate limit {text!r} is not of the form N/second|minute|hour|day")
        if int(match[1]) < 1:
            # 0 would refuse every request; a limit that should not bite is set high instead.
            raise ValueError(f"rate limit {text!r} must allow at least 1 request")
        return cls(limit=int(match[1]), window_seconds=_WINDOW_SECONDS[match[2]])


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None = None
    redis_url: str | None = None
    # The video provider: OpenAI's Sora 2 Videos API, or any endpoint speaking the same protocol.
    # With no key the app uses the local Sora API simulator.
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_webhook_secret: str | None = None

    data_dir: Path = Path(".remixfeed")
    secret_key: str | None = None
    # Comma-separated keys access tokens and cursors signed before a key rotation are still
    # accepted with (app.security.SigningKeys).
    previous_secret_keys: str = ""
    invite_required: bool = True
    invite_uses: int = 4
    daily_generation_limit: int = 30
    simulator_seconds: float = 5.0
    provider_timeout_seconds: float = 60.0
    # Generation steps each process that runs jobs runs at once, of its 10 job slots: a slow
    # provider must not hold them all (generation.jobs.step_turns).
    provider_jobs_at_once: Annotated[int, msgspec.Meta(ge=1)] = 5
    # How often a running generation is checked with the provider (webhooks make it sooner).
    generation_poll_seconds: float = 2.0
    # Provider calls for one generation before it is given up as failed (rate limits, outages).
    generation_max_attempts: int = 6
    # How long an unfinished generation may go untouched before the cron sweep enqueues its step
    # again (its job was lost). A step holds the row through a provider call without touching it;
    # the sweep's job shares the step's key, so one still queued or running is left as it is.
    generation_sweep_idle_seconds: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    # Whether the provider's copy of a completed generation's video is kept while the video exists,
    # for the provider to make remixes from (generation.provider_deletion); off, it is deleted once
    # the draft has committed and remixes are rendered from their prompt.
    provider_keep_remix_sources: bool = True
    # Screening of prompts, captions and comments (app/screening.py): "auto" asks the moderation
    # endpoint of the video provider's API (OpenAI with a key, else the simulator) after the local
    # rules; "local" uses the local rules only (for an OPENAI_BASE_URL without /moderations).
    screening_mode: Literal["auto", "local"] = "auto"
    # Any category score at or above this refuses the text outright; below it, what the endpoint
    # flags is accepted and queued for human review.
    screening_refuse_score: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.9
    # One moderation call; past it the text is accepted and queued for review (never a failure).
    screening_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 5.0

    # Argon2id hashes (sign-up, login) one process computes at once; each holds 64 MiB while it
    # runs and keeps 4 threads busy, so more only helps on a machine with many cores.
    password_hashes_at_once: Annotated[int, msgspec.Meta(ge=1)] = 1
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_days: int = 30
    signup_rate_limit: str = "20/hour"
    token_rate_limit: str = "30/minute"  # noqa: S105 - a rate, not a secret
    login_rate_limit: str = "10/minute"
    report_rate_limit: str = "20/hour"
    # Password-reset mails per account (`POST /v1/auth/password-reset`): past it the request still
    # answers 202 but sends nothing, so nobody can flood an address with them.
    password_reset_rate_limit: str = "3/hour"  # noqa: S105 - a rate, not a secret
    # How long a password-reset token works; and, when set, the link the mail shows, a template in
    # which `{token}` stands for the token (a page of the app that posts it to the confirm route).
    password_reset_ttl_minutes: Annotated[int, msgspec.Meta(ge=1, le=7 * 24 * 60)] = 60
    password_reset_url: str = ""
    # Every signed-in write (POST, PUT, PATCH, DELETE) per user, feed pages per user, and other
    # expensive reads (remix trees and lineage, progress streams) per user: what one account (or
    # one stolen token) can make the service do.
    write_rate_limit: str = "120/minute"
    feed_rate_limit: str = "120/minute"
    read_rate_limit: str = "300/minute"
    # The same per client address, signed in or not; looser, since many people can share one
    # address (a campus, a carrier's NAT).
    ip_write_rate_limit: str = "600/minute"
    ip_read_rate_limit: str = "1200/minute"
    # Progress streams (GET /v1/generations/{id}/events) one user may hold open at once: each holds
    # a Redis connection while its generation runs.
    progress_streams_per_user: Annotated[int, msgspec.Meta(ge=1)] = 5
    # How long a moderator holds a claimed item before it returns to its queue.
    moderation_lease_seconds: Annotated[int, msgspec.Meta(ge=1)] = 300
    # Cameos: how long a revoked or rejected cameo's recording is kept before it is deleted, and
    # whether a teen's cameo may be opened to everyone (otherwise it acts as `mutuals` at most).
    cameo_recording_retention_days: Annotated[int, msgspec.Meta(ge=0)] = 30
    teen_cameos_for_everyone: bool = False
    # Personal data exports (POST /v1/me/exports): how many one account may ask for per window
    # (failed ones not counted), and how long a ready archive can be downloaded before it is deleted.
    export_rate_limit: str = "1/day"
    export_retention_days: Annotated[int, msgspec.Meta(ge=1)] = 7
    # Where a build writes its archive before uploading it (in a directory of its own, removed once
    # uploaded; created if missing): room for the largest account's archive, media included. Unset,
    # the system's temporary directory (TMPDIR), on many systems a tmpfs held in memory.
    export_tmp_dir: Path | None = None
    # Data retention: how long rows of no use after a while are kept before the hourly `retention.*`
    # jobs delete them. An Idempotency-Key retried after its record is gone is a new request (as
    # Stripe's keys, kept 24 hours); a notification goes read or unread; a login once it ended or
    # expired.
    idempotency_retention_hours: Annotated[int, msgspec.Meta(ge=1)] = 24
    notification_retention_days: Annotated[int, msgspec.Meta(ge=1)] = 90
    session_retention_days: Annotated[int, msgspec.Meta(ge=1)] = 30
    # A wellbeing check-in's answers (sensitive): the ranking reads none of them (each check-in moves
    # `feed_preferences.mood_bias` as it is made), only the export does, so any number of days is
    # enough for the feed.
    checkin_retention_days: Annotated[int, msgspec.Meta(ge=1)] = 30
    # An expired or failed export's row, counted from when it ended. It was asked for before that,
    # so a day or more also outlasts the export rate limit's window (a day at most): the limit still
    # counts every export asked for within it.
    ended_export_retention_days: Annotated[int, msgspec.Meta(ge=1)] = 30
    # The paced feed: videos per feed session before a break (adults, teens), the teens' daily cap,
    # and how many breaks go by before one is a wellbeing check-in.
    feed_break_after: Annotated[int, msgspec.Meta(ge=1)] = 20
    teen_feed_break_after: Annotated[int, msgspec.Meta(ge=1)] = 10
    teen_daily_feed_limit: Annotated[int, msgspec.Meta(ge=1)] = 50
    feed_wellbeing_every: Annotated[int, msgspec.Meta(ge=1)] = 3
    # Fan-out on write: video ids kept in each follower's Redis inbox, and followers pushed per
    # batch (an author with more followers than one batch fans out in `feed.fan_out` jobs).
    feed_inbox_size: Annotated[int, msgspec.Meta(ge=1)] = 800
    feed_fanout_batch: Annotated[int, msgspec.Meta(ge=1)] = 1000
    feed_rankings_at_once: Annotated[int, msgspec.Meta(ge=1)] = 1
    # Rankings each API process runs while its pages wait; past that, pages rank quickly and the
    # full ranking runs ahead in the job worker.
    feed_inline_rankings_at_once: Annotated[int, msgspec.Meta(ge=1)] = 2

    # Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For is believed.
    trusted_proxies: str = ""
    # Base URL that media keys are appended to; empty means relative URLs served by this API at /media/.
    media_url: str = ""
    # Where media bytes live: "local" keeps them under REMIXFEED_DATA_DIR/media (one machine);
    # "s3" puts them in an S3-compatible bucket (AWS, MinIO, ...) that every process shares.
    storage_backend: Literal["local", "s3"] = "local"
    # The bucket for the s3 backend (required with it; checked at start).
    s3_bucket: str = ""
    # Endpoint of an S3-compatible service such as MinIO; empty means AWS itself.
    s3_endpoint_url: str = ""
    # The bucket's region (MinIO and most compatible services accept any value).
    s3_region: str = "us-east-1"
    # Static credentials; both empty means the usual AWS chain (AWS_* variables, instance role).
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    # Key prefix inside the bucket, so one bucket can hold several deployments' media.
    s3_prefix: str = ""
    # Allow a plain-http endpoint (a MinIO on a private network, a local test server).
    s3_allow_http: bool = False
    redis_namespace: str = "remixfeed"
    # Connections per process, kept open once made. No overflow by default: overflow connections are
    # closed as soon as they are given back, so under load each burst reopens them (a new backend with
    # cold caches, every statement prepared again), more work just when there is most to do.
    db_pool_size: Annotated[int, msgspec.Meta(ge=1)] = 20
    # The longest one SQL statement may run (requests and jobs alike) before PostgreSQL cancels it.
    db_statement_timeout_seconds: Annotated[int, msgspec.Meta(ge=1)] = 30
    # -1: no limit, as SQLAlchemy takes it.
    db_max_overflow: Annotated[int, msgspec.Meta(ge=-1)] = 0
    log_level: str = "INFO"
    log_json: bool = False
    # None means: run the job worker in the API process exactly when the embedded servers are used.
    worker_in_process: bool | None = None
    # A `remixfeed worker` serves its Prometheus metrics (jobs, provider calls) on this port; 0: off.
    worker_metrics_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0
    # A running job is touched by its worker every third of this; one left untouched this long (its
    # worker was killed, lost its machine or its Redis connection) is taken back and run again.
    job_heartbeat_seconds: Annotated[int, msgspec.Meta(ge=1)] = 30
    # How often the workers look for such jobs (one of them does, whatever their number).
    job_sweep_seconds: Annotated[int, msgspec.Meta(ge=1)] = 10
    # On SIGTERM a worker takes no new job and gives its running ones this long to finish; those
    # still running then are handed back to the queue for another worker.
    job_shutdown_grace_seconds: Annotated[int, msgspec.Meta(ge=0)] = 20
    process_name: str = "remixfeed-api"
    # Outgoing mail (app/mail.py): "file" writes each message as an .eml file under
    # REMIXFEED_DATA_DIR/mail (development: read them there); "smtp" sends them through a server.
    mail_backend: Literal["file", "smtp"] = "file"
    # The From of every mail; required with smtp.
    mail_from: str = ""
    smtp_host: str = ""
    # 0: the usual port of `smtp_security` (587 starttls, 465 tls, 25 none).
    smtp_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0
    smtp_username: str = ""
    smtp_password: str = ""
    # "starttls": upgrade a plain connection (required; refused if the server cannot); "tls": TLS
    # from the first byte (SMTPS); "none": plain text (a relay on the same machine or network only).
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 30.0

    @property
    def embedded_database(self) -> bool:
        return not self.database_url

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_url

    @property
    def uses_simulator(self) -> bool:
        return not self.openai_api_key

    @property
    def signup_limit(self) -> RateLimitRule:
        return RateLimitRule.parse(self.signup_rate_limit)

    @property
    def token_limit(self) -> RateLimitRule:
        return RateLimitRule.parse(self.token_rate_limit)

    @property
    def login_limit(self) -> RateLimitRule:
        return RateLimitRule.parse(self.login_rate_limit)

    @property
    def report_limit(self) -> RateLimitRule:
        return RateLimitRule.parse(self.report_rate_limit)

    @property
    def password_reset_limit(self) -> RateLimitRule:
        return RateLimitRule.parse(self.password_reset_rate_limit)

    @property
    def write_limit(self) -> RateLimitRule:
        return RateLimitRule.parse(self.write_rate_limit)

    @property
    def export_limit(self) -> RateLimitRule:
        return RateLimitRule.parse(self.export_rate_limit)

    @property
    def feed_limit(self) -> RateLimitRule:
        return RateLimitRule.parse(self.feed_rate_limit)

    @property
    def read_limit(self) -> RateLimitRule:
        return RateLimitRule.parse(self.read_rate_limit)

    @property
    def ip_write_limit(self) -> RateLimitRule:
        return RateLimitRule.parse(self.ip_write_rate_limit)

    @property
    def ip_read_limit(self) -> RateLimitRule:
        return RateLimitRule.parse(self.ip_read_rate_limit)

    @property
    def trusted_proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return tuple(
            ip_network(part.strip(), strict=False) for part in self.trusted_proxies.split(",") if part.strip()
        )

    @property
    def previous_secret_key_list(self) -> tuple[str, ...]:
        return tuple(key.strip() for key in self.previous_secret_keys.split(",") if key.strip())

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    def replace(self, **changes: Any) -> Settings:
        return msgspec.structs.replace(self, **changes)


# Environment variables that keep their conventional names instead of the REMIXFEED_ prefix.
_PLAIN_NAMES = {"database_url", "redis_url", "openai_api_key", "openai_base_url", "openai_webhook_secret"}


def _env_name(field: str) -> str:
    return field.upper() if field in _PLAIN_NAMES else f"REMIXFEED_{field.upper()}"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    raw: dict[str, str] = {}
    for field in msgspec.structs.fields(Settings):
        value = environ.get(_env_name(field.name))
        if value is not None and value != "":
            raw[field.name] = value
    try:
        settings = msgspec.convert(raw, Settings, strict=False, dec_hook=_decode_extra)
        # Parse eagerly so a malformed rate limit fails at start, not on the first request.
        _ = (
            settings.signup_limit,
            settings.token_limit,
            settings.login_limit,
            settings.report_limit,
            settings.password_reset_limit,
            settings.export_limit,
            settings.write_limit,
            settings.feed_limit,
            settings.read_limit,
            settings.ip_write_limit,
            settings.ip_read_limit,
            settings.trusted_proxy_networks,
        )
    except (msgspec.ValidationError, ValueError) as exc:
        raise SettingsError(f"invalid settings: {exc}") from exc
    # Checked here so a misconfigured deployment fails at start, not on its first upload.
    if settings.storage_backend == "s3" and not settings.s3_bucket.strip():
        raise SettingsError("invalid settings: REMIXFEED_STORAGE_BACKEND=s3 needs REMIXFEED_S3_BUCKET")
    if bool(settings.s3_access_key_id) != bool(settings.s3_secret_access_key):
        raise SettingsError(
            "invalid settings: set both REMIXFEED_S3_ACCESS_KEY_ID and REMIXFEED_S3_SECRET_ACCESS_KEY, "
            "or neither (to use the AWS credential chain)"
        )
    if settings.password_reset_url and "{token}" not in settings.password_reset_url:
        raise SettingsError("invalid settings: REMIXFEED_PASSWORD_RESET_URL must contain {token}")
    if settings.mail_backend == "smtp" and not (settings.smtp_host.strip() and settings.mail_from.strip()):
        raise SettingsError(
            "invalid settings: REMIXFEED_MAIL_BACKEND=smtp needs REMIXFEED_SMTP_HOST and REMIXFEED_MAIL_FROM"
        )
    if settings.mail_from.strip() and "@" not in parseaddr(settings.mail_from)[1]:
        raise SettingsError(
            "invalid settings: REMIXFEED_MAIL_FROM must be an address, as 'remixfeed <no-reply@example.com>'"
        )
    if bool(settings.smtp_username) != bool(settings.smtp_password):
        raise SettingsError(
            "invalid settings: set both REMIXFEED_SMTP_USERNAME and REMIXFEED_SMTP_PASSWORD, or neither"
        )
    return settings


def _decode_extra(kind: type, value: Any) -> Any:
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError(f"cannot read {kind} from the environment")


def setting_env_names() -> list[str]:
    """Every environment variable the settings read, for the README check."""
    return [_env_name(field.name) for field in msgspec.structs.fields(Settings)]


class SettingsError(RuntimeError):
    pass
