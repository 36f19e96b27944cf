"""Sync runs: receiving an upload, running the import, listing runs.

The request only checks the upload's format (on its head, before anything is
written), stores it in chunks and queues a run; `execute_sync_run` does the
import, in any process: the job queue (kith.tasks) runs it, then scores the
run (kith.scoring) and refreshes the read models.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any, BinaryIO

import msgspec
from litestar import Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from kith.auth.principal import Principal
from kith.config import get_settings
from kith.problems import bad_request, not_found, problem
from kith.sync import queries
from kith.sync.pipeline import RunTarget, Totals, run_session, write_batches
from kith.sync.schemas import RunOptions, SourceName, SyncRunDetail
from kith.sync.sources import DEFAULT_BATCH_SIZE, SOURCES, SourceBatch, SourceFormatError, SourceSpec
from kith.sync.uploads import CHUNK_BYTES, ChunkStream, ChunkWriter, UploadedFile, chunk_fetcher, iterate_on_thread
from kith.tasks.retry import is_transient

logger = logging.getLogger(__name__)

# Enough of a file to tell its format (the sources decide on their first record).
HEAD_BYTES = 64 << 10
# contact_keys.kind of ContactRecord.external_id, per source.
KEY_KINDS = {"vcard": "vcard_uid", "linkedin": "linkedin"}
RUNNABLE = ("queued", "running")

# ---------------------------------------------------------------- reading a source


def _open_source(
    spec: SourceSpec, stream: BinaryIO, since: dt.datetime | None, options: RunOptions, batch_size: int
) -> AsyncIterator[SourceBatch]:
    if options.format == "json":
        return _json_batches(spec, stream, since, batch_size)
    kwargs: dict[str, Any] = {"batch_size": batch_size}
    if "since" in spec.options:
        kwargs["since"] = since
    if "own_addresses" in spec.options:
        kwargs["own_addresses"] = options.own_addresses
    return spec.reader(stream, **kwargs)


def _json_array(data: bytes) -> list[msgspec.Raw]:
    """The items of a JSON array, each left undecoded until its batch is parsed."""
    return msgspec.json.decode(data, type=list[msgspec.Raw])


async def _json_batches(
    spec: SourceSpec, stream: BinaryIO, since: dt.datetime | None, batch_size: int
) -> AsyncIterator[SourceBatch]:
    # A JSON push is read whole (it is bounded by the upload limit); its items are decoded a batch at a time.
    items = _json_array(stream.read())
    for start in range(0, len(items), batch_size):
        decoded = [msgspec.json.decode(raw) for raw in items[start : start + batch_size]]
        yield spec.json_parser(decoded, since=since, start_index=start)


async def check_format(spec: SourceSpec, head: bytes, since: dt.datetime | None, options: RunOptions) -> None:
    """Raise SourceFormatError unless the head of the input reads as the source's format (up to its first record)."""
    try:
        if options.format == "json":
            _json_array(head)
            return
        async with aclosing(_open_source(spec, io.BytesIO(head), since, options, batch_size=1)) as batches:
            await anext(batches, None)
    except msgspec.DecodeError as exc:
        raise SourceFormatError(f"not a JSON array: {exc}") from None


# ---------------------------------------------------------------- receiving an upload


def parse_since(since: str | None, days_back: int | None) -> dt.datetime | None:
    """The start of the import window: `since` (a date, or a date and time; UTC if no offset) or `days_back`."""
    if since is not None and days_back is not None:
        raise bad_request("Give either since or days_back, not both")
    if days_back is not None:
        return dt.datetime.now(dt.UTC) - dt.timedelta(days=days_back)
    if since is None:
        return None
    try:
        value = dt.datetime.fromisoformat(since)
    except ValueError:
        raise bad_request(f"since must be a date (YYYY-MM-DD) or an RFC 3339 time, not {since!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def create_run(
    session: AsyncSession, tenant_id: int, user_id: int, source: str, since: dt.datetime | None, options: RunOptions
) -> Any:
    params = {
        "tenant_id": tenant_id,
        "user_id": user_id,
        "source": source,
        "since": since,
        "options": msgspec.json.encode(options).decode(),
    }
    return (await session.execute(queries.CREATE_RUN, params)).one()


async def receive_upload(
    session: AsyncSession,
    principal: Principal,
    source: SourceName,
    request: Request,
    since: str | None,
    days_back: int | None,
    own_addresses: list[str],
) -> SyncRunDetail:
    """Check the upload's format on its head, then queue a run and store the file as it streams in.

    All in the request's transaction: a wrong format, or a file over the limit,
    leaves no run and no chunk behind.
    """
    spec = SOURCES[source]
    window = parse_since(since, days_back)
    upload = UploadedFile(request, get_settings().max_upload_bytes)
    head = await upload.read(HEAD_BYTES)
    if not head:
        raise bad_request("The upload is empty")
    options = RunOptions(own_addresses=own_addresses)
    if upload.media_type == "application/json":
        if spec.json_parser is None:
            raise problem(415, "Unsupported Media Type", f"{spec.name} takes a file, not JSON")
        options.format = "json"
        head += await upload.read(get_settings().max_upload_bytes)  # JSON can only be checked whole
    try:
        await check_format(spec, head, window, options)
    except SourceFormatError as exc:
        raise problem(422, "Unprocessable Entity", f"Not a valid {spec.title}: {exc}", source=spec.name) from None
    run = await create_run(session, principal.tenant_id, principal.user_id, source, window, options)
    writer = ChunkWriter(session, principal.tenant_id, run.id)
    await writer.write(head)
    while data := await upload.read(CHUNK_BYTES):
        await writer.write(data)
    await writer.close()
    return msgspec.convert(run._asdict(), SyncRunDetail)


