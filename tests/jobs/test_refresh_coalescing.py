"""The coalesced refresh, on a real PostgreSQL: one at a time, exactly one follow-up, failures keep the old contents."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from tests.jobs.conftest import add_contacts, refresh_record, view_names, wait_until

from kith.db import locks
from kith.db.urls import asyncpg_dsn, sqlalchemy_url
from kith.readmodels.coalesced_refresh import RefreshFailed, request_refresh, vacuum_slice
from kith.readmodels.models import CONTACT_CARDS, UnknownReadModelError, slice_named

CARDS = CONTACT_CARDS.hash_slices()[1]  # the slice of the tenant add_contacts makes first in a fresh database


async def test_requests_during_a_slow_refresh_cause_exactly_one_more(jobs_db, gate, engine):
    await add_contacts(jobs_db, ["Ada Lovelace"])
    await gate.close()
    first = asyncio.create_task(request_refresh(engine, CARDS))
    await gate.wait_entered(1)

    # Written while the first pass runs: only a second pass can hold it.
    await add_contacts(jobs_db, ["Grace Hopper"])
    # Many requests meanwhile, from as many connections (as from many workers): none waits.
    others = [create_async_engine(sqlalchemy_url(jobs_db)) for _ in range(4)]
    try:
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(request_refresh(others[i % 4], CARDS) for i in range(20))), timeout=10
        )
    finally:
        for other in others:
            await other.dispose()
    assert [o.refreshes for o in outcomes] == [0] * 20
    assert not first.done()
    assert await gate.entered() == 1

    await gate.open()
    outcome = await asyncio.wait_for(first, timeout=20)
    assert outcome.refreshes == 2  # the first pass, then exactly one for all 20 requests
    assert await gate.entered() == 2
    assert await gate.max_others() == 0  # never two refreshes of the view at once
    assert {"Ada Lovelace", "Grace Hopper"} <= await view_names(jobs_db)
    record = await refresh_record(jobs_db)
    assert record["status"] == "succeeded" and record["requested_at"] <= record["started_at"]


async def test_a_request_with_nothing_new_after_the_last_pass_is_one_pass(jobs_db, gate, engine):
    await add_contacts(jobs_db, [])  # a tenant in the slice: its refresh reads the (gated) rows of each
    assert (await request_refresh(engine, CARDS)).refreshes == 1
    assert (await request_refresh(engine, CARDS)).refreshes == 1
    assert await gate.entered() == 2


async def test_readers_never_wait_for_a_refresh(jobs_db, gate, engine):
    await add_contacts(jobs_db, ["Ada Lovelace"])
    await request_refresh(engine, CARDS)
    await add_contacts(jobs_db, ["Grace Hopper"])
    await gate.close()
    running = asyncio.create_task(request_refresh(engine, CARDS))
    await gate.wait_entered(2)
    try:
        reader = await asyncpg.connect(asyncpg_dsn(jobs_db))
        try:
            await reader.execute("SET statement_timeout = '2s'")
            rows = await reader.fetch(
                "SELECT full_name FROM contact_cards ORDER BY tenant_id, score DESC, id DESC LIMIT 50"
            )
        finally:
            await reader.close()
        assert [r["full_name"] for r in rows] == ["Ada Lovelace"]  # the previous contents, at once
    finally:
        await gate.open()
        await running
    assert {"Ada Lovelace", "Grace Hopper"} == await view_names(jobs_db)


async def test_a_failed_refresh_keeps_the_old_contents_and_records_the_failure(jobs_db, gate, engine):
    await add_contacts(jobs_db, ["Ada Lovelace"])
    await request_refresh(engine, CARDS)
    before = await refresh_record(jobs_db)

    await add_contacts(jobs_db, ["Grace Hopper"])
    await gate.fail()
    with pytest.raises(RefreshFailed, match="refresh failed on purpose"):
        await request_refresh(engine, CARDS)
    failed = await refresh_record(jobs_db)
    assert failed["status"] == "failed"
    assert "refresh failed on purpose" in failed["error"]
    assert failed["as_of"] == before["as_of"]  # listings keep saying how old what they serve is
    assert failed["started_at"] > before["started_at"]
    assert await view_names(jobs_db) == {"Ada Lovelace"}

    # The next request (or the schedule) retries it.
    await gate.open()
    assert (await request_refresh(engine, CARDS)).refreshes == 1
    after = await refresh_record(jobs_db)
    assert after["status"] == "succeeded" and after["error"] is None and after["as_of"] > before["as_of"]
    assert await view_names(jobs_db) == {"Ada Lovelace", "Grace Hopper"}


async def test_a_refresh_that_cannot_get_its_table_lock_fails_within_the_lock_timeout(jobs_db, engine, monkeypatch):
    from kith.readmodels import coalesced_refresh as refresh

    monkeypatch.setattr(refresh, "LOCK_TIMEOUT", 0.2)  # seconds
    holder = await asyncpg.connect(asyncpg_dsn(jobs_db))
    try:
        tx = holder.transaction()
        await tx.start()
        await holder.execute(f"ANALYZE {CARDS.relation}")  # holds what VACUUM takes until the transaction ends
        with pytest.raises(RefreshFailed, match="lock timeout"):
            await asyncio.wait_for(request_refresh(engine, CARDS), timeout=10)
        await tx.rollback()
    finally:
        await holder.close()
    assert (await refresh_record(jobs_db))["status"] == "failed"


async def heap_fetches_of_an_index_only_scan(url: str) -> int:
    """What an index-only scan of the slice's score index reads from its heap (0 once it is all-visible)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("SET enable_seqscan = off; SET enable_bitmapscan = off")
        plan = await conn.fetchval(
            f"EXPLAIN (ANALYZE, FORMAT JSON) SELECT id, score, search_key FROM {CARDS.relation}"
            " ORDER BY tenant_id, score DESC, id DESC"
        )
        node = json.loads(plan)[0]["Plan"]
        assert node["Node Type"] == "Index Only Scan" and node["Actual Rows"] > 0, node
        return node["Heap Fetches"]
    finally:
        await conn.close()


