"""The OpenAPI contract, true to what the server does: one helper per kind of route, one finalizer.

A route declares what it can answer with one call spread into its decorator:

    @get("/", **listing_responses())                     # a cursor page: 304, Link, ETag, X-Data-As-Of…
    @get("/{id:int}", **resource_responses(404))
    @post("/", **resource_responses(409, 413, 415, body=ContactCreate))

and `finalize_openapi` (run at start-up, on the generated document) makes the rest hold
for every route, declared or not:

- every 4xx/5xx is an RFC 9457 problem document (`application/problem+json`, the
  `ProblemDetails` schema with `status`, not Litestar's `status_code` shape);
- API responses document `RateLimit-*` and `X-Request-ID`; 429 documents `Retry-After`;
- request bodies are described by msgspec's own JSON Schema of the body's Struct
  (item patterns, lengths and `additionalProperties: false` for Structs that forbid
  unknown fields: Litestar's generator drops these), or by the route's declared body;
- parameter bounds are written exactly as declared (Litestar drops a bound of 0 and
  writes 2**63-1 as a float, which rounds past bigint);
- a string a client sends (query, path, JSON body) never holds NUL: PostgreSQL text cannot,
  and the server answers 400;
- writes document their X-Consistency-Token.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import KwargDefinition
from litestar.routes import HTTPRoute
from litestar.status_codes import HTTP_304_NOT_MODIFIED

OPT_KEY = "kith_openapi"
PROBLEM_MEDIA_TYPE = "application/problem+json"
SCHEMAS = "#/components/schemas/"

# Every authenticated route can answer these: a bad parameter, no/bad token, a scope or plan
# that does not allow it, too many requests, every database connection busy (kith.db.budget).
API_STATUSES = (400, 401, 403, 429, 503)


class ProblemDetails(msgspec.Struct, kw_only=True):
    """An RFC 9457 problem document. Extension members (`errors`, `limit`, `max_bytes`…) may follow."""

    status: int
    title: str
    detail: str | None = None
    type: str | None = None
    instance: str | None = None


def _header(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "schema": schema}


_INT = {"type": "integer", "minimum": 0}
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": _header("Requests allowed in the current window.", _INT),
    "RateLimit-Remaining": _header("Requests left in the current window.", _INT),
    "RateLimit-Reset": _header("Seconds until the window resets.", _INT),
    "RateLimit-Policy": _header("The limit and its window, e.g. `600;w=60`.", {"type": "string"}),
}
REQUEST_ID_HEADER = {
    "X-Request-ID": _header("The request's id (the client's X-Request-ID, or one generated).", {"type": "string"})
}
RETRY_AFTER_HEADER = {"Retry-After": _header("Seconds to wait before retrying.", {"type": "integer", "minimum": 1})}
LISTING_HEADERS = {
    "ETag": _header("The page's entity tag; send it back in If-None-Match for a 304.", {"type": "string"}),
    "Link": _header('Next and previous pages: `<url>; rel="next", <url>; rel="prev"`.', {"type": "string"}),
    "X-Data-As-Of": _header(
        "When the read model behind the page was last refreshed (RFC 3339, UTC, `Z`).",
        {"type": "string", "format": "date-time"},
    ),
    "Cache-Control": _header("Always `private, no-cache`: revalidate with If-None-Match.", {"type": "string"}),
}

# Read replicas (kith.db.replicas): a write's position, which the client sends back with its next reads.
CONSISTENCY_TOKEN = "X-Consistency-Token"
_POSITION = {"type": "string", "pattern": "^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$"}
WRITE_HEADERS = {
    CONSISTENCY_TOKEN: _header(
        "With read replicas configured: this write's WAL position. Send it back as the X-Consistency-Token "
        "request header and a read is served only by a server that has this write.",
        _POSITION,
    )
}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _route_docs(
    statuses: tuple[int, ...],
    *,
    headers: dict[str, Any] | None = None,
    body: type | None = None,
    request_body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    responses: dict[int, ResponseSpec] = {}
    for status in sorted(set(statuses)):
        if status == HTTP_304_NOT_MODIFIED:
            responses[status] = ResponseSpec(data_container=None, description="Not Modified: the If-None-Match matched")
        else:
            responses[status] = ResponseSpec(
                data_container=ProblemDetails,
                media_type=PROBLEM_MEDIA_TYPE,
                description=HTTPStatus(status).phrase,
                generate_examples=False,
            )
    opt = {"success_headers": headers or {}, "body": body, "request_body": request_body}
    return {"responses": responses, "opt": {OPT_KEY: opt}}


def listing_responses(*statuses: int, page_cache: Any = None) -> dict[str, Any]:
    """A cursor-paginated listing: 304 and the page headers, besides the API's statuses; `page_cache`
    (kith.pagination.cache.PageCaching) lets its pages be kept."""
    docs = _route_docs((*API_STATUSES, HTTP_304_NOT_MODIFIED, *statuses), headers=LISTING_HEADERS)
    if page_cache is not None:
        docs["opt"]["page_cache"] = page_cache
    return docs


def resource_responses(
    *statuses: int,
    headers: dict[str, Any] | None = None,
    body: type | None = None,
    request_body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One resource (read or written): the API's statuses plus `statuses` (404, 409, 413, 415, 422…).

    `body` names the request body's Struct (described by msgspec's schema); `request_body` gives a
    whole OpenAPI requestBody instead (uploads).
    """
    return _route_docs((*API_STATUSES, *statuses), headers=headers, body=body, request_body=request_body)


