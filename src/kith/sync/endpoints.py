from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from functools import partial
from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.params import Parameter, PathParameter
from litestar.status_codes import (
    HTTP_202_ACCEPTED,
    HTTP_404_NOT_FOUND,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    HTTP_422_UNPROCESSABLE_ENTITY,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kith.auth.principal import Principal
from kith.auth.scopes import IMPORT
from kith.idempotency import Idempotency
from kith.jobqueue.outbox import send_requested, take_requested
from kith.links import link_to
from kith.openapi import resource_responses
from kith.pagination.http import listing_route, respond
from kith.pagination.listing import ListingRequest
from kith.pagination.params import ResourceId
from kith.plans import PlanLimits
from kith.sync import receiving, service
from kith.sync.listings import SYNC_RUNS
from kith.sync.schemas import RunOptions, SourceName, SyncRunDetail, SyncRunPage
from kith.sync.sources import SOURCES
from kith.sync.upload_request import UPLOAD_BODY, known_source, parse_since, uploaded_file

LOCATION_HEADER = {"description": "The run's URL: poll it.", "schema": {"type": "string"}}


async def _accepted(
    request: Request, session: AsyncSession, engine: AsyncEngine, upload: Awaitable[SyncRunDetail]
) -> Response:
    run = await upload
    # The run's job is sent once the response is out, so after the run's transaction has committed:
    # to the job queue (REDIS_URL), or run here, on this engine (no REDIS_URL). If that fails, the sweeper sends it.
    return Response(
        run,
        status_code=HTTP_202_ACCEPTED,
        headers={"Location": link_to(request.app.route_reverse("sync_run", run_id=run.id))},
        background=BackgroundTask(send_requested, engine, take_requested(session)),
    )


async def _receive(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    plan: PlanLimits,
    source: SourceName,
    window: dt.datetime | None,
    options: RunOptions,
) -> SyncRunDetail:
    max_bytes = await receiving.admit_upload(session, principal, plan, source)
    media_type, body = await uploaded_file(request, max_bytes)
    return await receiving.receive_upload(session, principal, source, media_type, body, window, options)


UPLOAD_DOCS = resource_responses(
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    HTTP_422_UNPROCESSABLE_ENTITY,
    headers={"Location": LOCATION_HEADER},
    request_body=UPLOAD_BODY,
)


class SyncController(Controller):
    path = "/sync"
    tags = ["sync"]

    @post(
        "/{source:str}",
        summary="Import a file (or a JSON push of LinkedIn connections)",
        description=(
            "The body is the file itself, a multipart form whose first file part is the file, or (linkedin) "
            "a JSON array of connections. The file is checked and stored, and the import runs in the "
            "background: poll the returned run. At most the plan's upload size and KITH_MAX_UPLOAD_BYTES (413 beyond it); 429 while the plan's uploads in flight or unfinished runs are used up."
        ),
        status_code=HTTP_202_ACCEPTED,
        request_max_body_size=None,  # the upload's own limit is enforced as it streams (413)
        responses=UPLOAD_DOCS["responses"],
        opt={**IMPORT, **UPLOAD_DOCS["opt"]},  # the import scope, and the route's documentation
    )
    async def start_sync(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        db_engine: NamedDependency[AsyncEngine],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        plan: NamedDependency[PlanLimits],
        source: Annotated[str, PathParameter(enum=list(SOURCES), description="The source the file is from.")],
        since: Annotated[
            str | None, Parameter(description="Import only what is dated from then on (YYYY-MM-DD or RFC 3339).")
        ] = None,
        days_back: Annotated[int | None, Parameter(ge=1, le=36500, description="Or: only the last N days.")] = None,
        me: Annotated[
            list[str] | None, Parameter(description="Your own addresses (mbox): mail from them is outgoing.")
        ] = None,
    ) -> Response[SyncRunDetail]:
        source, window, options = (
            known_source(source),
            parse_since(since, days_back),
            RunOptions(own_addresses=me or []),
        )
        upload = partial(_receive, request, db_session, principal, plan, source, window, options)
        return await idempotency.respond(lambda: _accepted(request, db_session, db_engine, upload()), HTTP_202_ACCEPTED)

    @get("/runs", summary="Sync runs, newest first (cursor-paginated)", **listing_route(SYNC_RUNS))
    async def list_runs(self, request: Request, listing: NamedDependency[ListingRequest]) -> Response[SyncRunPage]:
        return await respond(request, SYNC_RUNS, listing)

    @get(
        "/runs/{run_id:int}",
        name="sync_run",
        summary="One sync run: status, counts, stages, record errors",
        **resource_responses(HTTP_404_NOT_FOUND),
    )
    async def get_run(
        self, db_session: NamedDependency[AsyncSession], principal: NamedDependency[Principal], run_id: ResourceId
    ) -> SyncRunDetail:
        return await service.get_run(db_session, principal.tenant_id, run_id)
