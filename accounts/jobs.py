"""Background jobs of accounts."""

from __future__ import annotations

import structlog

from accounts.service import AuthService
from app.db import in_transaction
from app.jobs import Job
from app.resources import Resources

log = structlog.get_logger(__name__)


async def purge_expired_refresh_tokens(resources: Resources) -> int:
    """Expired refresh tokens can never be used again; keep the table small."""

    async def work(session):  # type: ignore[no-untyped-def]
        return await AuthService(session, resources.settings).purge_expired_tokens()

    purged: int = await in_transaction(resources.session_factory, work)
    log.info("refresh_tokens_purged", count=purged)
    return purged


jobs = [
    Job(
        name="accounts.purge_expired_refresh_tokens", function=purge_expired_refresh_tokens, cron="17 * * * *"
    )
]
