"""The synthetic group thread (large tenants get one of 1,000,000 messages): deterministic, many members,
numbered after the regular messages, summarised like any conversation."""

from __future__ import annotations

import datetime as dt

from kith.readmodels.models import CONVERSATION_SUMMARIES
from kith.seed import queries as q
from kith.seed.generator import SIZES, SeedSize, seed_tenant

ANCHOR = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
SIZE = SeedSize(contacts=300, messages=2_000, conversations=20, mentions=10, group_messages=5_000)

GROUP_ROWS = """
SELECT m.external_id, m.direction, m.sent_at, m.subject, m.body, c.emails[1] AS member
FROM messages m JOIN conversations v ON v.id = m.conversation_id LEFT JOIN contacts c ON c.id = m.contact_id
WHERE m.tenant_id = $1 AND v.subject = $2 ORDER BY m.external_id
"""


async def seeded(conn, name: str) -> int:
    tenant_id = await conn.fetchval("INSERT INTO tenants (name) VALUES ($1) RETURNING id", name)
    user_id = await conn.fetchval(
        "INSERT INTO users (tenant_id, email) VALUES ($1, $2) RETURNING id", tenant_id, f"owner@{name}.test"
    )
    counts = await seed_tenant(
        conn, tenant_id=tenant_id, user_id=user_id, size=SIZE, seed=3, anchor=ANCHOR, progress=lambda _: None
    )
    assert (counts.conversations, counts.messages) == (SIZE.conversations + 1, SIZE.messages + SIZE.group_messages)
    return tenant_id


async def test_the_large_tenant_gets_a_million_message_thread():
    assert SIZES["large"].group_messages >= 1_000_000
    assert SIZES["small"].group_messages == 0  # the demo and the tests' small tenants are unchanged


async def test_group_thread_is_deterministic_and_shaped_like_a_group(conn, db):
    a, b = await seeded(conn, "group-a"), await seeded(conn, "group-b")
    rows_a = [tuple(r) for r in await conn.fetch(GROUP_ROWS, a, q.GROUP_THREAD_SUBJECT)]
    rows_b = [tuple(r) for r in await conn.fetch(GROUP_ROWS, b, q.GROUP_THREAD_SUBJECT)]
    assert len(rows_a) == SIZE.group_messages and rows_a == rows_b

    shape = await conn.fetchrow(
        """
        SELECT count(*) AS n, count(DISTINCT m.contact_id) AS members, count(*) FILTER (WHERE m.contact_id IS NULL)
               AS no_contact, avg((m.direction = 'out')::int) AS outgoing, bool_and(m.channel = 'chat') AS chat,
               count(DISTINCT m.external_id) AS ids, min(substr(m.external_id, 5)::int) AS first_number,
               min(m.sent_at) AS first, max(m.sent_at) AS last
        FROM messages m JOIN conversations v ON v.id = m.conversation_id
        WHERE m.tenant_id = $1 AND v.subject = $2
        """,
        a,
        q.GROUP_THREAD_SUBJECT,
    )
    assert shape["n"] == shape["ids"] == SIZE.group_messages and shape["no_contact"] == 0 and shape["chat"]
    assert 100 <= shape["members"] <= q.GROUP_THREAD_MEMBERS
    assert 0.05 <= shape["outgoing"] <= 0.15
    assert shape["first_number"] == SIZE.messages  # numbered after the regular messages
    assert ANCHOR - dt.timedelta(days=3 * 366) <= shape["first"] < shape["last"] <= ANCHOR
    # Every external id of the tenant is unique, the group's included.
    assert await conn.fetchval("SELECT count(*) = count(DISTINCT external_id) FROM messages WHERE tenant_id = $1", a)

    await conn.execute(f"REFRESH MATERIALIZED VIEW {CONVERSATION_SUMMARIES.slice_of(a).relation}")
    summary = await conn.fetchrow(
        "SELECT message_count, contact_id IS NOT NULL AS has_contact, channel FROM conversation_summaries "
        "WHERE tenant_id = $1 AND subject = $2",
        a,
        q.GROUP_THREAD_SUBJECT,
    )
    assert summary["message_count"] == SIZE.group_messages and summary["has_contact"] and summary["channel"] == "chat"
