from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter
from litestar.status_codes import (
    HTTP_201_CREATED,
    HTTP_304_NOT_MODIFIED,
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
from kith.links import created
from kith.openapi import CREATED_HEADERS, ENTITY_HEADERS, resource_responses
from kith.pagination.cache import PageCaching
from kith.pagination.http import listing_route, respond
from kith.pagination.listing import ListingRequest
from kith.pagination.page import etag_response
from kith.pagination.params import ResourceId
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

    @get("/", summary="List contacts (cursor-paginated)", **listing_route(CONTACTS, page_cache=CONTACT_PAGES))
    async def list_contacts(self, request: Request, listing: NamedDependency[ListingRequest]) -> Response[ContactPage]:
        return await respond(request, CONTACTS, listing)

    @get(
        "/birthdays", summary="Upcoming birthdays, soonest first", **listing_route(BIRTHDAYS, page_cache=BIRTHDAY_PAGES)
    )
    async def list_birthdays(
        self,
        request: Request,
        within_days: Annotated[int, Parameter(ge=1, le=366)] = 14,
        *,
        listing: NamedDependency[ListingRequest],  # after the window: the listing's parameters come last
    ) -> Response[BirthdayPage]:
        return await respond(request, BIRTHDAYS, listing, service.birthday_plan(request.user.time_zone, within_days))

    @get(
        "/overdue",
        summary="Contacts past their cadence, most overdue first",
        **listing_route(OVERDUE, page_cache=OVERDUE_PAGES),
    )
    async def list_overdue(self, request: Request, listing: NamedDependency[ListingRequest]) -> Response[ContactPage]:
        return await respond(request, OVERDUE, listing)

    @get(
        "/{contact_id:int}",
        name="contact",
        summary="One contact (ETag; 304 on a matching If-None-Match)",
        **resource_responses(HTTP_304_NOT_MODIFIED, HTTP_404_NOT_FOUND, headers=ENTITY_HEADERS),
    )
    async def get_contact(
        self,
        request: Request,
        db_reader: NamedDependency[Reader],
        principal: NamedDependency[Principal],
        contact_id: ResourceId,
        include: Annotated[
            Literal["provenance"] | None, Parameter(description="`provenance`: where each field's value came from")
        ] = None,
    ) -> Response[ContactDetail]:
        provenance = include == "provenance"
        contact = await service.get_contact(db_reader, principal.tenant_id, contact_id, provenance=provenance)
        return etag_response(request, contact, None)

    @post(
        "/",
        summary="Create a contact",
        status_code=HTTP_201_CREATED,
        **resource_responses(*CREATE_ERRORS, headers=CREATED_HEADERS, body=ContactCreate),
    )
    async def create_contact(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        plan: NamedDependency[PlanLimits],
        data: JSONBody[ContactCreate],
    ) -> Response[ContactDetail]:
        return await idempotency.respond(
            lambda: created(
                request, service.create_contact(db_session, principal.tenant_id, plan, data), "contact", contact_id="id"
            ),
            HTTP_201_CREATED,
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
