"""OpenAPI document details Litestar does not derive by itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Operation, Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType

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


def binary_responses(*media_types: str) -> type[Operation]:
    """An operation class documenting a 200 that is raw bytes in one of `media_types` (Litestar
    only knows the one media type given to the route)."""

    @dataclass
    class BinaryResponse(Operation):
        def __post_init__(self) -> None:
            if self.responses and "200" in self.responses:
                ok = self.responses["200"]
                if isinstance(ok, OpenAPIResponse):
                    binary = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
                    ok.content = {media_type: OpenAPIMediaType(schema=binary) for media_type in media_types}

    return BinaryResponse
