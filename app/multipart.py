"""Reading multipart/form-data bodies, for the three upload routes.

Litestar's own parser answered a body over one of its limits (more than 1000 parts, a part's header
line over 4 KiB or more than 8 header lines) `400 bad_request` "Request Entity Too Large", and took a
part without a filename as a text field whatever it held: an image sent so (`curl -F 'file=<a.png'`,
Go's CreateFormField, a hand-built body with a Content-Type but no filename) was `400
malformed_multipart` for not being UTF-8, or a 422 about a string. Here:

- a limit is a limit: `413 request_too_large`, saying which (the body's own size limit is the
  route's, answered 413 before it is read past it, with the route's `too_large_code`);
- a part is a file when it has a filename, or a Content-Type that is not text/* (RFC 7578 §4.4:
  a part's type is text/plain unless it says otherwise), so an image labelled image/png is taken
  as the file with or without a filename;
- any other part is a text field in its charset (UTF-8 unless it names one): bytes that are not
  that text are `400 malformed_multipart` naming the part, and an upload route given text where it
  takes a file answers `422 validation_failed` naming the field and how to send a file.

The form is kept where Litestar's extractor of `MultipartBody[...]` and `Request.form()` look for
an already parsed form, so a route declared with `MultipartBody` gets this parser's result (run by
`read_upload_form` in the app's before_request hook), and Litestar closes its files after the
response.
"""

from __future__ import annotations

import codecs
import dataclasses
from collections import defaultdict
from typing import Any, get_type_hints

from litestar import Request
from litestar.datastructures import FormMultiDict, UploadFile
from litestar.types import Empty
from litestar.utils.scope.state import ScopeState
from multipart import (  # type: ignore[import-untyped]  # the parser Litestar uses, untyped
    MultipartSegment,
    ParserError,
    ParserLimitReached,
    PushMultipartParser,
)

from app.errors import AppError, FieldError, MalformedMultipart, ValidationFailed, given_more_than_once

# The upload routes take at most 8 fields (POST /v1/generations); a body of more parts is refused
# at the part past this, before the rest is read.
MAX_PARTS = 32
# A part's header lines: the parser's defaults (4 KiB a line, 8 lines; RFC 7578 needs 3).
MAX_PART_HEADER_BYTES = 4096 + 128
MAX_PART_HEADERS = 8

# The parser's messages for its limits, and what the answer says.
_LIMITS = {
    "Maximum segment count exceeded": f"A multipart body may have at most {MAX_PARTS} parts",
    "Maximum segment header length exceeded": f"A part header may be at most {MAX_PART_HEADER_BYTES} bytes",
    "Maximum segment header count exceeded": f"A part may have at most {MAX_PART_HEADERS} header lines",
}

FILE_EXPECTED = (
    "expected a file: send the part with a filename "
    '(Content-Disposition: form-data; name="{name}"; filename="...") or a Content-Type such as image/png'
)

Form = dict[str, Any]


class RequestTooLarge(AppError):
    status = 413
    code = "request_too_large"
    title = "The request is too large"


def _is_file(segment: MultipartSegment) -> bool:
    if segment.filename:
        return True
    content_type = (segment.content_type or "text/plain").lower()
    return not content_type.startswith("text/")


def _text(name: str, data: bytes | bytearray, charset: str | None) -> str:
    encoding = charset or "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise MalformedMultipart(
            f"The part `{name}` names a charset this server does not know: {encoding}",
            errors=[FieldError(field=name, message=f"unknown charset {encoding}")],
        ) from exc
    try:
        return bytes(data).decode(encoding)
    except UnicodeDecodeError as exc:
        message = f"not text in {encoding}; a file needs a filename or a Content-Type"
        raise MalformedMultipart(
            f"The part `{name}` is {message}", errors=[FieldError(field=name, message=message)]
        ) from exc


async def _close(fields: dict[str, list[Any]], current: UploadFile | bytearray | None) -> None:
    if isinstance(current, UploadFile):
        await current.close()
    for values in fields.values():
        for value in values:
            if isinstance(value, UploadFile):
                await value.close()


async def _parse(request: Request[Any, Any, Any], boundary: str) -> Form:
    fields: defaultdict[str, list[Any]] = defaultdict(list)
    data: UploadFile | bytearray | None = None
    segment: MultipartSegment | None = None
    started = False
    try:
        parser = PushMultipartParser(
            boundary.encode(),
            max_header_size=MAX_PART_HEADER_BYTES,
            max_header_count=MAX_PART_HEADERS,
            max_segment_count=MAX_PARTS,
        )
    except ParserError as exc:  # a boundary it cannot use
        raise MalformedMultipart(f"The multipart body could not be read: {exc}") from exc
    try:
        with parser:
            async for chunk in request.stream():
                if not chunk:
                    continue
                started = True
                for event in parser.parse(chunk):
                    if isinstance(event, MultipartSegment):
                        segment = event
                        data = (
                            UploadFile(
                                content_type=segment.content_type or "application/octet-stream",
                                filename=segment.filename or "",
                                headers=dict(segment.headerlist),
                            )
                            if _is_file(segment)
                            else bytearray()
                        )
                    elif event:
                        if isinstance(data, UploadFile):
                            await data.write(event)
                        elif data is not None:
                            data.extend(event)
                    elif segment is not None and data is not None:  # the end of a part
                        name = segment.name or ""
                        if isinstance(data, UploadFile):
                            await data.seek(0)
                            fields[name].append(data)
                        else:
                            fields[name].append(_text(name, data, segment.charset))
                        data, segment = None, None
    except ParserError as exc:
        if not started:  # no body at all: an empty form, for the route to name what it needs
            return {}
        await _close(fields, data)
        raise MalformedMultipart(f"The multipart body could not be read: {exc}") from exc
    except ParserLimitReached as exc:
        await _close(fields, data)
        raise RequestTooLarge(_LIMITS.get(str(exc), "The multipart body is over a limit")) from exc
    except BaseException:
        await _close(fields, data)
        raise
    return {name: values if len(values) > 1 else values[0] for name, values in fields.items()}


async def read_form(request: Request[Any, Any, Any]) -> FormMultiDict:
    """The request's multipart/form-data body, parsed once and kept for Litestar to close."""
    state = ScopeState.from_scope(request.scope)
    if state.form is not Empty:
        return FormMultiDict.from_form_data(state.form)
    boundary = request.content_type[1].get("boundary")
    if boundary:
        form = await _parse(request, boundary)
    elif await request.body():
        raise MalformedMultipart("The Content-Type names no multipart boundary")
    else:  # no body at all, labelled or not: an empty form, for the route to name what it needs
        form = {}
    state.form = form
    return FormMultiDict.from_form_data(form)


def file_expected(name: str) -> ValidationFailed:
    message = FILE_EXPECTED.format(name=name)
    return ValidationFailed(f"{name}: {message}", errors=[FieldError(field=name, message=message)])


async def read_upload_form(request: Request[Any, Any, Any], form_type: type[Any]) -> None:
    """Parses the body for a `MultipartBody[form_type]` route, and refuses a field given twice and
    text where the form takes a file, naming the field."""
    form = await read_form(request)
    types = get_type_hints(form_type)
    for field in dataclasses.fields(form_type):
        if len(form.getall(field.name, [])) > 1:
            raise given_more_than_once(field.name)
        if types[field.name] is UploadFile and isinstance(form.get(field.name), str):
            raise file_expected(field.name)
