"""A read's freshness (as_of, generation) comes from the same statement as its rows, per slice of the tenant."""

from __future__ import annotations

from tests.conftest import connect

from kith.aggregates import service as aggregates
from kith.contacts.listings import CONTACTS
from kith.pagination.listing import ListingRequest
from kith.readmodels.coalesced_refresh import refresh_all, request_refresh
from kith.readmodels.models import COMPANY_STATS, CONTACT_CARDS, TENANT_DASHBOARD


async def _record(db: str, relation: str):
    conn = await connect(db)
    try:
        return await conn.fetchrow("SELECT as_of, generation FROM view_refreshes WHERE view_name = $1", relation)
    finally:
        await conn.close()


async def test_a_page_carries_its_slices_as_of_and_generation(db, make_tenant, engine):
    tenant = await make_tenant("fresh")
    await refresh_all(db)
    first = await CONTACTS.read(engine, ListingRequest(tenant.id, 10))
    record = await _record(db, CONTACT_CARDS.slice_of(tenant.id).relation)
    assert (first.freshness.as_of, first.freshness.generation) == (record["as_of"], record["generation"])
    assert first.page.as_of == record["as_of"]

    await request_refresh(engine, CONTACT_CARDS.slice_of(tenant.id))
    second = await CONTACTS.read(engine, ListingRequest(tenant.id, 10))
    assert second.freshness.generation > first.freshness.generation
    assert second.freshness.as_of > first.freshness.as_of


async def test_the_dashboard_is_as_old_as_its_oldest_slice_and_as_new_as_its_newest(db, make_tenant, engine):
    tenant = await make_tenant("board")
    await refresh_all(db)
    await request_refresh(engine, COMPANY_STATS.slice_of(tenant.id))  # the newest of the three now
    _, freshness = await aggregates.dashboard(engine, tenant.id, "UTC")
    records = [
        await _record(db, m.slice_of(tenant.id).relation) for m in (TENANT_DASHBOARD, COMPANY_STATS, CONTACT_CARDS)
    ]
    assert freshness.as_of == min(r["as_of"] for r in records)
    assert freshness.generation == max(r["generation"] for r in records)
    assert freshness.generation == records[1]["generation"]
