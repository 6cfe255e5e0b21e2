"""Settings come from the environment, are typed, fail early when wrong, and are all documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.security import resolve_secret_key
from app.settings import RateLimitRule, Settings, SettingsError, load_settings, setting_env_names

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_match_the_contract() -> None:
    settings = load_settings({})
    assert settings.database_url is None and settings.redis_url is None
    assert settings.data_dir == Path(".remixfeed")
    assert settings.export_tmp_dir is None  # the system's temporary directory
    assert settings.invite_required is True
    assert settings.invite_uses == 4
    assert settings.access_token_ttl_seconds == 900
    retention = (
        settings.idempotency_retention_hours,
        settings.notification_retention_days,
        settings.session_retention_days,
        settings.checkin_retention_days,
        settings.ended_export_retention_days,
    )
    assert retention == (24, 90, 30, 30, 30)


def test_values_are_parsed_from_strings() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://db/x",
            "REMIXFEED_INVITE_REQUIRED": "false",
            "REMIXFEED_INVITE_USES": "7",
            "REMIXFEED_DATA_DIR": "/var/lib/remixfeed",
            "REMIXFEED_EXPORT_TMP_DIR": "/var/tmp/remixfeed-exports",
            "REMIXFEED_SIGNUP_RATE_LIMIT": "5/minute",
            "REMIXFEED_LOG_JSON": "1",
        }
    )
    assert settings.database_url == "postgresql://db/x"
    assert settings.invite_required is False
    assert settings.invite_uses == 7
    assert settings.data_dir == Path("/var/lib/remixfeed")
    assert settings.export_tmp_dir == Path("/var/tmp/remixfeed-exports")
    assert settings.signup_limit == RateLimitRule(limit=5, window_seconds=60)
    assert settings.log_json is True


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REMIXFEED_INVITE_USES", "many"),
        ("REMIXFEED_SIGNUP_RATE_LIMIT", "lots"),
        ("REMIXFEED_IP_WRITE_RATE_LIMIT", "0/minute"),
        ("REMIXFEED_READ_RATE_LIMIT", "10/fortnight"),
        ("REMIXFEED_INVITE_REQUIRED", "perhaps"),
        ("REMIXFEED_IDEMPOTENCY_RETENTION_HOURS", "0"),
        ("REMIXFEED_NOTIFICATION_RETENTION_DAYS", "0"),
        ("REMIXFEED_SESSION_RETENTION_DAYS", "-1"),
        ("REMIXFEED_CHECKIN_RETENTION_DAYS", "0"),
        ("REMIXFEED_ENDED_EXPORT_RETENTION_DAYS", "0"),
        ("REMIXFEED_PASSWORD_RESET_RATE_LIMIT", "0/hour"),
        ("REMIXFEED_PASSWORD_RESET_TTL_MINUTES", "0"),
        ("REMIXFEED_MAIL_BACKEND", "sendmail"),
        ("REMIXFEED_SMTP_SECURITY", "ssl"),
        ("REMIXFEED_SMTP_PORT", "70000"),
    ],
)
def test_bad_values_fail_at_start(name: str, value: str) -> None:
    with pytest.raises(SettingsError):
        load_settings({name: value})


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        # A link that would not carry the token.
        ({"REMIXFEED_PASSWORD_RESET_URL": "https://app.example/reset"}, "REMIXFEED_PASSWORD_RESET_URL"),
        # SMTP with nowhere to send, or no From.
        ({"REMIXFEED_MAIL_BACKEND": "smtp", "REMIXFEED_MAIL_FROM": "a@example.com"}, "REMIXFEED_SMTP_HOST"),
        (
            {"REMIXFEED_MAIL_BACKEND": "smtp", "REMIXFEED_SMTP_HOST": "smtp.example.com"},
            "REMIXFEED_MAIL_FROM",
        ),
        ({"REMIXFEED_MAIL_FROM": "remixfeed"}, "REMIXFEED_MAIL_FROM"),
        ({"REMIXFEED_SMTP_USERNAME": "remixfeed"}, "REMIXFEED_SMTP_PASSWORD"),
    ],
)
def test_mail_settings_that_cannot_work_fail_at_start(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(environ)


def test_mail_settings_are_read() -> None:
    settings = load_settings(
        {
            "REMIXFEED_MAIL_BACKEND": "smtp",
            "REMIXFEED_MAIL_FROM": "remixfeed <no-reply@example.com>",
            "REMIXFEED_SMTP_HOST": "smtp.example.com",
            "REMIXFEED_SMTP_PORT": "465",
            "REMIXFEED_SMTP_SECURITY": "tls",
            "REMIXFEED_SMTP_USERNAME": "remixfeed",
            "REMIXFEED_SMTP_PASSWORD": "secret",
            "REMIXFEED_PASSWORD_RESET_URL": "https://app.example/reset?token={token}",
            "REMIXFEED_PASSWORD_RESET_TTL_MINUTES": "30",
            "REMIXFEED_PASSWORD_RESET_RATE_LIMIT": "5/day",
        }
    )
    assert (settings.mail_backend, settings.smtp_port, settings.smtp_security) == ("smtp", 465, "tls")
    assert settings.password_reset_limit == RateLimitRule(limit=5, window_seconds=86400)
    assert settings.password_reset_ttl_minutes == 30
    # The development default: mail to files, no SMTP needed.
    assert load_settings({}).mail_backend == "file"


def test_production_requires_a_secret_key(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="REMIXFEED_SECRET_KEY"):
        resolve_secret_key(Settings(database_url="postgresql://db/x", data_dir=tmp_path))
    with pytest.raises(SettingsError, match="32"):
        resolve_secret_key(Settings(database_url="postgresql://db/x", secret_key="short", data_dir=tmp_path))


def test_a_short_previous_secret_key_is_refused_at_start(tmp_path: Path) -> None:
    good = "k" * 32
    with pytest.raises(SettingsError, match="PREVIOUS_SECRET_KEYS"):
        resolve_secret_key(
            Settings(
                database_url="postgresql://db/x",
                secret_key=good,
                previous_secret_keys=f"{good},short",
                data_dir=tmp_path,
            )
        )
    listed = Settings(
        database_url="postgresql://db/x", secret_key=good, previous_secret_keys=f"{good}, ", data_dir=tmp_path
    )
    kept = resolve_secret_key(listed)
    assert kept.previous_secret_key_list == (good,)


def test_embedded_default_generates_and_keeps_a_secret_key(tmp_path: Path) -> None:
    first = resolve_secret_key(Settings(data_dir=tmp_path))
    second = resolve_secret_key(Settings(data_dir=tmp_path))
    assert first.secret_key and len(first.secret_key) >= 32
    assert first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in setting_env_names() if f"`{name}`" not in readme]
    assert missing == [], f"README.md does not document: {missing}"
