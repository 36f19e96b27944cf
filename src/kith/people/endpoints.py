from __future__ import annotations

from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT, HTTP_404_NOT_FOUND, HTTP_409_CONFLICT
from sqlalchemy.ext.asyncio import AsyncSession

from kith.auth.principal import Principal
from kith.openapi import resource_responses
from kith.pagination.http import listing_route, respond
from kith.pagination.listing import ListingRequest
from kith.pagination.params import ResourceId
from kith.people import merges, service
from kith.people.listings import AUDIT, DUPLICATES
from kith.people.schemas import AuditPage, DuplicateGroupPage, MergeRequest, MergeResult, UndoResult


class DuplicateController(Controller):
    path = "/contacts/duplicates"
    tags = ["contacts"]

    @get("/", summary="Duplicate candidate groups, strongest first (cursor-paginated)", **listing_route(DUPLICATES))
    async def list_duplicates(
        self, request: Request, listing: NamedDependency[ListingRequest]
    ) -> Response[DuplicateGroupPage]:
        return await respond(request, DUPLICATES, listing)

    @post(
        "/{group_id:int}/dismiss",
        summary="Not duplicates: the group is not listed again",
        status_code=HTTP_204_NO_CONTENT,
        **resource_responses(HTTP_404_NOT_FOUND),
    )
    async def dismiss(
        self, db_session: NamedDependency[AsyncSession], principal: NamedDependency[Principal], group_id: ResourceId
    ) -> None:
        await service.dismiss_group(db_session, principal, group_id)


class AuditController(Controller):
    path = "/audit"
    tags = ["audit"]

    @get("/", summary="Merges, undos and dismissals, newest first (cursor-paginated)", **listing_route(AUDIT))
    async def list_audit(self, request: Request, listing: NamedDependency[ListingRequest]) -> Response[AuditPage]:
        return await respond(request, AUDIT, listing)


class MergeController(Controller):
    tags = ["contacts"]

    @post(
        "/contacts/merge",
        summary="Merge contacts into one (dry_run: only show the merged card)",
        status_code=HTTP_200_OK,
        **resource_responses(HTTP_404_NOT_FOUND, body=MergeRequest),
    )
    async def merge(
        self,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        data: JSONBody[MergeRequest],
    ) -> MergeResult:
        return await merges.merge(db_session, principal, data)

    @post(
        "/merges/{merge_id:uuid}/undo",
        summary="Undo a merge (within KITH_MERGE_UNDO_DAYS)",
        status_code=HTTP_200_OK,
        **resource_responses(HTTP_404_NOT_FOUND, HTTP_409_CONFLICT),
    )
    async def undo(
        self, db_session: NamedDependency[AsyncSession], principal: NamedDependency[Principal], merge_id: UUID
    ) -> UndoResult:
        return await merges.undo(db_session, principal, merge_id)
