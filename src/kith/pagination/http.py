"""A listing's HTTP surface, from its spec: a route is the spec plus its path.

    @get("/", summary="…", **listing_route(CONTACTS, page_cache=…))
    async def list_contacts(self, request: Request, listing: NamedDependency[ListingRequest]) -> Response[ContactPage]:
        return await respond(request, CONTACTS, listing)

`listing_route` gives the route a `listing` dependency whose parameters are the spec's: `sort` (the
spec's sort names as an enum, its default sort the default; only when it has more than one), one query
parameter per filter that declares one (`Filter.param`: its type, bounds and description), then `limit`
and `cursor`. Litestar documents a dependency's parameters as the route's (OpenAPI), in that order, after
the handler's own (path parameters, or what a listing adds, e.g. a birthday window); the dependency
turns them into the ListingRequest, so a filter a request names is always one the spec has.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

from litestar import Request, Response
from litestar.di import Provide
from litestar.params import FromQuery

from kith.db.replicas import provide_db_reader
from kith.openapi import listing_responses
from kith.pagination.listing import Listing, ListingRequest, SegmentPlan
from kith.pagination.page import DEFAULT_LIMIT, page_response
from kith.pagination.params import Cursor, Limit

LISTING_DEPENDENCY = "listing"


def listing_parameters(listing: Listing) -> list[inspect.Parameter]:
    """The query parameters of the listing's routes, as a signature's parameters."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = []
    if len(listing.sorts) > 1:
        sorts = Literal[tuple(listing.sorts)]  # type: ignore[valid-type]
        parameters.append(
            inspect.Parameter("sort", keyword, annotation=FromQuery[sorts], default=listing.sort_named(None)[0])
        )
    for name, spec in listing.filters.items():
        if spec.param is not None:
            parameters.append(inspect.Parameter(name, keyword, annotation=spec.param, default=None))
    parameters.append(inspect.Parameter("limit", keyword, annotation=Limit, default=DEFAULT_LIMIT))
    parameters.append(inspect.Parameter("cursor", keyword, annotation=Cursor, default=None))
    return parameters


def listing_query(listing: Listing) -> Provide:
    """The dependency turning a request's query into the listing's ListingRequest (the caller's tenant)."""
    filters = {name: spec for name, spec in listing.filters.items() if spec.param is not None}

    def provide(request: Request, **query: Any) -> ListingRequest:
        values = {name: query[name] for name in filters}
        for name, spec in filters.items():
            if spec.convert is not None and values[name] is not None:
                values[name] = spec.convert(values[name])
        return ListingRequest(request.user.tenant_id, query["limit"], query["cursor"], query.get("sort"), values)

    parameters = [
        inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
        *listing_parameters(listing),
    ]
    provide.__signature__ = inspect.Signature(parameters, return_annotation=ListingRequest)  # type: ignore[attr-defined]
    provide.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": ListingRequest}
    provide.__name__ = provide.__qualname__ = f"{listing.name.replace('.', '_')}_query"
    return Provide(provide, sync_to_thread=False)


def listing_route(listing: Listing, *statuses: int, page_cache: Any = None) -> dict[str, Any]:
    """What a listing's route decorator takes: its `listing` dependency and its documented responses."""
    return {
        **listing_responses(*statuses, page_cache=page_cache),
        "dependencies": {LISTING_DEPENDENCY: listing_query(listing)},
    }


async def respond(
    request: Request, listing: Listing, query: ListingRequest, segments: SegmentPlan | None = None
) -> Response:
    """The page the request asks for, as JSON with its Link, ETag and X-Data-As-Of (or a 304), read on the
    request's reader (kith.db.replicas). The reader is not a dependency of the route: its handler then has one
    dependency (`listing`), resolved without a task group (Litestar runs a batch of two or more in one)."""
    return page_response(request, await listing.page(provide_db_reader(request), query, segments))
