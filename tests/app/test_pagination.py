"""Cursors: signed with the current key, verified with it or a previous one, in a format that
does not change under the clients paging with them."""

from __future__ import annotations

import pytest

from app.errors import InvalidCursor
from app.pagination import CursorCodec
from app.security import SigningKeys

OLD_KEY = "a-key-of-the-format-test-0123456789abcdef"
NEW_KEY = "the-key-that-replaced-it-0123456789abcdef"
PURPOSE = "follows:followers:x"
POSITION = ["2024-05-01T12:00:00+00:00", "0190c0de-0000-7000-8000-000000000001"]
# Issued by CursorCodec(OLD_KEY, PURPOSE) before cursors knew of previous keys: 16 bytes of
# HMAC-SHA256 keyed by "purpose:key", then the position's JSON, unpadded URL-safe base64.
ISSUED_BEFORE = (
    "bkWqW-cSDMa1AxPhLhMXTVsiMjAyNC0wNS0wMVQxMjowMDowMCswMDowMCIs"
    "IjAxOTBjMGRlLTAwMDAtNzAwMC04MDAwLTAwMDAwMDAwMDAwMSJd"
)


def test_a_cursor_issued_before_still_decodes_and_the_format_is_unchanged() -> None:
    codec = CursorCodec(SigningKeys(OLD_KEY), PURPOSE)

    assert codec.decode(ISSUED_BEFORE) == POSITION
    assert codec.encode(POSITION) == ISSUED_BEFORE


def test_a_rotated_codec_signs_with_the_new_key_and_verifies_with_both() -> None:
    rotated = CursorCodec(SigningKeys(NEW_KEY, (OLD_KEY,)), PURPOSE)

    assert rotated.decode(ISSUED_BEFORE) == POSITION
    fresh = rotated.encode(POSITION)
    assert fresh != ISSUED_BEFORE
    assert CursorCodec(SigningKeys(NEW_KEY), PURPOSE).decode(fresh) == POSITION
    with pytest.raises(InvalidCursor):
        CursorCodec(SigningKeys(OLD_KEY), PURPOSE).decode(fresh)
    # A previous key verifies only the list it signed for.
    with pytest.raises(InvalidCursor):
        CursorCodec(SigningKeys(NEW_KEY, (OLD_KEY,)), "follows:following:x").decode(ISSUED_BEFORE)
    # Once the old key is no longer listed, its cursors are refused.
    with pytest.raises(InvalidCursor):
        CursorCodec(SigningKeys(NEW_KEY), PURPOSE).decode(ISSUED_BEFORE)
