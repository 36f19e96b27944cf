"""Running a queued sync run, in any process: status queued → running → succeeded/failed.

The job queue runs it (kith.tasks.jobs.sync), then scores the run and
refreshes the read models; `kith import` runs it on a local file
(kith.sync.cli_import).
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any, BinaryIO

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kith.config import get_settings
from kith.observability.metrics import record_sync
from kith.sync import queries
from kith.sync.batch_writer import Checkpoint, RunTarget, Totals, run_session, write_batches
from kith.sync.reading import open_source
from kith.sync.schemas import RunOptions
from kith.sync.sources import SOURCES, SourceBatch, SourceSpec
from kith.sync.uploads import ChunkStream, chunk_fetcher, iterate_on_thread, upload_sizer
from kith.transient import is_transient

logger = logging.getLogger(__name__)

RUNNABLE = ("queued", "running")


async def _upload_batches(
    engine: AsyncEngine, spec: SourceSpec, run: Any, options: RunOptions, batch_size: int
) -> AsyncIterator[SourceBatch]:
    """The run's batches, parsed on a thread from its stored chunks (read on a connection of their own)."""
    async with engine.connect() as reader:
        reader = await reader.execution_options(isolation_level="AUTOCOMMIT")
        fetch = chunk_fetcher(reader, run.tenant_id, run.id)
        size = upload_sizer(reader, run.tenant_id, run.id)
        stream = io.BufferedReader(ChunkStream(fetch, asyncio.get_running_loop(), size))
        async with aclosing(
            iterate_on_thread(lambda: open_source(spec, stream, run.since, options, batch_size))
        ) as batches:
            async for batch in batches:
                yield batch


async def execute_sync_run(
    engine: AsyncEngine,
    sync_run_id: int,
    *,
    stream: BinaryIO | None = None,
    batch_size: int | None = None,
    progress: Callable[[Totals], None] | None = None,
) -> None:
    """Run a queued run: status queued → running → succeeded/failed, counts, errors, stages["sync"].

    Reads the run's stored upload, or `stream` when given (the CLI), in batches of `batch_size`
    (KITH_SYNC_BATCH_SIZE by default). Does nothing for a finished run, so a repeated delivery is
    harmless; a run left 'running' by a dead worker resumes after its last landed batch (its
    checkpoint: the same batches are read again and skipped), with their counts. Runs of
    one tenant take turns (see batch_writer.run_session). Failures are recorded on
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
            claimed = (await conn.exec_driver_sql(queries.CLAIM_RUN, (sync_run_id,))).first()
            if claimed is None:
                return  # finished by another worker while this one waited
            await _execute(engine, conn, run, claimed, stream, batch_size, progress)


async def _after(batches: AsyncIterator[SourceBatch], landed: int) -> AsyncIterator[SourceBatch]:
    """The batches after the first `landed` (read, not written: a resumed run has them already)."""
    async with aclosing(batches):
        read = 0
        async for batch in batches:
            read += 1
            if read > landed:
                yield batch


async def _execute(
    engine: AsyncEngine,
    conn: AsyncConnection,
    run: Any,
    claimed: Any,
    stream: BinaryIO | None,
    batch_size: int | None,
    progress: Callable[[Totals], None] | None,
) -> None:
    spec = SOURCES[run.source]
    options = msgspec.convert(run.options, RunOptions)
    if run.user_email:
        options.own_addresses = [*options.own_addresses, run.user_email]
    options.skip_bulk_mail = run.skip_bulk_mail
    totals = Totals.resumed(claimed)
    if totals.batches:  # the same batches as before the interruption, to skip those landed
        batch_size = msgspec.convert(claimed.checkpoint, Checkpoint).batch_size
        logger.info("sync_run=%s resumes after batch %s", run.id, totals.batches)
    size = batch_size or get_settings().sync.batch_size
    target = RunTarget(run.tenant_id, run.id, spec.name, spec.key_kind, spec.dated, run.max_contacts, size)
    status, error = "succeeded", None
    try:
        if stream is None:
            batches = _upload_batches(engine, spec, run, options, size)
        else:
            batches = iterate_on_thread(lambda: open_source(spec, stream, run.since, options, size))
        if totals.batches:
            batches = _after(batches, totals.batches)
        async with aclosing(batches):
            await write_batches(conn, target, batches, totals, progress)
    except Exception as exc:
        if stream is None and is_transient(exc):
            # Left 'running': the job queue delivers it again and the run resumes after its last landed batch.
            raise
        status, error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
        logger.exception("sync_run=%s failed", run.id)
    extra = msgspec.json.encode(totals.stage_counts()).decode()
    done = (
        await conn.exec_driver_sql(queries.FINISH_RUN, (run.id, run.tenant_id, status, error, extra, totals.newest))
    ).one()
    seconds = max(done.duration_ms or 0, 1) / 1000
    record_sync(spec.name, seconds, done)
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
