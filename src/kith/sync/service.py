"""Reading one sync run (the listing of runs is declared in kith.sync.listings).

Receiving an upload is kith.sync.receiving, running a run kith.sync.running,
`kith import` kith.sync.cli_import.
"""

from __future__ import annotations

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from kith.problems import not_found
from kith.sync import queries
from kith.sync.schemas import SyncRunDetail


async def get_run(session: AsyncSession, tenant_id: int, run_id: int) -> SyncRunDetail:
    row = (await session.execute(queries.GET_RUN, {"tenant_id": tenant_id, "id": run_id})).first()
    if row is None:
        raise not_found("No such sync run")
    return msgspec.convert(row._asdict(), SyncRunDetail)
