"""Refresh follows the tenant: slices of read models, per-tenant refreshes, marks and moves.

Tenants share hash slices (id % HASH_SLICES) unless they have slices of their own; each slice has its own
refresh record, so the records say exactly what a refresh touched.
"""

from __future__ import annotations

import random
from pathlib import Path

import msgspec
import pytest
from tests.cli.test_cli import kith
from tests.conftest import connect
from tests.contacts.conftest import insert_contacts, insert_messages

from kith.aggregates import service as aggregates
from kith.aggregates.listings import COMPANIES, TAGS
from kith.contacts.listings import CONTACTS
from kith.db import locks
from kith.db.migrations import upgrade_async
from kith.pagination.listing import ListingRequest
from kith.readmodels.coalesced_refresh import refresh_all, request_refresh
from kith.readmodels.isolation import isolate_tenant
from kith.readmodels.models import CONTACT_CARDS, CONVERSATION_SUMMARIES, HASH_SLICES, READ_MODELS, learn_routes

DATA = Path(__file__).resolve().parent.parent / "data"


async def _records(url: str) -> dict[str, tuple]:
    conn = await connect(url)
    try:
        rows = await conn.fetch("SELECT view_name, as_of, generation, finished_at FROM view_refreshes")
        return {r["view_name"]: (r["as_of"], r["generation"], r["finished_at"]) for r in rows}
    finally:
        await conn.close()


async def _tenants_in_two_slices(make_tenant):
    first = await make_tenant()
    second = await make_tenant()
    while second.id % HASH_SLICES == first.id % HASH_SLICES:
        second = await make_tenant()
    return first, second


async def test_an_import_refreshes_its_tenants_slices_and_no_other(client, db, make_tenant):
    a, b = await _tenants_in_two_slices(make_tenant)
    await refresh_all(db)
    before = await _records(db)
    a_slices = {model.slice_of(a.id).relation for model in READ_MODELS}
    b_board_before = (await client.get("/api/v1/dashboard", headers=b.headers)).json()["as_of"]

    files = {"file": ("contacts.vcf", (DATA / "contacts.vcf").read_bytes(), "text/vcard")}
    response = await client.post("/api/v1/sync/vcard", headers=a.headers, files=files)
    assert response.status_code == 202, response.text
    run = (await client.get(f"/api/v1/sync/runs/{response.json()['id']}", headers=a.headers)).json()
    assert run["status"] == "succeeded" and run["stages"]["refresh"]["status"] == "succeeded"
    assert set(run["stages"]["refresh"]["views"]) == a_slices

    after = await _records(db)
    moved = {name for name in after if after[name] != before[name]}
    assert moved == a_slices  # the refresh records: A's slices, no other
    for model in READ_MODELS:
        assert after[model.slice_of(b.id).relation][:2] == before[model.slice_of(b.id).relation][:2]
    page = (await client.get("/api/v1/contacts", headers=a.headers)).json()
    assert len(page["items"]) == 6 and page["as_of"] > b_board_before
    assert (await client.get("/api/v1/dashboard", headers=b.headers)).json()["as_of"] == b_board_before


async def test_marks_of_a_tenant_not_refreshed_survive(db, make_tenant, engine, conn):
    a, b = await _tenants_in_two_slices(make_tenant)
    for tenant in (a, b):
        await conn.execute(
            "INSERT INTO conversations (tenant_id, user_id, external_id, changed_at) VALUES ($1, $2, 'x', now())",
            tenant.id,
            tenant.user_id,
        )
    await request_refresh(engine, CONVERSATION_SUMMARIES.slice_of(a.id))
    marks = dict(await conn.fetch("SELECT tenant_id, changed_at FROM conversations"))
    assert marks[a.id] is None  # taken in by its slice's refresh
    assert marks[b.id] is not None  # its slice was not refreshed: its live reads still need the mark


async def test_coalescing_holds_per_slice(db, make_tenant, engine):
    a, b = await _tenants_in_two_slices(make_tenant)
    held, other = CONTACT_CARDS.slice_of(a.id), CONTACT_CARDS.slice_of(b.id)
    holder = await connect(db)
    try:
        # As a worker refreshing A's slice: a request for it waits on that pass, another slice's does not.
        assert await holder.fetchval(locks.TRY_LOCK.text.replace(":key", "$1"), locks.refresh_key(held.relation))
        assert (await request_refresh(engine, held)).refreshes == 0
        assert (await request_refresh(engine, other)).refreshes == 1
    finally:
        await holder.close()
    assert (await request_refresh(engine, held)).refreshes == 1  # the request left behind is served


