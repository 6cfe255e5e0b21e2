"""Every error is RFC 9457 problem+json with a stable machine `code`.

Domain packages subclass `AppError` in their errors.py; the handlers here turn those, Litestar's
own HTTP exceptions and anything unexpected into the same shape. Every expected failure is a 4xx;
a 500 here means a bug, and is logged as one.
"""

from __future__ import annotations

import dataclasses
import re
from http import HTTPStatus
from typing import Any, ClassVar

import msgspec
import structlog
from litestar import Request, Response
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.exceptions import (
    HTTPException,
    NotFoundException,
    SerializationException,
    ValidationException,
)
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.types.asgi_types import HTTPResponseStartEvent
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.head import allow_with_head
from app.http_metrics import note_unrouted_status

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
# msgspec names these fields in its message, not in the path (which is the enclosing object).
_UNKNOWN_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]+)`")


class FieldError(msgspec.Struct):
    field: str
    message: str


class Problem(msgspec.Struct, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldError] | None = None


class AppError(Exception):
    """An expected failure with a stable code. Subclasses set status, code and title."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"
    # A refusal whose own writes must stand (revoking a token family on reuse): the request's
    # transaction commits before the error is answered.
    keeps_changes: ClassVar[bool] = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        super().__init__(self.detail)


class ValidationFailed(AppError):
    status = 422
    code = "validation_failed"
    title = "The request did not validate"


class MalformedRequest(AppError):
    status = 400
    code = "malformed_json"
    title = "The request body could not be read"


class MalformedMultipart(AppError):
    status = 400
    code = "malformed_multipart"
    title = "The multipart body could not be read"


class NotAuthenticated(AppError):
    status = 401
    code = "not_authenticated"
    title = "Authentication required"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="remixfeed"'})


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    title = "Not allowed"


class NotFound(AppError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(AppError):
    status = 409
    code = "conflict"
    title = "Conflict"


class InvalidCursor(AppError):
    status = 400
    code = "invalid_cursor"
    title = "The cursor is not valid"


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"


class ServiceUnavailable(AppError):
    status = 503
    code = "service_unavailable"
    title = "A service this request needs is unavailable"


_STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media",
    422: "validation_failed",
    429: "rate_limited",
    503: "service_unavailable",
}


_MSGSPEC_PATH = re.compile(r" - at `\$\.?([^`]*)`$")


def given_more_than_once(field: str) -> ValidationFailed:
    """A 422 for a JSON key or a query parameter sent twice, where which one counts is a guess."""
    message = "given more than once"
    return ValidationFailed(f"{field}: {message}", errors=[FieldError(field=field, message=message)])


def validation_failed_from(exc: msgspec.ValidationError) -> ValidationFailed:
    """A 422 naming the field msgspec complained about (for bodies a handler decodes itself)."""
    message = str(exc)
    unknown = _UNKNOWN_FIELD.search(message)
    located = _MSGSPEC_PATH.search(message)
    field = unknown[1] if unknown else (located[1] if located and located[1] else "body")
    text = _MSGSPEC_PATH.sub("", message)
    return ValidationFailed(f"{field}: {text}", errors=[FieldError(field=field, message=text)])


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem+json answers a route can give."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_JSON,
            description=HTTPStatus(status).phrase,
            generate_examples=False,  # random examples would make the committed document unstable
        )
        for status in statuses
    }


def problem(
    status: int, code: str, title: str, detail: str, errors: list[FieldError] | None = None
) -> Problem:
    return Problem(
        type=f"https://remixfeed.dev/problems/{code.replace('_', '-')}",
        title=title,
        status=status,
        detail=detail,
        code=code,
        errors=errors,
    )


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    body = problem(status, code, title, detail, errors)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


# A short plain-text answer's own words are kept as the problem's detail.
_KEPT_DETAIL = re.compile(r"[ -~]{1,200}")


