"""OpenAPI document details Litestar does not derive by itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec
from litestar import Litestar
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Parameter,
    RequestBody,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType

from app.errors import problem_responses
from app.ratelimit import limits_of

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Input structs refuse unknown fields (422), so their schemas say `additionalProperties: false`."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields:
            schema.additional_properties = False
        return schema


def _header(description: str) -> OpenAPIHeader:
    return OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING), description=description)


def _header_parameter(name: str, description: str) -> Parameter:
    return Parameter(
        name=name,
        param_in="header",
        required=False,
        schema=Schema(type=OpenAPIType.STRING),
        description=description,
    )


_MEDIA_PARAMETERS = [
    _header_parameter(
        "Range",
        "One byte range: `bytes=first-last`, `bytes=first-` or `bytes=-suffix_length` (206). A "
        "malformed Range or several ranges are ignored (200, all of it).",
    ),
    _header_parameter(
        "If-Range",
        "The ETag of the copy whose Range is asked for: the range if it is this version's (strong "
        "comparison), else 200 with all of it. A date is never taken as a match.",
    ),
    _header_parameter(
        "If-None-Match",
        "ETags of copies the client holds (or `*`): 304 if one is this version's (weak comparison).",
    ),
    _header_parameter(
        "If-Modified-Since",
        "An HTTP-date: 304 if the object was not written since. Ignored with If-None-Match.",
    ),
]


def binary_responses(*media_types: str, ranges: bool = False) -> type[Operation]:
    """An operation class documenting a 200 that is raw bytes in one of `media_types` (Litestar
    only knows the one media type given to the route). With `ranges`, stored media as
    app.byte_ranges serves it: the Range and conditional headers it takes, 206 with the bytes asked
    for, 304 for a copy that is current, the validators every answer carries, and the headers of the
    416 the route lists."""

    @dataclass
    class BinaryResponse(Operation):
        def __post_init__(self) -> None:
            if not self.responses or not isinstance(ok := self.responses.get("200"), OpenAPIResponse):
                return
            binary = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
            ok.content = {media_type: OpenAPIMediaType(schema=binary) for media_type in media_types}
            if not ranges:
                return
            self.parameters = [*(self.parameters or []), *_MEDIA_PARAMETERS]
            accept_ranges = _header("`bytes`: a single byte range may be asked for")
            validators = {
                "ETag": _header("A strong validator of this version of the object"),
                "Last-Modified": _header("When this version of the object was written"),
            }
            ok.headers = {**(ok.headers or {}), "Accept-Ranges": accept_ranges, **validators}
            self.responses["206"] = OpenAPIResponse(
                description="Partial Content: the byte range asked for",
                content=dict(ok.content),
                headers={
                    "Accept-Ranges": accept_ranges,
                    "Content-Range": _header("`bytes first-last/size`"),
                    **validators,
                },
            )
            self.responses["304"] = OpenAPIResponse(
                description="Not Modified: the copy If-None-Match or If-Modified-Since names is "
                "current; no body",
                headers={"ETag": validators["ETag"], "Cache-Control": _header("As on the 200")},
            )
            refused = self.responses.get("416")
            if isinstance(refused, OpenAPIResponse):
                refused.headers = {
                    **(refused.headers or {}),
                    "Content-Range": _header("`bytes */size`: the size there is"),
                }

    return BinaryResponse


# A handler marked so answers without PostgreSQL, Redis or the media store (the liveness check).
NEEDS_NO_SERVICES = "needs_no_services"


def document_common_answers(app: Litestar) -> None:
    """Adds the answers the shell gives on any route it applies to, so the document does not have
    to be kept in step with them by hand: 429 where a rate limit applies, 503 wherever a
    service the request needs (PostgreSQL, Redis, the media store) may be unavailable, and 415 where
    a body of another type than the route takes is refused (`app.bodies`)."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not isinstance(handler, HTTPRouteHandler) or not handler.include_in_schema:
                continue
            common: list[int] = []
            if any(limits_of(handler, method) for method in handler.http_methods):
                common.append(429)
            if not handler.opt.get(NEEDS_NO_SERVICES):
                common.append(503)
            if "data" in handler.parsed_fn_signature.parameters:
                common.append(415)  # a body labelled as another type (app.bodies)
            responses = dict(handler.responses or {})
            handler.responses = {**problem_responses(*common), **responses}


@dataclass
class OptionalBodyOperation(Operation):
    """An operation whose JSON body may be left out (its handler takes `data: X | None = None`);
    Litestar marks every request body as required."""

    def __post_init__(self) -> None:
        if isinstance(self.request_body, RequestBody):
            self.request_body.required = False
