"""Every domain's tables, gathered onto one MetaData for Alembic and the drift check."""

import accounts.models  # noqa: F401
import app.deferred_jobs
import app.idempotency  # noqa: F401
import cameo.models  # noqa: F401
import exports.models  # noqa: F401
import feed.models  # noqa: F401
import generation.models  # noqa: F401
import moderation.models  # noqa: F401
from app.db import metadata

__all__ = ["metadata"]
