"""`kith import`: a local file through the same checks, run and chain as an upload."""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Callable
from typing import BinaryIO

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kith.jobqueue import names
from kith.jobqueue.outbox import send_job
from kith.sync.batch_writer import Totals
from kith.sync.reading import HEAD_BYTES, check_format
from kith.sync.receiving import create_run
from kith.sync.running import execute_sync_run
from kith.sync.schemas import RunOptions, SourceName, SyncRunDetail
from kith.sync.service import get_run
from kith.sync.sources import SOURCES
from kith.sync.sources.archive import is_zip, members


async def check_file(source: SourceName, stream: BinaryIO, *, json: bool = False) -> None:
    """Raise SourceFormatError unless the file reads as the source's format (on its head, as an upload is)."""
    options = RunOptions(format="json" if json else "file")
    spec = SOURCES[source]
    if is_zip(stream):  # a local archive is checked whole: the files the source reads must be in it
        with zipfile.ZipFile(stream) as archive:
            members(archive, spec.suffixes)
    else:
        await check_format(spec, stream.read() if json else stream.read(HEAD_BYTES), None, options)
    stream.seek(0)


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
    """The CLI's import: the same run and chain as an upload, reading a local file (no stored chunks).
    The caller has checked the file (check_file), before the database was even started."""
    options = RunOptions(own_addresses=own_addresses or [], format="json" if json else "file")
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        run = await create_run(session, tenant_id, user_id, source, since, options)
    # The file is local to this process, so the import runs here; scoring and the refreshes that
    # follow go to the job queue (REDIS_URL), or run here too (no REDIS_URL).
    await execute_sync_run(engine, run.id, stream=stream, progress=progress)
    await send_job(engine, names.SCORE, sync_run_id=run.id)
    async with AsyncSession(engine) as session:
        return await get_run(session, tenant_id, run.id)
