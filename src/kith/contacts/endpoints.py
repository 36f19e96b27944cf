from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, Parameter
from litestar.status_codes import (
    HTTP_201_CREATED,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_422_UNPROCESSABLE_ENTITY,
)
from sqlalchemy.ext.asyncio import AsyncSession

from kith.auth.principal import Principal
from kith.contacts import service
from kith.contacts.listings import BIRTHDAYS, CONTACT_PAGES, CONTACTS, OVERDUE, OVERDUE_PAGES, overdue_turns
from kith.contacts.schemas import BirthdayPage, ContactCreate, ContactDetail, ContactPage, ContactPatch
from kith.db.reads import Reader
from kith.idempotency import Idempotency
from kith.openapi import listing_responses, resource_responses
from kith.pagination.cache import PageCaching
from kith.pagination.listing import ListingRequest
from kith.pagination.page import DEFAULT_LIMIT, page_response
from kith.pagination.params import Cursor, Limit, ResourceId
from kith.plans import PlanLimits

# A JSON body can be too large, or conflict with a stored one (409); a broken constraint is a 400.
BODY_ERRORS = (HTTP_409_CONFLICT, HTTP_413_REQUEST_ENTITY_TOO_LARGE)
# An Idempotency-Key already used with another request.
CREATE_ERRORS = (*BODY_ERRORS, HTTP_422_UNPROCESSABLE_ENTITY)

# The window of upcoming birthdays starts on the tenant-local day: a kept page does not outlive it.
BIRTHDAY_PAGES = PageCaching.of(
    BIRTHDAYS, clock=lambda principal: service.local_today(principal.time_zone), expires=overdue_turns
)


class ContactController(Controller):
    path = "/contacts"
    tags = ["contacts"]

    @get("/", summary="List contacts (cursor-paginated)", **listing_responses(page_cache=CONTACT_PAGES))
    async def list_contacts(
        self,
        request: Request,
        db_reader: NamedDependency[Reader],
        principal: NamedDependency[Principal],
        sort: FromQuery[Literal["score", "name", "last_interaction", "created"]] = "score",
        tag: Annotated[str | None, Parameter(max_length=100)] = None,
        company: Annotated[str | None, Parameter(max_length=500)] = None,
        q: Annotated[str | None, Parameter(min_length=1, max_length=200, description="Name or email prefix")] = None,
        min_score: Annotated[float | None, Parameter(ge=0, le=100)] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Response[ContactPage]:
        filters = {"tag": tag, "company": company, "q": q, "min_score": min_score}
        listing = ListingRequest(principal.tenant_id, limit, cursor, sort, filters)
        return page_response(request, await CONTACTS.page(db_reader, listing))

    @get("/birthdays", summary="Upcoming birthdays, soonest first", **listing_responses(page_cache=BIRTHDAY_PAGES))
    async def list_birthdays(
        self,
        request: Request,
        db_reader: NamedDependency[Reader],
        principal: NamedDependency[Principal],
        within_days: Annotated[int, Parameter(ge=1, le=366)] = 14,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Response[BirthdayPage]:
        plan = service.birthday_plan(principal.time_zone, within_days)
        page = await BIRTHDAYS.page(db_reader, ListingRequest(principal.tenant_id, limit, cursor), plan)
        return page_response(request, page)

    @get(
        "/overdue",
        summary="Contacts past their cadence, most overdue first",
        **listing_responses(page_cache=OVERDUE_PAGES),
    )
    async def list_overdue(
        self,
        request: Request,
        db_reader: NamedDependency[Reader],
        principal: NamedDependency[Principal],
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Response[ContactPage]:
        page = await OVERDUE.page(db_reader, ListingRequest(principal.tenant_id, limit, cursor))
        return page_response(request, page)

    @get("/{contact_id:int}", summary="One contact", **resource_responses(HTTP_404_NOT_FOUND))
    async def get_contact(
        self,
        db_reader: NamedDependency[Reader],
        principal: NamedDependency[Principal],
        contact_id: ResourceId,
        include: Annotated[
            Literal["provenance"] | None, Parameter(description="`provenance`: where each field's value came from")
        ] = None,
    ) -> ContactDetail:
        provenance = include == "provenance"
        return await service.get_contact(db_reader, principal.tenant_id, contact_id, provenance=provenance)

    @post(
        "/",
        summary="Create a contact",
        status_code=HTTP_201_CREATED,
        **resource_responses(*CREATE_ERRORS, body=ContactCreate),
    )
    async def create_contact(
        self,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        plan: NamedDependency[PlanLimits],
        data: JSONBody[ContactCreate],
    ) -> Response[ContactDetail]:
        return await idempotency.respond(
            lambda: service.create_contact(db_session, principal.tenant_id, plan, data), HTTP_201_CREATED
        )

    @patch(
        "/{contact_id:int}",
        summary="Change some fields of a contact",
        **resource_responses(HTTP_404_NOT_FOUND, *BODY_ERRORS, body=ContactPatch),
    )
    async def update_contact(
        self,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        contact_id: ResourceId,
        data: JSONBody[ContactPatch],
    ) -> ContactDetail:
        return await service.update_contact(db_session, principal.tenant_id, contact_id, data)

    @delete("/{contact_id:int}", summary="Delete a contact (soft)", **resource_responses(HTTP_404_NOT_FOUND))
    async def delete_contact(
        self, db_session: NamedDependency[AsyncSession], principal: NamedDependency[Principal], contact_id: ResourceId
    ) -> None:
        await service.delete_contact(db_session, principal.tenant_id, contact_id)