async def test_a_pass_leaves_its_slice_vacuumed_and_analyzed(jobs_db, engine):
    """Right after a pass an index-only scan (a search's glance, a page's keys) reads no heap row and the planner
    has the slice's statistics: autovacuum may be off (it is on CI's server) or an hour away."""
    await add_contacts(jobs_db, ["Ada Lovelace", "Grace Hopper"])
    for more in (["Alan Turing"], ["Edsger Dijkstra"]):  # a pass on a new slice's rows, then concurrent ones
        assert (await request_refresh(engine, CARDS)).refreshes == 1
        assert await heap_fetches_of_an_index_only_scan(jobs_db) == 0
        await add_contacts(jobs_db, more)
    conn = await asyncpg.connect(asyncpg_dsn(jobs_db))
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_stats WHERE tablename = $1", CARDS.relation) > 0
    finally:
        await conn.close()


async def test_vacuum_skips_a_view_being_refreshed_and_serves_requests_it_held_up(jobs_db, gate, engine):
    await add_contacts(jobs_db, [])  # a tenant in the slice: its refresh reads the (gated) rows of each
    await gate.close()
    running = asyncio.create_task(request_refresh(engine, CARDS))
    await gate.wait_entered(1)
    assert await vacuum_slice(engine, CARDS) is False
    await gate.open()
    await running

    # VACUUM holds the view's refresh key: a request meanwhile returns at once, and is served after it.
    holder = await asyncpg.connect(asyncpg_dsn(jobs_db))
    try:
        assert await holder.fetchval(locks.TRY_LOCK.text.replace(":key", "$1"), locks.refresh_key(CARDS.relation))
        await add_contacts(jobs_db, ["Grace Hopper"])
        assert (await request_refresh(engine, CARDS)).refreshes == 0
        assert "Grace Hopper" not in await view_names(jobs_db)
        await holder.fetchval(locks.UNLOCK.text.replace(":key", "$1"), locks.refresh_key(CARDS.relation))
    finally:
        await holder.close()
    assert await vacuum_slice(engine, CARDS) is True
    assert "Grace Hopper" in await view_names(jobs_db)
    conn = await asyncpg.connect(asyncpg_dsn(jobs_db))
    try:
        assert await conn.fetchval(
            "SELECT last_vacuum IS NOT NULL AND last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = $1",
            CARDS.relation,
        ) in (True, None)  # stats are flushed lazily
        # No lock or setting is left on the pooled connections (of this database: the server is shared).
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            == 0
        )
    finally:
        await conn.close()
    async with engine.connect() as c:
        assert (await c.exec_driver_sql("SHOW lock_timeout")).scalar() == "0"


async def test_a_killed_refresher_releases_the_view_and_the_request_is_served_next_time(jobs_db, gate, engine):
    await add_contacts(jobs_db, ["Ada Lovelace"])
    await gate.close()
    doomed = create_async_engine(sqlalchemy_url(jobs_db))
    running = asyncio.create_task(request_refresh(doomed, CARDS))
    await gate.wait_entered(1)
    running.cancel()  # as a worker dying: its connection goes, the server rolls the refresh back
    await asyncio.gather(running, return_exceptions=True)
    await doomed.dispose()
    await wait_until(lambda: _none_running(gate), 10, "the abandoned refresh to end")
    await gate.open()
    assert (await request_refresh(engine, CARDS)).refreshes == 1
    assert "Ada Lovelace" in await view_names(jobs_db)


async def _none_running(gate) -> bool:
    return await gate.running_refreshes() == 0


def test_unknown_slices_are_refused():
    with pytest.raises(UnknownReadModelError):
        slice_named("contact_cards; DROP TABLE contacts")
