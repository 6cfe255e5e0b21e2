"""JSON bodies are taken as typed: `0` is not `false` and `"8"` is not `8`.

Litestar decodes a JSON body to plain values and converts them to the handler's `data` type in
msgspec's lax mode (meant for query strings), so a handler declared with `bool` or `int` fields also
took `0`, `"true"` or `"8"`: requests the OpenAPI document says are invalid were accepted (found by
`make fuzz` with schemathesis' negative_data_rejection check). This hook, run before the handler's
arguments are parsed, refuses with 422 exactly the bodies that only the lax conversion accepts;
every other body, valid or not, goes on to Litestar unchanged and is answered as before.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.params import BodyKwarg

from app.errors import validation_failed_from


async def strict_json_body(request: Request[Any, Any, Any]) -> None:
    """Litestar `before_request` hook: 422 for a JSON body that fits the handler's type only when
    its values are coerced."""
    field = request.route_handler.parsed_fn_signature.parameters.get("data")
    if field is None:
        return
    kwarg = field.kwarg_definition
    if isinstance(kwarg, BodyKwarg) and kwarg.media_type not in (None, RequestEncodingType.JSON):
        return  # a form: its values are text, and converting them is the point
    body = await request.body()
    if not body:
        return
    try:
        msgspec.json.decode(body, type=field.annotation)
    except msgspec.ValidationError as strict:
        try:
            msgspec.convert(msgspec.json.decode(body), field.annotation, strict=False)
        except Exception:  # invalid anyway: Litestar answers it as it always has
            return
        raise validation_failed_from(strict) from strict
    except Exception:  # malformed JSON and the like: answered by Litestar, as before
        return
