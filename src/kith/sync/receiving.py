"""Receiving an upload: check its format on its head, queue a run, store the file as it streams in,
and request the run's job, all in the caller's transaction (kith.jobqueue.outbox: a run and its job
are one commit)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE, HTTP_422_UNPROCESSABLE_ENTITY
from sqlalchemy.ext.asyncio import AsyncSession

from kith.auth.principal import Principal
from kith.jobqueue import names
from kith.jobqueue.outbox import request_job
from kith.problems import bad_request, problem
from kith.sync import queries
from kith.sync.reading import HEAD_BYTES, check_format
from kith.sync.schemas import RunOptions, SourceName, SyncRunDetail
from kith.sync.sources import SOURCES, SourceFormatError
from kith.sync.uploads import CHUNK_BYTES, ByteReader, ChunkWriter


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
    media_type: str,
    body: AsyncIterator[bytes],
    since: dt.datetime | None,
    options: RunOptions,
) -> SyncRunDetail:
    """Check the upload's format on its head, then queue a run, store the file and request its job.

    All in the caller's transaction: a wrong format, or a file over the limit,
    leaves no run, no chunk and no job behind. The job is sent after the commit
    (kith.jobqueue.outbox.send_requested).
    """
    spec = SOURCES[source]
    upload = ByteReader(body)
    head = await upload.read(HEAD_BYTES)
    if not head:
        raise bad_request("The upload is empty")
    if media_type == "application/json":
        if spec.json_parser is None:
            raise problem(
                HTTP_415_UNSUPPORTED_MEDIA_TYPE, "Unsupported Media Type", f"{spec.name} takes a file, not JSON"
            )
        options.format = "json"
        parts = [head]  # JSON can only be checked whole (the body is bounded by the upload limit)
        while data := await upload.read(CHUNK_BYTES):
            parts.append(data)
        head = b"".join(parts)
    try:
        await check_format(spec, head, since, options)
    except SourceFormatError as exc:
        raise problem(
            HTTP_422_UNPROCESSABLE_ENTITY, "Unprocessable Entity", f"Not a valid {spec.title}: {exc}", source=spec.name
        ) from None
    run = await create_run(session, principal.tenant_id, principal.user_id, source, since, options)
    writer = ChunkWriter(session, principal.tenant_id, run.id)
    await writer.write(head)
    while data := await upload.read(CHUNK_BYTES):
        await writer.write(data)
    await writer.close()
    await request_job(session, names.SYNC, sync_run_id=run.id)
    return msgspec.convert(run._asdict(), SyncRunDetail)
