"""JSON bodies are taken as typed: `0` is not `false` and `"8"` is not `8`.

Litestar decodes a JSON body to plain values and converts them to the handler's `data` type in
msgspec's lax mode (meant for query strings), so a handler declared with `bool` or `int` fields also
took `0`, `"true"` or `"8"`: requests the OpenAPI document says are invalid were accepted (found by
`make fuzz` with schemathesis' negative_data_rejection check). This hook, run before the handler's
arguments are parsed, refuses with 422 exactly the bodies that only the lax conversion accepts;
every other body, valid or not, goes on to Litestar unchanged and is answered as before.

A key given twice in one object of a JSON body is 422 naming it, rather than the last one silently
winning.

A body labelled as another type than the route takes is 415 `unsupported_media`, as POST
/v1/generations answers it: Litestar parses a route's body as the route's type whatever its
Content-Type says, so JSON labelled text/plain was taken and a form sent to a JSON route was 400
`malformed_json`. A body sent without a Content-Type is still read as the route's type.

A body sent with a Content-Encoding (gzip, deflate, br: anything but identity) is 415
`unsupported_media` on every route that takes a body (each documents the 415), before it is read:
nothing here decodes one, so a gzipped JSON body was read as its compressed bytes (RFC 9110 §8.4.1
has a server refuse a coding it does not support with 415). So is a JSON body labelled with a
charset other than UTF-8: JSON is UTF-8 (RFC 8259 §8.1), and `application/json; charset=latin-1`
was read as UTF-8 all the same.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.params import BodyKwarg

from app.errors import given_more_than_once, validation_failed_from
from app.images import UnsupportedMedia
from app.multipart import read_upload_form

# Keyed by the encoding's value: a route may name it as the enum or as its string.
_FORM_TYPES: dict[str, str] = {
    RequestEncodingType.MULTI_PART: "multipart/form-data",
    RequestEncodingType.URL_ENCODED: "application/x-www-form-urlencoded",
}


def _declared_type(request: Request[Any, Any, Any]) -> str | None:
    """The media type the body is labelled with, lower-cased and without parameters; None without one."""
    declared = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return declared or None


def _has_body(request: Request[Any, Any, Any]) -> bool:
    length = request.headers.get("content-length", "").strip()
    return "transfer-encoding" in request.headers or (length != "" and length != "0")


def _refuse_content_coding(request: Request[Any, Any, Any]) -> None:
    codings = request.headers.get("content-encoding", "")
    if any(c.strip().lower() not in ("", "identity") for c in codings.split(",")) and _has_body(request):
        raise UnsupportedMedia("Send the body without a Content-Encoding: no coding is supported")


def _refuse_other_charset(request: Request[Any, Any, Any]) -> None:
    for parameter in request.headers.get("content-type", "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise UnsupportedMedia("Send JSON in UTF-8: a charset other than utf-8 is not supported")


def _is_json(media_type: str) -> bool:
    # application/json and the structured-syntax types built on it (application/merge-patch+json).
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def strict_json_body(request: Request[Any, Any, Any]) -> None:
    """Litestar `before_request` hook: 415 for a body labelled as another type than the handler
    takes, one with a Content-Encoding or JSON in another charset than UTF-8, and 422 for a JSON
    body that fits the handler's type only when its values are coerced."""
    field = request.route_handler.parsed_fn_signature.parameters.get("data")
    if field is None:
        return
    _refuse_content_coding(request)
    kwarg = field.kwarg_definition
    declared = _declared_type(request)
    if isinstance(kwarg, BodyKwarg) and kwarg.media_type not in (None, RequestEncodingType.JSON):
        # A form: its values are text, and converting them is the point. The type is checked before
        # the body (an upload) is read; a multipart one is then read by app.multipart, whose form
        # Litestar hands to the handler.
        form_type = _FORM_TYPES.get(kwarg.media_type)
        if declared is not None and form_type is not None and declared != form_type:
            raise UnsupportedMedia(f"Send the body as {form_type}")
        if kwarg.media_type == RequestEncodingType.MULTI_PART:
            await read_upload_form(request, field.annotation)
        return
    body = await request.body()
    if not body:
        return
    if declared is not None and not _is_json(declared):
        raise UnsupportedMedia("Send the body as application/json")
    _refuse_other_charset(request)
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
    refuse_duplicate_keys(body)


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKey(key)
        found[key] = value
    return found


def refuse_duplicate_keys(body: bytes) -> None:
    """422 naming a key that an object in the (valid) JSON body gives twice. msgspec keeps the last
    one without a word, so `{"login": "alice", "login": "bob"}` logged in as bob, while another
    reader of the same bytes (a proxy, a log, the client's own library) may take the first."""
    try:
        json.loads(body, object_pairs_hook=_unique_keys)
    except _DuplicateKey as duplicate:
        raise given_more_than_once(duplicate.key) from None
