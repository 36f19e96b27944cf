"""Scoring: one statement per pass, the documented formula on a hand-made data set, only what it should touch."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import event

from kith.scoring.service import rescore_all, rescore_tenant, score_sync_run

# score = 100 × (0.5 × 0.5^(days since last / 30) + 0.3 × min(1, ln(1 + n90) / ln 31) + 0.2 × 2·min(in, out) / (in + out))
EXPECTED = {
    "A": 54.60,  # one in, one out, 30 days ago: 25 + 30 × ln 3 / ln 31 + 20
    "B": 31.06,  # one in, 30 days ago: 25 + 30 × ln 2 / ln 31, one-way
    "C": 88.86,  # 30 out over the last month (last yesterday), 10 in 200 days ago: 48.86 + 30 + 10
    "E": 0.00,  # one message 400 days ago: decayed, outside both windows
}


class Counter(list):
    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.append(statement)


async def contacts(conn, tenant) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch("SELECT * FROM contacts WHERE tenant_id = $1", tenant.id)
    return {r["full_name"]: r for r in rows}


async def hand_made(conn, tenant) -> tuple[int, dict[str, int]]:
    """Contacts A–E with known messages; a sync run that touched A, B, C and E (not D). Returns the run id."""
    ids = {
        name: await conn.fetchval(
            "INSERT INTO contacts (tenant_id, full_name, score, last_interaction_at) VALUES ($1, $2, $3, $4) RETURNING id",
            tenant.id,
            name,
            42.0 if name == "D" else 0.0,
            None,
        )
        for name in "ABCDE"
    }
    conversation = await conn.fetchval(
        "INSERT INTO conversations (tenant_id, user_id, external_id) VALUES ($1, $2, 'c') RETURNING id",
        tenant.id,
        tenant.user_id,
    )
    messages = [("A", "in", "30 days"), ("A", "out", "30 days"), ("B", "in", "30 days"), ("E", "in", "400 days")]
    messages += [("C", "out", f"{d} days") for d in range(1, 31)] + [("C", "in", "200 days")] * 10
    await conn.executemany(
        """INSERT INTO messages (tenant_id, conversation_id, contact_id, direction, sent_at, external_id)
           VALUES ($1, $2, $3, $4, now() - $5::text::interval, gen_random_uuid()::text)""",
        [(tenant.id, conversation, ids[name], direction, ago) for name, direction, ago in messages],
    )
    run_id = await conn.fetchval(
        "INSERT INTO sync_runs (tenant_id, source) VALUES ($1, 'mbox') RETURNING id", tenant.id
    )
    await conn.executemany(
        "INSERT INTO sync_run_contacts (tenant_id, sync_run_id, contact_id) VALUES ($1, $2, $3)",
        [(tenant.id, run_id, ids[n]) for n in "ABCE"],
    )
    return run_id, ids


async def test_scoring_a_run_is_one_statement_with_the_documented_values(engine, conn, make_tenant):
    tenant = await make_tenant()
    run_id, _ = await hand_made(conn, tenant)
    counter = Counter()
    event.listen(engine.sync_engine, "before_cursor_execute", counter)
    changed = await score_sync_run(engine, run_id)
    event.remove(engine.sync_engine, "before_cursor_execute", counter)

    assert len(counter) == 1
    assert changed == 4  # E's score stays 0 but its last interaction is set
    rows = await contacts(conn, tenant)
    assert {n: rows[n]["score"] for n in "ABCE"} == pytest.approx(EXPECTED, abs=0.011)
    assert rows["D"]["score"] == 42.0  # not touched by the run
    assert rows["C"]["last_interaction_at"] == await conn.fetchval(
        "SELECT max(sent_at) FROM messages WHERE contact_id = $1", rows["C"]["id"]
    )
    assert all(r["changed_at"] is None for r in rows.values())  # a batch job: no fresh-read marks
    stage = await conn.fetchval("SELECT stages -> 'score' FROM sync_runs WHERE id = $1", run_id)
    assert '"status": "succeeded"' in stage and '"contacts": 4' in stage

    assert await score_sync_run(engine, run_id) == 0  # nothing left to change


async def test_rescoring_a_tenant_or_all_is_one_statement(engine, conn, make_tenant):
    tenant, other = await make_tenant(), await make_tenant()
    await hand_made(conn, tenant)
    await conn.execute("INSERT INTO contacts (tenant_id, full_name, score) VALUES ($1, 'Other', 7)", other.id)
    await conn.execute("UPDATE contacts SET last_interaction_at = now() WHERE full_name = 'D'")
    counter = Counter()
    event.listen(engine.sync_engine, "before_cursor_execute", counter)
    changed = await rescore_tenant(engine, tenant.id)

    assert len(counter) == 1
    rows = await contacts(conn, tenant)
    assert {n: rows[n]["score"] for n in "ABCE"} == pytest.approx(EXPECTED, abs=0.011)
    assert (rows["D"]["score"], rows["D"]["last_interaction_at"]) == (0.0, None)  # no messages: back to 0
    assert changed == 5
    assert (await contacts(conn, other))["Other"]["score"] == 7.0

    counter.clear()
    assert await rescore_all(engine) == 1  # only the other tenant's contact was off
    event.remove(engine.sync_engine, "before_cursor_execute", counter)
    assert len(counter) == 1
    assert (await contacts(conn, other))["Other"]["score"] == 0.0
