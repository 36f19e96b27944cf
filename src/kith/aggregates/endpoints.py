from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, Parameter
from litestar.status_codes import HTTP_404_NOT_FOUND

from kith.aggregates import service
from kith.aggregates.listings import COMPANIES, COMPANY_CONTACTS, MENTIONS, TAGS
from kith.aggregates.schemas import Company, CompanyPage, Dashboard, MentionPage, MentionSeries, MessageSeries, TagPage
from kith.auth.principal import Principal
from kith.contacts.schemas import ContactPage
from kith.contacts.search import SearchQuery, like_body
from kith.db.reads import Reader
from kith.openapi import listing_responses
from kith.pagination.listing import ListingRequest
from kith.pagination.page import DEFAULT_LIMIT, etag_response, page_response
from kith.pagination.params import Cursor, Limit, parse_time, time_parameter
from kith.problems import in_words

# PostgreSQL text cannot hold NUL: a name with one is a 400, not a driver error.
NO_NUL = in_words(r"^[^\x00]*$", "text without NUL characters")
CompanyName = Annotated[
    str, Parameter(min_length=1, max_length=500, pattern=NO_NUL, description="The company, as on its contacts.")
]
NamePrefix = Annotated[str | None, Parameter(min_length=1, max_length=200, pattern=NO_NUL, description="Name prefix")]


class DashboardController(Controller):
    path = "/dashboard"
    tags = ["dashboard"]

    @get("/", summary="The tenant's dashboard: one row, one statement", **listing_responses())
    async def get_dashboard(
        self, request: Request, db_reader: NamedDependency[Reader], principal: NamedDependency[Principal]
    ) -> Response[Dashboard]:
        board, freshness = await service.dashboard(db_reader, principal.tenant_id, principal.time_zone)
        return etag_response(request, board, freshness.as_of)

    @get(
        "/messages/daily",
        summary="The tenant's messages per day, sent and received (dense, tenant-local days)",
        **listing_responses(),
    )
    async def daily_messages(
        self,
        request: Request,
        db_reader: NamedDependency[Reader],
        principal: NamedDependency[Principal],
        days: Annotated[int, Parameter(ge=1, le=366)] = 30,
    ) -> Response[MessageSeries]:
        series, freshness = await service.daily_messages(db_reader, principal.tenant_id, principal.time_zone, days)
        return etag_response(request, series, freshness.as_of)


class CompanyController(Controller):
    path = "/companies"
    tags = ["companies"]

    @get("/", summary="Companies of the tenant's contacts (cursor-paginated)", **listing_responses())
    async def list_companies(
        self,
        request: Request,
        db_reader: NamedDependency[Reader],
        principal: NamedDependency[Principal],
        sort: FromQuery[Literal["contacts", "score", "recent_activity", "name"]] = "contacts",
        q: NamePrefix = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Response[CompanyPage]:
        listing = ListingRequest(principal.tenant_id, limit, cursor, sort, {"q": q})
        return page_response(request, await COMPANIES.page(db_reader, listing))

    @get("/{name:str}", summary="One company", **listing_responses(HTTP_404_NOT_FOUND))
    async def get_company(
        self,
        request: Request,
        db_reader: NamedDependency[Reader],
        principal: NamedDependency[Principal],
        name: CompanyName,
    ) -> Response[Company]:
        company, freshness = await service.company(db_reader, principal.tenant_id, name)
        return etag_response(request, company, freshness.as_of)

    @get(
        "/{name:str}/contacts",
        summary="The company's contacts (the contact listing, scoped)",
        **listing_responses(HTTP_404_NOT_FOUND),
    )
    async def list_company_contacts(
        self,
        request: Request,
        db_reader: NamedDependency[Reader],
        principal: NamedDependency[Principal],
        name: CompanyName,
        sort: FromQuery[Literal["score", "name", "last_interaction", "created"]] = "score",
        tag: Annotated[str | None, Parameter(max_length=100, pattern=NO_NUL)] = None,
        q: SearchQuery = None,
        min_score: Annotated[float | None, Parameter(ge=0, le=100)] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Response[ContactPage]:
        filters = {"tag": tag, "q": like_body(q), "min_score": min_score}
        listing = ListingRequest(principal.tenant_id, limit, cursor, sort, filters, scope={"company": name})
        return page_response(request, await COMPANY_CONTACTS.page(db_reader, listing))

    @get(
        "/{name:str}/mentions/daily",
        summary="A company's news mentions per day (dense, tenant-local days)",
        **listing_responses(HTTP_404_NOT_FOUND),
    )
    async def daily_mentions(
        self,
        request: Request,
        db_reader: NamedDependency[Reader],
        principal: NamedDependency[Principal],
        name: CompanyName,
        days: Annotated[int, Parameter(ge=1, le=366)] = 90,
    ) -> Response[MentionSeries]:
        series, freshness = await service.daily_mentions(
            db_reader, principal.tenant_id, principal.time_zone, name, days
        )
        return etag_response(request, series, freshness.as_of)


class TagController(Controller):
    path = "/tags"
    tags = ["tags"]

    @get("/", summary="Tags on the tenant's contacts (cursor-paginated)", **listing_responses())
    async def list_tags(
        self,
        request: Request,
        db_reader: NamedDependency[Reader],
        principal: NamedDependency[Principal],
        sort: FromQuery[Literal["contacts", "score", "name"]] = "contacts",
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Response[TagPage]:
        listing = ListingRequest(principal.tenant_id, limit, cursor, sort)
        return page_response(request, await TAGS.page(db_reader, listing))


class MentionController(Controller):
    path = "/mentions"
    tags = ["mentions"]

    @get("/", summary="News mentions, newest first (cursor-paginated)", **listing_responses())
    async def list_mentions(
        self,
        request: Request,
        db_reader: NamedDependency[Reader],
        principal: NamedDependency[Principal],
        company: Annotated[str | None, Parameter(min_length=1, max_length=500, pattern=NO_NUL)] = None,
        since: Annotated[str | None, time_parameter("Published at or after this time.")] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Response[MentionPage]:
        filters = {"company": company, "since": parse_time("since", since)}
        listing = ListingRequest(principal.tenant_id, limit, cursor, filters=filters)
        return page_response(request, await MENTIONS.page(db_reader, listing))
