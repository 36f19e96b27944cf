"""Upload quotas per plan: size (413), sources (403), unfinished runs and uploads streaming at once (429)."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from tests.limits.conftest import put_on_plan

from kith.db.urls import asyncpg_dsn

DATA = Path(__file__).resolve().parent.parent / "data"
VCARD = (DATA / "contacts.vcf").read_bytes()


def upload(client, tenant, source="vcard", body=VCARD):
    return client.post(f"/api/v1/sync/{source}", content=body, headers={**tenant.headers, "Content-Type": "text/vcard"})


async def runs_of(conn, tenant_id: int) -> int:
    return await conn.fetchval("SELECT count(*) FROM sync_runs WHERE tenant_id = $1", tenant_id)


async def test_an_upload_over_the_plans_size_is_413(client, conn, make_tenant):
    tenant = await make_tenant()
    await put_on_plan(conn, tenant.id, max_upload_bytes=len(VCARD) - 1)
    response = await upload(client, tenant)
    assert response.status_code == 413
    assert response.json()["max_bytes"] == len(VCARD) - 1
    assert await runs_of(conn, tenant.id) == 0


async def test_a_source_outside_the_plan_is_403(client, conn, make_tenant):
    tenant = await make_tenant()
    await put_on_plan(conn, tenant.id, connectors=["mbox"])
    response = await upload(client, tenant)
    assert response.status_code == 403
    assert response.json()["limit"] == "connectors"
    assert await runs_of(conn, tenant.id) == 0


async def test_unfinished_runs_are_limited(client, conn, make_tenant):
    tenant = await make_tenant()
    await put_on_plan(conn, tenant.id, max_queued_runs=2)
    for _ in range(2):
        await conn.execute(
            "INSERT INTO sync_runs (tenant_id, source, status) VALUES ($1, 'vcard', 'queued')", tenant.id
        )
    response = await upload(client, tenant)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "30"
    assert await runs_of(conn, tenant.id) == 2
    await conn.execute("UPDATE sync_runs SET status = 'succeeded' WHERE tenant_id = $1", tenant.id)
    assert (await upload(client, tenant)).status_code == 202


async def test_uploads_streaming_at_once_are_limited(client, conn, db, make_tenant):
    tenant = await make_tenant()
    await put_on_plan(conn, tenant.id, max_uploads_in_flight=1)
    # Another request (any process) holds the tenant's only slot while its upload streams in.
    holder = await asyncpg.connect(asyncpg_dsn(db))
    try:
        async with holder.transaction():
            await holder.execute("SELECT pg_advisory_xact_lock(($1 % 2147483647)::int, 100)", tenant.id)
            response = await upload(client, tenant)
            assert response.status_code == 429
            assert "streaming" in response.json()["detail"]
        assert (await upload(client, tenant)).status_code == 202  # the slot is free once that request ends
    finally:
        await holder.close()