# ---------------------------------------------------------------- reading runs


async def get_run(session: AsyncSession, tenant_id: int, run_id: int) -> SyncRunDetail:
    row = (await session.execute(queries.GET_RUN, {"tenant_id": tenant_id, "id": run_id})).first()
    if row is None:
        raise not_found("No such sync run")
    return msgspec.convert(row._asdict(), SyncRunDetail)


# ---------------------------------------------------------------- running a run


async def _upload_batches(
    engine: AsyncEngine, spec: SourceSpec, run: Any, options: RunOptions, batch_size: int
) -> AsyncIterator[SourceBatch]:
    """The run's batches, parsed on a thread from its stored chunks (read on a connection of their own)."""
    async with engine.connect() as reader:
        reader = await reader.execution_options(isolation_level="AUTOCOMMIT")
        fetch = chunk_fetcher(reader, run.tenant_id, run.id)
        stream = io.BufferedReader(ChunkStream(fetch, asyncio.get_running_loop()))
        async with aclosing(
            iterate_on_thread(lambda: _open_source(spec, stream, run.since, options, batch_size))
        ) as batches:
            async for batch in batches:
                yield batch


async def execute_sync_run(
    engine: AsyncEngine,
    sync_run_id: int,
    *,
    stream: BinaryIO | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[Totals], None] | None = None,
) -> None:
    """Run a queued run: status queued → running → succeeded/failed, counts, errors, stages["sync"].

    Reads the run's stored upload, or `stream` when given (the CLI). Does
    nothing for a finished run, so a repeated delivery is harmless; a run left
    'running' by a dead worker starts over (imports are idempotent). Runs of
    one tenant take turns (see pipeline.run_session). Failures are recorded on
    the run, not raised, except transient ones (a lost connection, a
    serialization failure, a deadlock) of a queued run: those are raised for the
    job queue to retry. The batches landed before a failure stay.
    """
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        run = (await conn.exec_driver_sql(queries.RUN_FOR_WORK, (sync_run_id,))).first()
        if run is None or run.status not in RUNNABLE:
            return
        async with run_session(conn, run.tenant_id):
            if (await conn.exec_driver_sql(queries.CLAIM_RUN, (sync_run_id,))).first() is None:
                return  # finished by another worker while this one waited
            await _execute(engine, conn, run, stream, batch_size, progress)


async def _execute(
    engine: AsyncEngine,
    conn: AsyncConnection,
    run: Any,
    stream: BinaryIO | None,
    batch_size: int,
    progress: Callable[[Totals], None] | None,
) -> None:
    spec = SOURCES[run.source]
    options = msgspec.convert(run.options, RunOptions)
    if run.user_email:
        options.own_addresses = [*options.own_addresses, run.user_email]
    target = RunTarget(run.tenant_id, run.id, spec.name, KEY_KINDS.get(spec.name))
    totals = Totals()
    status, error = "succeeded", None
    try:
        if stream is None:
            batches = _upload_batches(engine, spec, run, options, batch_size)
        else:
            batches = iterate_on_thread(lambda: _open_source(spec, stream, run.since, options, batch_size))
        async with aclosing(batches):
            await write_batches(conn, target, batches, totals, progress)
    except Exception as exc:
        if stream is None and is_transient(exc):
            # Left 'running': the job queue delivers it again and the run starts over (imports are idempotent).
            raise
        status, error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
        logger.exception("sync_run=%s failed", run.id)
    extra = msgspec.json.encode({"batches": totals.batches, "contacts_created": totals.contacts_created}).decode()
    done = (
        await conn.exec_driver_sql(queries.FINISH_RUN, (run.id, run.tenant_id, status, error, extra, totals.newest))
    ).one()
    seconds = max(done.duration_ms or 0, 1) / 1000
    logger.info(
        "sync_run id=%s tenant=%s source=%s status=%s seen=%s inserted=%s updated=%s skipped=%s failed=%s "
        "batches=%s contacts_created=%s duration_ms=%s rows_per_s=%.0f",
        run.id,
        run.tenant_id,
        spec.name,
        status,
        done.rows_seen,
        done.rows_inserted,
        done.rows_updated,
        done.rows_skipped,
        done.rows_failed,
        totals.batches,
        totals.contacts_created,
        done.duration_ms,
        done.rows_seen / seconds,
    )


async def import_file(
    engine: AsyncEngine,
    tenant_id: int,
    user_id: int,
    source: SourceName,
    stream: BinaryIO,
    *,
    since: dt.datetime | None = None,
    own_addresses: list[str] | None = None,
    json: bool = False,
    progress: Callable[[Totals], None] | None = None,
) -> SyncRunDetail:
    """The CLI's import: the same checks, run and chain as an upload, reading a local file (no stored chunks)."""
    spec = SOURCES[source]
    options = RunOptions(own_addresses=own_addresses or [], format="json" if json else "file")
    await check_format(spec, stream.read() if json else stream.read(HEAD_BYTES), since, options)
    stream.seek(0)
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        run = await create_run(session, tenant_id, user_id, source, since, options)
    # The file is local to this process, so the import runs here; scoring and the refreshes that
    # follow go to the job queue (REDIS_URL), or run here too (no REDIS_URL).
    await execute_sync_run(engine, run.id, stream=stream, progress=progress)
    from kith.tasks.client import enqueue_score

    await enqueue_score(run.id, engine=engine)
    async with AsyncSession(engine) as session:
        return await get_run(session, tenant_id, run.id)