def public_responses(*statuses: int) -> dict[str, Any]:
    """A route without a token (probes): only what it declares."""
    return _route_docs(statuses)


# ---------------------------------------------------------------- the finalizer

_BOUNDS = (("ge", "minimum"), ("le", "maximum"), ("gt", "exclusiveMinimum"), ("lt", "exclusiveMaximum"))
_LENGTHS = (("min_length", "minLength"), ("max_length", "maxLength"))


def _struct_schema(struct: type, components: dict[str, Any]) -> dict[str, Any]:
    (schema,), defs = msgspec.json.schema_components([struct], ref_template=SCHEMAS + "{name}")
    components.update(defs)
    return schema


NO_NUL = "^[^\\x00]*$"


def _forbid_nul(schema: Any) -> None:
    """Every string without a pattern of its own gets NO_NUL (patterns of Kith's never match NUL)."""
    if isinstance(schema, list):
        for item in schema:
            _forbid_nul(item)
    elif isinstance(schema, dict):
        plain_string = schema.get("type") == "string" and schema.get("format") != "binary"
        if plain_string and "pattern" not in schema and "enum" not in schema:
            schema["pattern"] = NO_NUL
        for key, value in schema.items():
            if key != "examples":
                _forbid_nul(value)


def _fix_parameters(operation: dict[str, Any], handler: Any) -> None:
    # A parameter is the handler's or one of its dependencies' (a listing's, kith.pagination.http).
    fields = dict(handler.parsed_fn_signature.parameters)
    for provider in handler.resolve_dependencies().values():
        for name, field in provider.parsed_fn_signature.parameters.items():
            fields.setdefault(name, field)
    for parameter in operation.get("parameters", []):
        field = fields.get(parameter["name"])
        schema = parameter["schema"]
        # An optional string parameter is a string (`?tag=null` is the tag "null"): `oneOf: [string, null]`
        # is just string. An optional number keeps its null: the server reads `?min_score=null` as absent.
        variants = schema.get("oneOf", [])
        if [v.get("type") for v in variants] == ["string", "null"]:
            del schema["oneOf"]
            schema.update(variants[0])
        kwarg = field.kwarg_definition if field is not None else None
        if isinstance(kwarg, KwargDefinition):
            for attr, key in (*_BOUNDS, *_LENGTHS):
                if (value := getattr(kwarg, attr)) is not None:
                    schema[key] = value
        _forbid_nul(schema)


def _fix_responses(operation: dict[str, Any], api: bool, success_headers: dict[str, Any]) -> None:
    for code, response in operation.get("responses", {}).items():
        status = int(code)
        headers = response.setdefault("headers", {})
        if status < 300:
            headers.update(success_headers)
        if status >= 400:
            response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": SCHEMAS + "ProblemDetails"}}}
            response["description"] = response.get("description") or HTTPStatus(status).phrase
        if status == 401:
            headers["WWW-Authenticate"] = _header('`Bearer realm="kith"`', {"type": "string"})
        if api:
            headers.update(RATE_LIMIT_HEADERS)
        if status in (429, 503):
            headers.update(RETRY_AFTER_HEADER)
        headers.update(REQUEST_ID_HEADER)


def finalize_openapi(app: Litestar, api_prefix: str = "/api/v1") -> None:
    """Rewrite the generated document in place (it is generated once and served as is)."""
    from litestar._openapi.plugin import OpenAPIPlugin

    document = app.plugins.get(OpenAPIPlugin).provide_openapi_schema()
    components = document.setdefault("components", {}).setdefault("schemas", {})
    _struct_schema(ProblemDetails, components)
    sent_by_clients: set[str] = set()  # component schemas of request bodies
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path_item = document.get("paths", {}).get(route.path_format)
        if path_item is None:
            continue
        for method, (handler, _) in route.route_handler_map.items():
            operation = path_item.get(method.lower())
            if operation is None:
                continue
            declared = handler.opt.get(OPT_KEY) or {}
            _fix_parameters(operation, handler)
            api = route.path.startswith(api_prefix)
            success_headers = declared.get("success_headers", {})
            if api and method not in SAFE_METHODS:
                success_headers = {**success_headers, **WRITE_HEADERS}
            _fix_responses(operation, api, success_headers)
            if declared.get("request_body") is not None:
                operation["requestBody"] = declared["request_body"]
                _forbid_nul(operation["requestBody"])
            elif declared.get("body") is not None:
                schema = _struct_schema(declared["body"], components)
                sent_by_clients.add(declared["body"].__name__)
                operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    for name, schema in components.items():
        if name in sent_by_clients:
            _forbid_nul(schema)
