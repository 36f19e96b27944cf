"""Which slice holds a tenant's rows: what this process knows, corrected from the database when a
statement finds the tenant's route moved (see kith.readmodels.models)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from kith.db.reads import Source, fetch_all
from kith.readmodels import queries
from kith.readmodels.models import ReadModel, Slice, learn_routes


async def relearn_routes(source: Source, tenant_id: int) -> None:
    """Read the tenant's routes again (a statement found its slice was not the tenant's route any more)."""
    rows = await fetch_all(source, queries.OWN_SLICES_OF_TENANT, {"tenant_id": tenant_id})
    learn_routes(tenant_id, (row.read_model for row in rows))


async def slices_of(conn: AsyncConnection, model: ReadModel) -> list[Slice]:
    """Every slice of the read model: the shared ones, then the tenants' own."""
    own = (await conn.execute(queries.OWN_SLICES, {"read_model": model.name})).scalars()
    return [*model.hash_slices(), *(model.own_slice(tenant_id) for tenant_id in own)]
