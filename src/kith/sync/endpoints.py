from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.params import FromPath, Parameter
from litestar.status_codes import HTTP_202_ACCEPTED
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kith.auth.principal import Principal
from kith.config import get_settings
from kith.jobqueue.outbox import send_requested, take_requested
from kith.pagination.listing import ListingRequest
from kith.pagination.page import DEFAULT_LIMIT, page_response
from kith.pagination.params import Cursor, Limit, ResourceId
from kith.sync import receiving, service
from kith.sync.listings import SYNC_RUNS
from kith.sync.schemas import RunOptions, SourceName, SyncRunDetail, SyncRunPage
from kith.sync.upload_request import parse_since, uploaded_file


class SyncController(Controller):
    path = "/sync"
    tags = ["sync"]

    @post(
        "/{source:str}",
        summary="Import a file (or a JSON push of LinkedIn connections)",
        description=(
            "The body is the file itself, a multipart form whose first file part is the file, or (linkedin) "
            "a JSON array of connections. The file is checked and stored, and the import runs in the "
            "background: poll the returned run. At most KITH_MAX_UPLOAD_BYTES (413 beyond it)."
        ),
        status_code=HTTP_202_ACCEPTED,
        request_max_body_size=None,  # the upload's own limit is enforced as it streams (413)
    )
    async def start_sync(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        db_engine: NamedDependency[AsyncEngine],
        principal: NamedDependency[Principal],
        source: FromPath[SourceName],
        since: Annotated[
            str | None, Parameter(description="Import only what is dated from then on (YYYY-MM-DD or RFC 3339).")
        ] = None,
        days_back: Annotated[int | None, Parameter(ge=1, le=36500, description="Or: only the last N days.")] = None,
        me: Annotated[
            list[str] | None, Parameter(description="Your own addresses (mbox): mail from them is outgoing.")
        ] = None,
    ) -> Response[SyncRunDetail]:
        window, options = parse_since(since, days_back), RunOptions(own_addresses=me or [])
        media_type, body = await uploaded_file(request, get_settings().http.max_upload_bytes)
        run = await receiving.receive_upload(db_session, principal, source, media_type, body, window, options)
        # The run's job is sent once the response is out, so after the run's transaction has committed:
        # to the job queue (REDIS_URL), or run here, on this engine (no REDIS_URL). If that fails, the sweeper sends it.
        return Response(
            run,
            status_code=HTTP_202_ACCEPTED,
            headers={"Location": request.url_for("sync_run", run_id=run.id)},
            background=BackgroundTask(send_requested, db_engine, take_requested(db_session)),
        )

    @get("/runs", summary="Sync runs, newest first (cursor-paginated)")
    async def list_runs(
        self,
        request: Request,
        db_reader: NamedDependency[AsyncEngine],
        principal: NamedDependency[Principal],
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Response[SyncRunPage]:
        page = await SYNC_RUNS.page(db_reader, ListingRequest(principal.tenant_id, limit, cursor))
        return page_response(request, page)

    @get("/runs/{run_id:int}", name="sync_run", summary="One sync run: status, counts, stages, record errors")
    async def get_run(
        self, db_session: NamedDependency[AsyncSession], principal: NamedDependency[Principal], run_id: ResourceId
    ) -> SyncRunDetail:
        return await service.get_run(db_session, principal.tenant_id, run_id)
