"""What other domains do, in the same transaction, when a cameo changes. Cameo may not import the
domains above it (generation cancels generations, moderation files verification items), so they
register here, once, from the composition root; the cameo service calls them.

- `on_recording_submitted(session, cameo)`: a recording was accepted; the cameo awaits review.
- `on_revoked(session, cameo)`: the cameo was revoked; nothing may use it from now on.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.hooks import Hooks
from cameo.models import Cameo

_recording_submitted: Hooks[[AsyncSession, Cameo]] = Hooks()
_revoked: Hooks[[AsyncSession, Cameo]] = Hooks()
on_recording_submitted = _recording_submitted.add
recording_submitted = _recording_submitted.run
on_revoked = _revoked.add
revoked = _revoked.run