@pytest.fixture
async def own_db(create_database):
    """A database of the test's own: moving a tenant creates slices (views) that outlive a test's rows."""
    url = await create_database("kith_slices")
    await upgrade_async(url)
    return url


async def _populate(url: str) -> tuple[int, int]:
    conn = await connect(url)
    try:
        ids = []
        for name in ("mover", "stayer"):
            tenant_id = await conn.fetchval("INSERT INTO tenants (name) VALUES ($1) RETURNING id", name)
            user_id = await conn.fetchval(
                "INSERT INTO users (tenant_id, email, name) VALUES ($1, $2, $2) RETURNING id", tenant_id, f"o@{name}"
            )
            rng = random.Random(tenant_id)
            contacts = await insert_contacts(conn, tenant_id, 60 if name == "mover" else 10, rng)
            await insert_messages(conn, tenant_id, user_id, contacts, rng)
            ids.append(tenant_id)
        return ids[0], ids[1]
    finally:
        await conn.close()


async def _walk(engine, tenant_id: int, sort: str, limit: int, between=None) -> list[int]:
    seen, cursor, pages = [], None, 0
    while True:
        page = await CONTACTS.page(engine, ListingRequest(tenant_id, limit, cursor, sort))
        seen += [item.id for item in page.items]
        pages += 1
        if between is not None and pages == 2:
            await between()
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


async def _golden(engine, tenant_id: int) -> tuple:
    contacts = [
        [c.id for c in (await CONTACTS.page(engine, ListingRequest(tenant_id, 200, None, sort))).items]
        for sort in CONTACTS.sorts
    ]
    companies = (await COMPANIES.page(engine, ListingRequest(tenant_id, 200))).items
    tags = (await TAGS.page(engine, ListingRequest(tenant_id, 200))).items
    board, _ = await aggregates.dashboard(engine, tenant_id, "UTC")
    return contacts, companies, tags, {**msgspec.structs.asdict(board), "as_of": None}


async def test_moving_a_tenant_while_walking_with_cursors_neither_repeats_nor_skips(own_db, engine_on):
    engine = engine_on(own_db)
    mover, stayer = await _populate(own_db)
    await refresh_all(own_db)
    learn_routes(mover, ())  # this process last heard: a shared slice
    expected = await _walk(engine, mover, "name", 200)
    golden_before = await _golden(engine, mover)
    stayer_before = await _golden(engine, stayer)

    async def move():
        assert await isolate_tenant(engine, mover) == [m.own_slice(mover).relation for m in READ_MODELS]

    walked = await _walk(engine, mover, "name", 7, between=move)
    assert walked == expected  # each row once, in order, across the move
    # Read from the tenant's own slices now (this process learnt it from the page that found the route moved).
    listed = await CONTACTS.read(engine, ListingRequest(mover, 5))
    records = await _records(own_db)
    assert listed.freshness.generation == records[CONTACT_CARDS.own_slice(mover).relation][1]
    # Whichever slice: the same listings and aggregates, for the tenant that moved and the one that stayed.
    assert await _golden(engine, mover) == golden_before
    assert await _golden(engine, stayer) == stayer_before
    # The shared slice it left holds its rows no more; the plain view over all slices holds them once.
    conn = await connect(own_db)
    try:
        left = CONTACT_CARDS.hash_slices()[mover % HASH_SLICES].relation
        assert await conn.fetchval(f"SELECT count(*) FROM {left} WHERE tenant_id = $1", mover) == 0
        assert await conn.fetchval("SELECT count(*) FROM contact_cards WHERE tenant_id = $1", mover) == 60
    finally:
        await conn.close()
    assert await isolate_tenant(engine, mover) == []  # idempotent


async def test_a_slice_of_its_own_keeps_each_companys_contacts_together(own_db, engine_on):
    """Written in company order (ReadModel.physical_order), a search's matches of one company sit on few pages:
    along the slice's heap each company's contacts are one run, though they were added taking turns."""
    engine = engine_on(own_db)
    conn = await connect(own_db)
    try:
        tenant_id = await conn.fetchval("INSERT INTO tenants (name) VALUES ('turns') RETURNING id")
        await conn.executemany(
            "INSERT INTO contacts (tenant_id, full_name, company) VALUES ($1, $2, $3)",
            [(tenant_id, f"Person {i}", f"Company {i % 7}") for i in range(70)],
        )
        # The tenant holds every contact: read in the table's order, as a large tenant's are (a small one's
        # happen to be read on the (tenant_id, company) index).
        await conn.execute("ANALYZE contacts")
    finally:
        await conn.close()
    await refresh_all(own_db)
    await isolate_tenant(engine, tenant_id)
    conn = await connect(own_db)
    try:
        runs = await conn.fetchval(
            "SELECT count(*) FILTER (WHERE company_key IS DISTINCT FROM before) FROM"
            " (SELECT company_key, lag(company_key) OVER (ORDER BY ctid) AS before"
            f"  FROM {CONTACT_CARDS.own_slice(tenant_id).relation}) s"
        )
    finally:
        await conn.close()
    assert runs == 7