class ProblemOnlyErrors:
    """ASGI wrapper: an error answered by something other than the handlers above is made a
    problem+json too. Litestar's CORS middleware answers a refused preflight (an origin, method or
    request header it does not allow) itself, `400 text/plain` "Disallowed CORS headers"; this keeps
    its status, headers and words and gives it the shape and `code` of every other error. Each one
    is logged (`non_problem_error`, at INFO: any client can send a refused preflight), so a new
    source shows up. A JSON error body is left alone: a handler sent it on purpose (/health/ready's
    503 says which dependency is down, in the shape its callers read)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        held: HTTPResponseStartEvent | None = None
        body = bytearray()

        async def send_problems(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and _is_other_error(message):
                held = message
                return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                await _send_as_problem(scope, held, bytes(body), send)

        await self.app(scope, receive, send_problems)


def _is_other_error(start: HTTPResponseStartEvent) -> bool:
    if start["status"] < 400:
        return False
    content_type = MutableScopeHeaders.from_message(start).get("content-type") or ""
    # A JSON error body is a handler's own, on purpose: /health/ready's 503 names what is down.
    return not content_type.startswith((PROBLEM_JSON, "application/json"))


async def _send_as_problem(scope: Scope, start: HTTPResponseStartEvent, original: bytes, send: Send) -> None:
    status = start["status"]
    code, title = _by_status(status)
    text = original.decode("utf-8", "replace").strip()
    detail = text if _KEPT_DETAIL.fullmatch(text) else title
    log.info("non_problem_error", status=status, path=scope.get("path"), detail=detail)
    encoded = msgspec.json.encode(problem(status, code, title, detail))
    headers = [
        (name, value)
        for name, value in start.get("headers", [])
        if name.lower() not in (b"content-type", b"content-length")
    ]
    headers += [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(encoded)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": encoded, "more_body": False})


def _by_status(status: int) -> tuple[str, str]:
    """The code and title of an error known only by its status."""
    code = _STATUS_CODES.get(status, "error" if status >= 500 else "bad_request")
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return code, title


def _is_multipart(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "multipart/form-data"


def _app_error(_: Request[Any, Any, Any], exc: AppError) -> Response[Problem]:
    return problem_response(exc.status, exc.code, exc.title, exc.detail, exc.errors, exc.headers)


def _field_errors(extra: Any) -> list[FieldError]:
    errors: list[FieldError] = []
    if isinstance(extra, list):
        for item in extra:
            if isinstance(item, dict):
                message = str(item.get("message", "invalid value"))
                # msgspec reports an unexpected field at the object's own path; name the field.
                unknown = _UNKNOWN_FIELD.search(message)
                key = unknown[1] if unknown else item.get("key") or item.get("source") or "body"
                if key == _BODY_PARAMETER:  # the handler's name for the body, not a field the client knows
                    key = "body"
                errors.append(FieldError(field=str(key), message=message))
    return errors


# Litestar's error for a handler's `data` (the whole body): "'data'" (a KeyError) when there was no
# body at all, or msgspec's complaint about its type ("Expected `object`, got `null`").
_BODY_PARAMETER = "data"
_NO_BODY = "'data'"


def _missing_body(request: Request[Any, Any, Any]) -> Response[Problem]:
    """No body where the route takes one: name the fields it needs, as for an empty object."""
    handler = request.scope.get("route_handler")
    field = handler.parsed_fn_signature.parameters.get(_BODY_PARAMETER) if handler is not None else None
    body_type = field.annotation if field is not None else None
    required: list[str] = []
    detail = "This request needs a body"
    if isinstance(body_type, type) and issubclass(body_type, msgspec.Struct):
        required = [f.encode_name for f in msgspec.structs.fields(body_type) if f.required]
        shape = ", ".join(f'"{name}": ...' for name in required)
        detail = f"This request needs a JSON body: {{{shape}}}"
    elif isinstance(body_type, type) and dataclasses.is_dataclass(body_type):  # a multipart form
        required = [f.name for f in dataclasses.fields(body_type)]
        detail = f"This request needs a multipart/form-data body with: {', '.join(required)}"
    message = "required; the request had no body"
    errors = [FieldError(field=name, message=message) for name in required or ["body"]]
    return problem_response(422, ValidationFailed.code, ValidationFailed.title, detail, errors)


def _validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Problem]:
    detail = exc.detail or "invalid request"
    if isinstance(exc.extra, list) and any(
        isinstance(item, dict) and item.get("key") == _BODY_PARAMETER and item.get("message") == _NO_BODY
        for item in exc.extra
    ):
        return _missing_body(request)
    errors = _field_errors(exc.extra)
    if not errors:
        errors = [FieldError(field="body", message=detail)]
    return problem_response(422, ValidationFailed.code, ValidationFailed.title, detail, errors)


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    status = exc.status_code
    note_unrouted_status(request.scope, status)
    if status >= 500:
        log.error("http_exception", status=status, detail=exc.detail, exc_info=exc.__cause__ or exc)
    code, title = _by_status(status)
    detail = exc.detail or title
    if isinstance(exc, NotFoundException):
        detail = "No such resource"
    if status == 400 and isinstance(exc.__cause__, SerializationException):
        code, title = MalformedRequest.code, MalformedRequest.title
    elif status == 400 and _is_multipart(request):
        # Litestar refusing the framing. The upload routes read their bodies with app.multipart,
        # which names the part and answers a limit 413 itself.
        code, title = MalformedMultipart.code, MalformedMultipart.title
    if status == 413:
        # A route that takes uploads names the code clients know for "too big" there.
        handler = request.scope.get("route_handler")
        if isinstance(handler, HTTPRouteHandler):
            code = handler.opt.get("too_large_code", code)
            limit = handler.resolve_request_max_body_size()
            if limit:
                detail = f"The request body may be at most {limit / 1024 / 1024:g} MiB"
    headers = exc.headers
    if status == 405 and headers:
        # HEAD is answered wherever GET is (app.head), which Litestar's routing does not know.
        headers = {
            name: allow_with_head(value) if name.lower() == "allow" else value
            for name, value in headers.items()
        }
    return problem_response(status, code, title, detail, headers=headers)


def _serialization(_: Request[Any, Any, Any], exc: SerializationException) -> Response[Problem]:
    return problem_response(
        400, MalformedRequest.code, MalformedRequest.title, str(exc) or MalformedRequest.title
    )


def _integrity(_: Request[Any, Any, Any], exc: IntegrityError) -> Response[Problem]:
    # Services translate the conflicts they expect; one that slips through (a race between two
    # requests) is still the client's conflict, not a server failure.
    log.warning("integrity_conflict", error=str(exc.orig))
    return problem_response(
        409, Conflict.code, Conflict.title, "The request conflicts with the current state"
    )


def _database_unavailable(_: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.error("database_unavailable", error=str(exc))
    return problem_response(
        503,
        ServiceUnavailable.code,
        ServiceUnavailable.title,
        "The database is unavailable; try again shortly",
        headers={"Retry-After": "5"},
    )


def _redis_unavailable(_: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.error("redis_unavailable", error=str(exc))
    return problem_response(
        503,
        ServiceUnavailable.code,
        ServiceUnavailable.title,
        "Redis is unavailable; try again shortly",
        headers={"Retry-After": "5"},
    )


def _transaction_conflict(_: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    # Nothing the client did wrong, and the same request goes through when sent again; but it
    # means two code paths take the same rows in opposite orders, which is worth fixing.
    log.error("transaction_conflict", error=str(exc))
    return problem_response(
        503,
        ServiceUnavailable.code,
        ServiceUnavailable.title,
        "The request ran into another one changing the same data at the same time; try again",
        headers={"Retry-After": "1"},
    )


# invalid_text_representation-like refusals of a value the client sent: NUL bytes in text
# (character_not_in_repertoire, untranslatable_character) and values out of a column's range.
_CLIENT_DATA_SQLSTATES = {"22021", "22P05", "22003", "22001"}
_QUERY_CANCELED = "57014"
# The server rolled the transaction back to let another one go on: serialization_failure and
# deadlock_detected. Sending the request again is the remedy: 503 with Retry-After, not a 500.
_TRANSACTION_CONFLICT_SQLSTATES = {"40001", "40P01"}
# The server cannot serve us right now: connection exceptions (class 08), shutting down or starting
# up (57P01-57P03), out of connection slots (53300). All pass once it is back: 503, not 500.
_SERVER_UNAVAILABLE_SQLSTATES = {"57P01", "57P02", "57P03", "53300"}


def _dbapi(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[Problem]:
    if exc.connection_invalidated:
        return _database_unavailable(request, exc)
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(
        getattr(exc.orig, "__cause__", None), "sqlstate", None
    )
    if sqlstate == _QUERY_CANCELED:  # REMIXFEED_DB_STATEMENT_TIMEOUT_SECONDS ran out
        return _database_unavailable(request, exc)
    if sqlstate in _TRANSACTION_CONFLICT_SQLSTATES:
        return _transaction_conflict(request, exc)
    if sqlstate is not None and (sqlstate in _SERVER_UNAVAILABLE_SQLSTATES or str(sqlstate).startswith("08")):
        return _database_unavailable(request, exc)
    if sqlstate in _CLIENT_DATA_SQLSTATES:
        return problem_response(
            422,
            ValidationFailed.code,
            ValidationFailed.title,
            "A value in the request cannot be stored (NUL characters are not allowed)",
            [FieldError(field="body", message="contains a value that cannot be stored")],
        )
    return _unexpected(request, exc)


def _undecodable(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    # msgspec raises these itself (not as DecodeError) for non-UTF-8 bodies and absurd nesting, and
    # the multipart parser for a part in a charset Python does not have (LookupError).
    if type(exc) is LookupError or isinstance(exc, UnicodeError):
        detail = "The body (or a part of it) is not in a readable encoding"
    elif isinstance(exc, RecursionError):
        detail = "The body is nested too deeply"
    else:  # a KeyError or IndexError is a bug, not the client's doing
        return _unexpected(request, exc)
    # Named for what the client sent: a form's part in an unknown charset is no JSON problem.
    malformed = MalformedMultipart if _is_multipart(request) else MalformedRequest
    return problem_response(400, malformed.code, malformed.title, detail)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.exception("unhandled_error", path=request.url.path, method=request.method, exc_info=exc)
    return problem_response(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal_error",
        "Internal server error",
        "Something went wrong on our side",
    )


exception_handlers: dict[type[Exception] | int, Any] = {
    AppError: _app_error,
    ValidationException: _validation,
    SerializationException: _serialization,
    HTTPException: _http_exception,
    IntegrityError: _integrity,
    OperationalError: _database_unavailable,
    PoolTimeoutError: _database_unavailable,
    ConnectionError: _database_unavailable,
    RedisConnectionError: _redis_unavailable,
    RedisTimeoutError: _redis_unavailable,
    DBAPIError: _dbapi,
    UnicodeError: _undecodable,
    LookupError: _undecodable,
    RecursionError: _undecodable,
    Exception: _unexpected,
}
