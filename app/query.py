"""A query parameter that takes one value, given more than once, is 422 naming it.

Litestar keeps the last of `?limit=1&limit=2` without a word, so which value a request meant
depends on who reads it: a cache or a proxy in front may key on the first. As with a JSON key given
twice (`app.bodies.refuse_duplicate_keys`), the request is refused instead. Parameters that take a
list, and names no route declares (ignored anyway), may repeat.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request
from litestar.handlers import BaseRouteHandler
from litestar.routes import HTTPRoute

from app.errors import given_more_than_once

SingleValued = dict[BaseRouteHandler, frozenset[str]]


def single_valued_query_params(app: Litestar) -> SingleValued:
    """For every HTTP handler, the query parameters it (or a dependency of it) takes one value of."""
    found: SingleValued = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler, kwargs_model in route.route_handler_map.values():
                found[handler] = frozenset(
                    param.field_alias for param in kwargs_model.expected_query_params if not param.is_sequence
                )
    return found


def refuse_repeated_query_params(request: Request[Any, Any, Any]) -> None:
    single: SingleValued = request.app.state.single_valued_query_params
    names = single.get(request.route_handler, frozenset())
    if not names or not request.scope.get("query_string"):
        return
    query = request.query_params
    for name in sorted(names):
        if len(query.getall(name, [])) > 1:
            raise given_more_than_once(name)
