from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from kith.auth.principal import Principal
from kith.contacts import service
from kith.contacts.schemas import ContactPage


class ContactController(Controller):
    path = "/contacts"
    tags = ["contacts"]

    @get("/", summary="List contacts")
    async def list_contacts(
        self, db_session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
    ) -> ContactPage:
        return await service.first_page(db_session, principal.tenant_id)
