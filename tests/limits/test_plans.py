"""Plans: read once per process, dropped on a notification from any process (never by age); their limits hold."""

from __future__ import annotations

import asyncio
import io

from litestar.testing import AsyncTestClient
from tests.limits.conftest import eventually, put_on_plan
from tests.sync.test_pipeline import DATA, OWN, assert_accounted, cards, parsed, run_import

from kith.app import create_app
from kith.plans import plan_cache
from kith.sync.batch_writer import COUNTERPARTS_OVER_LIMIT
from kith.sync.sources import read_mbox

CONTACTS = "/api/v1/contacts"


async def test_a_plan_is_read_once_then_served_from_the_process(client, app, conn, make_tenant, statements):
    tenant = await make_tenant()
    await put_on_plan(conn, tenant.id, requests_per_minute=100)
    await client.get(CONTACTS, headers=tenant.headers)
    statements.reset()
    response = await client.get(CONTACTS, headers=tenant.headers)
    assert response.headers["ratelimit-limit"] == "100"
    assert not [s for s in statements.statements if "plans" in s]
    assert plan_cache(app).cached(tenant.id) is not None


async def test_a_plan_change_reaches_every_process(db, conn, make_tenant):
    tenant = await make_tenant()
    plan_id = await put_on_plan(conn, tenant.id, requests_per_minute=100)
    async with AsyncTestClient(app=create_app(db)) as first, AsyncTestClient(app=create_app(db)) as second:
        for client in (first, second):
            assert (await client.get(CONTACTS, headers=tenant.headers)).headers["ratelimit-limit"] == "100"

        await conn.execute("UPDATE plans SET requests_per_minute = 50 WHERE id = $1", plan_id)
        for client in (first, second):

            async def limit_is_new(client=client) -> bool:
                return (await client.get(CONTACTS, headers=tenant.headers)).headers["ratelimit-limit"] == "50"

            await eventually(limit_is_new)

        # Moving the tenant to another plan is announced too.
        other = await conn.fetchval(
            "INSERT INTO plans (name, requests_per_minute, max_upload_bytes, max_uploads_in_flight, max_queued_runs,"
            " connectors) VALUES ('other', 7, 1000, 1, 1, '{}') RETURNING id"
        )
        await conn.execute("UPDATE tenants SET plan_id = $1 WHERE id = $2", other, tenant.id)

        async def moved() -> bool:
            return (await second.get(CONTACTS, headers=tenant.headers)).headers["ratelimit-limit"] == "7"

        await eventually(moved)


async def test_a_lost_channel_drops_the_cache(app, client, conn, make_tenant):
    tenant = await make_tenant()
    await client.get(CONTACTS, headers=tenant.headers)
    cache = plan_cache(app)
    assert len(cache)
    # Kill the listener's connection from the server side: the process may have missed changes.
    killed = await conn.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE query LIKE 'LISTEN%' AND datname = current_database()"
    )
    assert killed == 1
    await eventually(lambda: not len(cache))
    listener = app.state["kith_notify_listener"]
    await eventually(lambda: listener.connected)
    # Listening again: a change made now is heard.
    await conn.execute("UPDATE plans SET requests_per_minute = requests_per_minute WHERE is_default")
    await eventually(lambda: listener.received >= 1)


async def test_max_contacts_is_a_403_and_writes_nothing(client, conn, make_tenant):
    tenant = await make_tenant()
    await put_on_plan(conn, tenant.id, max_contacts=2)
    for name in ("Ada", "Bob"):
        assert (await client.post(CONTACTS, json={"full_name": name}, headers=tenant.headers)).status_code == 201
    response = await client.post(CONTACTS, json={"full_name": "Cy"}, headers=tenant.headers)
    assert response.status_code == 403
    body = response.json()
    assert body["limit"] == "max_contacts" and body["value"] == 2
    assert await conn.fetchval("SELECT count(*) FROM contacts WHERE tenant_id = $1", tenant.id) == 2
    # A deleted contact frees its place.
    first = await conn.fetchval("SELECT min(id) FROM contacts WHERE tenant_id = $1", tenant.id)
    assert (await client.delete(f"{CONTACTS}/{first}", headers=tenant.headers)).status_code == 204
    assert (await client.post(CONTACTS, json={"full_name": "Cy"}, headers=tenant.headers)).status_code == 201


async def test_concurrent_creates_cannot_pass_max_contacts(client, conn, make_tenant):
    tenant = await make_tenant()
    await put_on_plan(conn, tenant.id, max_contacts=3)
    responses = await asyncio.gather(
        *(client.post(CONTACTS, json={"full_name": f"P{i}"}, headers=tenant.headers) for i in range(8))
    )
    assert sorted(r.status_code for r in responses) == [201] * 3 + [403] * 5
    assert await conn.fetchval("SELECT count(*) FROM contacts WHERE tenant_id = $1", tenant.id) == 3


async def test_an_import_creates_contacts_up_to_max_contacts_and_reports_the_rest(engine, client, conn, make_tenant):
    tenant = await make_tenant()
    await put_on_plan(conn, tenant.id, max_contacts=5)
    for name in ("Ada", "Bob"):
        assert (await client.post(CONTACTS, json={"full_name": name}, headers=tenant.headers)).status_code == 201

    run = await run_import(engine, tenant, "vcard", cards(6))

    assert run.status == "succeeded", run.error
    assert (run.rows_inserted, run.rows_failed) == (3, 3)
    assert_accounted(run)
    assert [(e.index, e.reason, e.excerpt) for e in run.errors] == [
        (n, "the plan allows 5 contacts", f"Card {n}") for n in (3, 4, 5)
    ]
    names = await conn.fetch("SELECT full_name FROM contacts WHERE tenant_id = $1 ORDER BY id", tenant.id)
    assert [r["full_name"] for r in names] == ["Ada", "Bob", "Card 0", "Card 1", "Card 2"]

    # Full, the plan still lets an import update the contacts it has.
    changed = cards(6).replace(b"ORG:Company 1\r\n", b"ORG:Elsewhere\r\n")
    run = await run_import(engine, tenant, "vcard", changed)
    assert (run.rows_inserted, run.rows_updated, run.rows_failed) == (0, 1, 3)
    assert await conn.fetchval("SELECT company FROM contacts WHERE tenant_id = $1 AND full_name = 'Card 1'", tenant.id)
    assert await conn.fetchval("SELECT count(*) FROM contacts WHERE tenant_id = $1", tenant.id) == 5


async def test_messages_beyond_max_contacts_land_without_a_contact(engine, conn, make_tenant):
    tenant = await make_tenant()
    await put_on_plan(conn, tenant.id, max_contacts=1)
    data = (DATA / "takeout.mbox").read_bytes()
    expected = await parsed(read_mbox(io.BytesIO(data), own_addresses=OWN))
    counterparts = {r.counterpart_email for r in expected.records if r.counterpart_email}
    assert len(counterparts) > 1

    run = await run_import(engine, tenant, "mbox", data)

    assert run.status == "succeeded", run.error
    assert run.rows_inserted == len(expected.records)  # every message lands
    assert await conn.fetchval("SELECT count(*) FROM contacts WHERE tenant_id = $1", tenant.id) == 1
    assert run.stages["sync"]["dropped"] == {COUNTERPARTS_OVER_LIMIT: len(counterparts) - 1}
    assert run.stages["sync"]["contacts_created"] == 1
