from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, delete, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.params import FromPath, Parameter, QueryParameter
from litestar.status_codes import (
    HTTP_202_ACCEPTED,
    HTTP_303_SEE_OTHER,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kith.auth.principal import Principal
from kith.auth.scopes import IMPORT
from kith.connectors import service
from kith.connectors.listings import CONNECTIONS
from kith.connectors.schemas import AuthorizationLink, Connection, ConnectionPage, OAuthProvider
from kith.jobqueue.outbox import send_requested, take_requested
from kith.links import link_to
from kith.openapi import public_responses, resource_responses
from kith.pagination.http import listing_route, respond
from kith.pagination.listing import ListingRequest
from kith.pagination.params import ResourceId
from kith.plans import PlanLimits
from kith.problems import bad_request
from kith.sync.schemas import SyncRunDetail

# Where the browser lands once connected: the web client's Connections page.
CONNECTED_PAGE = "/#connections"
DaysBack = Annotated[
    int | None, Parameter(ge=1, le=36500, description="Sync only the last N days of mail (default: all of it).")
]
_AUTHORIZE_DOCS = resource_responses(HTTP_404_NOT_FOUND, HTTP_503_SERVICE_UNAVAILABLE)
_RUN_LOCATION = {"Location": {"description": "The sync run's URL: poll it.", "schema": {"type": "string"}}}


class ConnectionController(Controller):
    path = "/connections"
    tags = ["connections"]

    @get("/", summary="Connections to external accounts, newest first (cursor-paginated)", **listing_route(CONNECTIONS))
    async def list_connections(
        self, request: Request, listing: NamedDependency[ListingRequest]
    ) -> Response[ConnectionPage]:
        return await respond(request, CONNECTIONS, listing)

    @get("/{connection_id:int}", summary="One connection", **resource_responses(HTTP_404_NOT_FOUND))
    async def get_connection(
        self,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        connection_id: ResourceId,
    ) -> Connection:
        return await service.get_connection(db_session, principal.tenant_id, connection_id)

    @delete(
        "/{connection_id:int}",
        summary="Delete a connection and its tokens (what it imported stays)",
        **resource_responses(HTTP_404_NOT_FOUND),
    )
    async def delete_connection(
        self,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        connection_id: ResourceId,
    ) -> None:
        await service.delete_connection(db_session, principal.tenant_id, connection_id)

    @post(
        "/{connection_id:int}/sync",
        summary="Sync a connection now",
        description="Queues a sync run (409 while one is queued or running, or when access was revoked).",
        status_code=HTTP_202_ACCEPTED,
        responses=resource_responses(HTTP_404_NOT_FOUND, HTTP_409_CONFLICT, headers=_RUN_LOCATION)["responses"],
        opt={**IMPORT, **resource_responses(headers=_RUN_LOCATION)["opt"]},
    )
    async def sync_connection(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        db_engine: NamedDependency[AsyncEngine],
        principal: NamedDependency[Principal],
        plan: NamedDependency[PlanLimits],
        connection_id: ResourceId,
    ) -> Response[SyncRunDetail]:
        run = await service.sync_now(db_session, principal.tenant_id, plan, connection_id)
        return Response(
            run,
            status_code=HTTP_202_ACCEPTED,
            headers={"Location": link_to(request.app.route_reverse("sync_run", run_id=run.id))},
            background=BackgroundTask(send_requested, db_engine, take_requested(db_session)),
        )

    @get(
        "/{provider:str}/authorize",
        summary="Start connecting an account (OAuth 2.0 with PKCE)",
        description=(
            "Returns the provider's authorization URL: open it in the user's browser. The provider sends the "
            "browser back to the callback, which stores the connection and queues its first sync. 503 when the "
            "server has no client id and secret for the provider."
        ),
        responses=_AUTHORIZE_DOCS["responses"],
        opt={**IMPORT, **_AUTHORIZE_DOCS["opt"]},
    )
    async def authorize(
        self,
        principal: NamedDependency[Principal],
        plan: NamedDependency[PlanLimits],
        provider: FromPath[OAuthProvider],
        days_back: DaysBack = None,
    ) -> AuthorizationLink:
        return service.start_authorization(principal, plan, provider, days_back)


class ConnectionCallbackController(Controller):
    """The provider's redirect back: no bearer token (the browser comes from Google); the sealed state says who."""

    path = "/connections"
    tags = ["connections"]

    @get(
        "/{provider:str}/callback",
        summary="OAuth callback: the provider sends the browser here",
        description="Stores the connection, queues its first sync and sends the browser to the web client (303).",
        status_code=HTTP_303_SEE_OTHER,
        **public_responses(400, 404, 429),
    )
    async def callback(
        self,
        db_session: NamedDependency[AsyncSession],
        db_engine: NamedDependency[AsyncEngine],
        provider: FromPath[OAuthProvider],
        sealed_state: Annotated[str, QueryParameter(name="state", min_length=1, max_length=4000)],
        code: Annotated[str | None, Parameter(min_length=1, max_length=4000)] = None,
        error: Annotated[str | None, Parameter(max_length=200, description="The provider's refusal")] = None,
    ) -> Response[None]:
        flow = service.open_flow(provider, sealed_state)
        if error is not None or code is None:
            raise bad_request(f"The authorization was not granted: {error or 'no code'}")
        await service.finish_authorization(db_session, provider, code, flow)
        await db_session.commit()  # a redirect is no 2xx: the session's autocommit would not commit it
        return Response(
            None,
            status_code=HTTP_303_SEE_OTHER,
            headers={"Location": link_to(CONNECTED_PAGE)},
            background=BackgroundTask(send_requested, db_engine, take_requested(db_session)),
        )