async def test_deleting_a_tenant_drops_its_own_slices_and_their_routes(own_db, engine_on, tmp_path):
    engine = engine_on(own_db)
    mover, stayer = await _populate(own_db)
    await refresh_all(own_db)
    await isolate_tenant(engine, mover)
    await isolate_tenant(engine, stayer)
    stayer_before = await _golden(engine, stayer)
    # An interrupted move of another read model left a built slice with no route: it goes too.
    conn = await connect(own_db)
    try:
        await conn.execute("DELETE FROM read_model_routes WHERE tenant_id = $1 AND read_model = $2", mover, "tag_stats")
    finally:
        await conn.close()

    # A slice of its own has the search's statistics from its move on (kith.readmodels.isolation).
    statistics = "SELECT count(*) FROM search_trigrams WHERE relation = $1"
    conn = await connect(own_db)
    try:
        for tenant_id in (mover, stayer):
            assert await conn.fetchval(statistics, CONTACT_CARDS.own_slice(tenant_id).relation) > 0
    finally:
        await conn.close()

    deleted = kith("tenant", "delete", "mover", "--yes", db=own_db, data_dir=tmp_path)
    assert deleted.returncode == 0 and deleted.stdout.strip() == str(mover), deleted.stderr

    conn = await connect(own_db)
    try:
        relations = {r["relname"] for r in await conn.fetch("SELECT relname FROM pg_class WHERE relkind = 'm'")}
        assert {m.own_slice(mover).relation for m in READ_MODELS}.isdisjoint(relations)
        assert {m.own_slice(stayer).relation for m in READ_MODELS} <= relations
        recorded = {r["view_name"] for r in await conn.fetch("SELECT view_name FROM view_refreshes")}
        assert not any(name.endswith(f"_t{mover}") for name in recorded), recorded
        assert await conn.fetchval("SELECT count(*) FROM read_model_routes WHERE tenant_id = $1", mover) == 0
        assert await conn.fetchval(statistics, CONTACT_CARDS.own_slice(mover).relation) == 0
        assert await conn.fetchval(statistics, CONTACT_CARDS.own_slice(stayer).relation) > 0
        # The plain views over all slices read the others' slices still.
        assert await conn.fetchval("SELECT count(*) FROM contact_cards") == 10
    finally:
        await conn.close()
    assert await _golden(engine, stayer) == stayer_before
    assert all(o.slice.tenant_id != mover for o in await refresh_all(own_db))  # every slice left refreshes
    # A refresh requested late for a slice dropped (a job sent before the deletion) does nothing.
    late = await request_refresh(engine, CONTACT_CARDS.own_slice(mover))
    assert late.refreshes == 0
    assert CONTACT_CARDS.own_slice(mover).relation not in await _records(own_db)


async def test_a_refresh_finds_the_runs_waiting_for_it_on_an_index_not_by_reading_every_run(
    db, make_tenant, engine, conn
):
    """Every refresh of a slice completes the runs waiting for it: with thousands of runs kept, that is
    a probe of the few waiting (ix_sync_runs_awaiting_refresh), never a scan of them all."""
    import datetime as dt

    from sqlalchemy import text

    from kith.readmodels import queries

    tenant = await make_tenant()
    await conn.execute(
        "INSERT INTO sync_runs (tenant_id, source, status, stages) SELECT $1, 'vcard', 'succeeded', "
        """'{"refresh": {"status": "succeeded", "views": {"contact_cards_h1": {"status": "succeeded"}}}}'"""
        " FROM generate_series(1, 5000)",
        tenant.id,
    )
    await conn.execute("ANALYZE sync_runs")
    now = dt.datetime.now(dt.UTC)
    params = {"view_name": "contact_cards_h1", "started_at": now, "as_of": now, "finished_at": now}
    async with engine.connect() as sa:
        plan = "\n".join((await sa.execute(text("EXPLAIN " + queries.MARK_RUNS_REFRESHED.text), params)).scalars())
    assert "ix_sync_runs_awaiting_refresh" in plan and "Seq Scan on sync_runs" not in plan, plan
