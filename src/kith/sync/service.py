"""Reading sync runs: the tenant's runs, newest first, and one run.

Receiving an upload is kith.sync.receiving, running a run kith.sync.running,
`kith import` kith.sync.cli_import.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kith.pagination.cursor import Binding
from kith.pagination.keyset import Sort
from kith.pagination.page import Page, build_page, codec
from kith.problems import not_found
from kith.sync import queries
from kith.sync.schemas import SyncRun, SyncRunDetail

RUNS_SORT = Sort("created", ("created_at", "id"), (dt.datetime, int), descending=True)


async def list_runs(session: AsyncSession, tenant_id: int, limit: int, cursor: str | None) -> Page[SyncRun]:
    """The tenant's runs, newest first: keyset on (created_at, id) through ix_sync_runs_tenant_created."""
    binding = Binding(tenant_id, "sync.runs", RUNS_SORT.name, {})
    position = codec().decode(cursor, binding, RUNS_SORT.key_types) if cursor else None
    direction = position.direction if position else "next"
    seek = f"AND {RUNS_SORT.seek(direction, '', ('key_created_at', 'key_id'))}" if position else ""
    statement = text(queries.LIST_RUNS.format(seek=seek, order_by=RUNS_SORT.order_by(direction)))
    params: dict[str, Any] = {"tenant_id": tenant_id, "limit": limit + 1}
    if position:
        params["key_created_at"], params["key_id"] = position.key
    rows = (await session.execute(statement, params)).all()
    return build_page(
        rows,
        limit=limit,
        position=position,
        binding=binding,
        key_of=lambda r: (r.created_at, r.id),
        item_of=lambda r: msgspec.convert(r._asdict(), SyncRun),
        as_of=None,
    )


async def get_run(session: AsyncSession, tenant_id: int, run_id: int) -> SyncRunDetail:
    row = (await session.execute(queries.GET_RUN, {"tenant_id": tenant_id, "id": run_id})).first()
    if row is None:
        raise not_found("No such sync run")
    return msgspec.convert(row._asdict(), SyncRunDetail)
