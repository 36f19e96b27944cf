from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Annotated

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import Parameter
from litestar.status_codes import HTTP_404_NOT_FOUND

from kith.aggregates import service
from kith.aggregates.listings import COMPANIES, COMPANY_CONTACTS, MENTIONS, NO_NUL, TAGS
from kith.aggregates.schemas import Company, CompanyPage, Dashboard, MentionPage, MentionSeries, MessageSeries, TagPage
from kith.auth.principal import Principal
from kith.contacts.listings import overdue_turns
from kith.contacts.schemas import ContactPage
from kith.contacts.service import local_today
from kith.db.reads import Reader
from kith.openapi import listing_responses
from kith.pagination.cache import PageCaching
from kith.pagination.http import listing_route, respond
from kith.pagination.listing import ListingRequest
from kith.pagination.page import etag_response
from kith.readmodels.models import COMPANY_MENTIONS_DAILY, COMPANY_STATS, CONTACT_CARDS, TENANT_DASHBOARD

CompanyName = Annotated[
    str, Parameter(min_length=1, max_length=500, pattern=NO_NUL, description="The company, as on its contacts.")
]


def tenant_day(principal: Principal) -> dt.date:
    """The tenant-local day a page's window is counted from: a kept page does not outlive it."""
    return local_today(principal.time_zone)


# The dashboard counts birthdays by the tenant-local day and overdue follow-ups by the UTC day (and up to
# now: kept until the next follow-up falls due, from its statement).
DASHBOARD_PAGES = PageCaching(
    (TENANT_DASHBOARD, COMPANY_STATS, CONTACT_CARDS),
    clock=lambda principal: (tenant_day(principal), dt.datetime.now(dt.UTC).date()),
)


class DashboardController(Controller):
    path = "/dashboard"
    tags = ["dashboard"]

    @get("/", summary="The tenant's dashboard: one row, one statement", **listing_responses(page_cache=DASHBOARD_PAGES))
    async def get_dashboard(
        self, request: Request, db_reader: NamedDependency[Reader], principal: NamedDependency[Principal]
    ) -> Response[Dashboard]:
        board, freshness = await service.dashboard(db_reader, principal.tenant_id, principal.time_zone)
        turns_at = freshness.turns_at.timestamp() if freshness.turns_at else None
        return etag_response(request, board, freshness.as_of, expires_at=turns_at)

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

    @get(
        "/",
        summary="Companies of the tenant's contacts (cursor-paginated)",
        **listing_route(COMPANIES, page_cache=PageCaching.of(COMPANIES)),
    )
    async def list_companies(self, request: Request, listing: NamedDependency[ListingRequest]) -> Response[CompanyPage]:
        return await respond(request, COMPANIES, listing)

    @get(
        "/{name:str}",
        summary="One company",
        **listing_responses(HTTP_404_NOT_FOUND, page_cache=PageCaching((COMPANY_STATS,))),
    )
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
        **listing_route(
            COMPANY_CONTACTS, HTTP_404_NOT_FOUND, page_cache=PageCaching.of(COMPANY_CONTACTS, expires=overdue_turns)
        ),
    )
    async def list_company_contacts(
        self,
        request: Request,
        name: CompanyName,
        listing: NamedDependency[ListingRequest],
    ) -> Response[ContactPage]:
        return await respond(request, COMPANY_CONTACTS, replace(listing, scope={"company": name}))

    @get(
        "/{name:str}/mentions/daily",
        summary="A company's news mentions per day (dense, tenant-local days)",
        **listing_responses(
            HTTP_404_NOT_FOUND, page_cache=PageCaching((COMPANY_MENTIONS_DAILY, COMPANY_STATS), clock=tenant_day)
        ),
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

    @get(
        "/",
        summary="Tags on the tenant's contacts (cursor-paginated)",
        **listing_route(TAGS, page_cache=PageCaching.of(TAGS)),
    )
    async def list_tags(self, request: Request, listing: NamedDependency[ListingRequest]) -> Response[TagPage]:
        return await respond(request, TAGS, listing)


class MentionController(Controller):
    path = "/mentions"
    tags = ["mentions"]

    @get(
        "/",
        summary="News mentions, newest first (cursor-paginated)",
        **listing_route(MENTIONS, page_cache=PageCaching.of(MENTIONS)),
    )
    async def list_mentions(self, request: Request, listing: NamedDependency[ListingRequest]) -> Response[MentionPage]:
        return await respond(request, MENTIONS, listing)
