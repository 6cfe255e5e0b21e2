"""Cursor pagination: `?limit=` (1-100, default 20) and an opaque, tamper-evident `?cursor=`.

A cursor is the position of the last item served (for example its timestamp and id) as JSON,
signed so clients can neither forge nor edit one: with the current secret key, and verified with it
or any previous one (REMIXFEED_PREVIOUS_SECRET_KEYS), so a key rotation does not break the lists
clients are paging through. Any cursor that does not decode and verify is a 400 `invalid_cursor`.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

import msgspec
from litestar.params import Parameter
from sqlalchemy import ColumnElement, tuple_

from app.errors import InvalidCursor
from app.security import SigningKeys

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

# Use as `limit: LimitParam = DEFAULT_LIMIT, cursor: CursorParam = None`.
LimitParam = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="Page size, 1-100")]
CursorParam = Annotated[str | None, Parameter(max_length=512, description="Opaque cursor from next_cursor")]


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None


class CursorCodec:
    """Signs and verifies cursors for one kind of list (`purpose`), so one list's cursor is
    refused by another."""

    def __init__(self, keys: SigningKeys, purpose: str) -> None:
        self._keys = keys
        self._purpose = purpose

    def encode(self, position: list[Any]) -> str:
        data = msgspec.json.encode(position)
        signature = self._keys.sign(self._purpose, data)
        return base64.urlsafe_b64encode(signature + data).rstrip(b"=").decode()

    def encode_position(self, at: datetime, last_id: UUID) -> str:
        """The usual position: the last item's timestamp and id (ids break timestamp ties)."""
        return self.encode([at.isoformat(), str(last_id)])

    def decode_position(self, cursor: str | None) -> tuple[datetime, UUID] | None:
        position = self.decode(cursor)
        if position is None:
            return None
        try:
            at, last_id = position
            return datetime.fromisoformat(str(at)), UUID(str(last_id))
        except (TypeError, ValueError) as exc:
            raise InvalidCursor() from exc

    def decode(self, cursor: str | None) -> list[Any] | None:
        if cursor is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError) as exc:
            raise InvalidCursor() from exc
        signature, data = raw[:16], raw[16:]
        if len(signature) != 16 or not self._keys.verify(self._purpose, data, signature):
            raise InvalidCursor()
        try:
            position = msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise InvalidCursor() from exc
        if not isinstance(position, list):
            raise InvalidCursor()
        return position


# Keyset conditions are one row comparison, `(column, tiebreak) < (at, last_id)`: PostgreSQL makes
# it the start of an index range. The equivalent `column < at OR (column = at AND id < last_id)`
# is only a filter, so each page re-read every row before it (a fan-out to 100k followers spent
# 48 ms a batch on that, against 1.4 ms).
def keyset_before(column: Any, tiebreak: Any, position: tuple[Any, Any]) -> ColumnElement[bool]:
    """Rows after `position` in descending (column, tiebreak) order."""
    return tuple_(column, tiebreak) < tuple_(*position)


def keyset_after(column: Any, tiebreak: Any, position: tuple[Any, Any]) -> ColumnElement[bool]:
    """Rows after `position` in ascending (column, tiebreak) order."""
    return tuple_(column, tiebreak) > tuple_(*position)
