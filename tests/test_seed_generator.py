"""The synthetic data generator: deterministic, set-based, realistic shapes, all-or-nothing.

On a database of its own, created by the shared fixtures (tests/conftest.py) on the test server.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from kith.db.migrations import upgrade_async
from kith.db.urls import asyncpg_dsn
from kith.seed import queries as q
from kith.seed.generator import SIZES, SeedCounts, seed_tenant

ANCHOR = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
SMALL = SIZES["small"]


@pytest.fixture(scope="module")
async def seed_db(create_database: Callable) -> str:
    """A migrated database of this module's own, on the shared test server (the tests build on each other's tenants)."""
    url = await create_database("kith_seedtest")
    await upgrade_async(url)
    return url


@pytest.fixture
async def conn(seed_db: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(asyncpg_dsn(seed_db))
    try:
        yield connection
    finally:
        await connection.close()


async def _tenant(conn: asyncpg.Connection, name: str) -> tuple[int, int]:
    tenant_id = await conn.fetchval("INSERT INTO tenants (name) VALUES ($1) RETURNING id", name)
    user_id = await conn.fetchval(
        "INSERT INTO users (tenant_id, email, name) VALUES ($1, $2, 'Owner') RETURNING id",
        tenant_id,
        f"owner@{name}.test",
    )
    return tenant_id, user_id


async def _seed(
    conn: asyncpg.Connection, name: str, seed: int, lines: list[str] | None = None
) -> tuple[int, SeedCounts]:
    tenant_id, user_id = await _tenant(conn, name)
    counts = await seed_tenant(
        conn,
        tenant_id=tenant_id,
        user_id=user_id,
        size="small",
        seed=seed,
        anchor=ANCHOR,
        progress=(lines.append if lines is not None else (lambda _line: None)),
    )
    return tenant_id, counts


@pytest.fixture(scope="module")
async def seeded(seed_db: str) -> dict[str, object]:
    """Tenants a and b seeded with seed 7, c with seed 8 (once for the module)."""
    connection = await asyncpg.connect(asyncpg_dsn(seed_db))
    try:
        lines: list[str] = []
        a, counts_a = await _seed(connection, f"a-{uuid.uuid4().hex[:6]}", 7, lines)
        b, counts_b = await _seed(connection, f"b-{uuid.uuid4().hex[:6]}", 7)
        c, counts_c = await _seed(connection, f"c-{uuid.uuid4().hex[:6]}", 8)
    finally:
        await connection.close()
    return {"a": a, "b": b, "c": c, "counts": (counts_a, counts_b, counts_c), "lines": lines}


# Rows of a tenant without ids or tenant: contacts in generation order; messages by external id
# with their contact and conversation as positions within the tenant (ids differ between tenants).
CONTACT_ROWS = """
SELECT full_name, emails, phones, company, title, tags, birthday_month, birthday_day, birthday_year,
       cadence_days, links, created_at, score, last_interaction_at
FROM contacts WHERE tenant_id = $1 ORDER BY id
"""
MESSAGE_ROWS = """
WITH ct AS (SELECT id, row_number() OVER (ORDER BY id) AS pos FROM contacts WHERE tenant_id = $1),
     cv AS (SELECT id, external_id FROM conversations WHERE tenant_id = $1)
SELECT m.external_id, ct.pos AS contact_pos, cv.external_id AS conversation, m.channel, m.direction,
       m.sent_at, m.subject, m.body
FROM messages m JOIN ct ON ct.id = m.contact_id JOIN cv ON cv.id = m.conversation_id
WHERE m.tenant_id = $1
ORDER BY m.external_id
"""
MESSAGE_AGGREGATES = """
WITH ct AS (SELECT id, row_number() OVER (ORDER BY id) AS pos FROM contacts WHERE tenant_id = $1)
SELECT ct.pos, count(*) AS n, min(m.sent_at) AS first, max(m.sent_at) AS last,
       count(*) FILTER (WHERE m.direction = 'in') AS inbound
FROM messages m JOIN ct ON ct.id = m.contact_id
WHERE m.tenant_id = $1
GROUP BY ct.pos ORDER BY ct.pos
"""
CONVERSATION_ROWS = """
SELECT external_id, channel, subject, created_at FROM conversations WHERE tenant_id = $1 ORDER BY id
"""
MENTION_ROWS = """
SELECT dedupe_key, title, link, summary, published_at, companies FROM mentions WHERE tenant_id = $1 ORDER BY id
"""
KEY_ROWS = """
SELECT k.kind, k.value, c.emails FROM contact_keys k JOIN contacts c ON c.id = k.contact_id
WHERE k.tenant_id = $1 ORDER BY k.value
"""


async def _rows(conn: asyncpg.Connection, sql: str, tenant_id: int) -> list[tuple]:
    return [tuple(r) for r in await conn.fetch(sql, tenant_id)]


async def test_counts_and_progress(seeded: dict) -> None:
    for counts in seeded["counts"]:
        assert (counts.contacts, counts.messages, counts.conversations, counts.mentions) == (
            SMALL.contacts,
            SMALL.messages,
            SMALL.conversations,
            SMALL.mentions,
        )
        assert counts.seconds > 0
    lines = seeded["lines"]
    assert f"contacts: {SMALL.contacts:,}/{SMALL.contacts:,} (" in lines[0] and lines[0].endswith(" rows/s)")
    assert any(line.startswith(f"messages: {SMALL.messages:,}/{SMALL.messages:,} (") for line in lines)
    assert lines[-1].startswith("seeded small") and "rows/s" in lines[-1]


async def test_same_seed_same_rows(conn: asyncpg.Connection, seeded: dict) -> None:
    a, b = seeded["a"], seeded["b"]
    for sql in (CONTACT_ROWS, MESSAGE_ROWS, MESSAGE_AGGREGATES, CONVERSATION_ROWS, MENTION_ROWS, KEY_ROWS):
        rows_a = await _rows(conn, sql, a)
        rows_b = await _rows(conn, sql, b)
        assert rows_a, sql
        assert rows_a == rows_b, sql


async def test_other_seed_other_rows(conn: asyncpg.Connection, seeded: dict) -> None:
    a, c = seeded["a"], seeded["c"]
    contacts_a = await _rows(conn, CONTACT_ROWS, a)
    contacts_c = await _rows(conn, CONTACT_ROWS, c)
    assert len(contacts_a) == len(contacts_c)
    # Not a shuffle or a shift of the same rows: most rows differ, and so do the multisets.
    same = sum(x == y for x, y in zip(contacts_a, contacts_c, strict=True))
    assert same == 0
    assert sorted(r[0] for r in contacts_a) != sorted(r[0] for r in contacts_c)
    assert await _rows(conn, MESSAGE_AGGREGATES, a) != await _rows(conn, MESSAGE_AGGREGATES, c)
    assert await _rows(conn, MENTION_ROWS, a) != await _rows(conn, MENTION_ROWS, c)


async def test_contact_shape(conn: asyncpg.Connection, seeded: dict) -> None:
    t = seeded["a"]
    s = await conn.fetchrow(
        """
        SELECT count(*) AS n,
               avg((birthday_month IS NOT NULL)::int) AS birthdays,
               count(*) FILTER (WHERE birthday_month = 2 AND birthday_day = 29) AS feb29,
               avg((birthday_year IS NOT NULL)::int) FILTER (WHERE birthday_month IS NOT NULL) AS with_year,
               bool_and(birthday_year IS NULL OR birthday_year BETWEEN 1950 AND 2005) AS years_ok,
               bool_and(birthday_year IS NULL OR birthday_month <> 2 OR birthday_day <> 29
                        OR (birthday_year % 4 = 0)) AS feb29_leap,
               bool_and(make_date(2000, birthday_month, birthday_day) IS NOT NULL)
                   FILTER (WHERE birthday_month IS NOT NULL) AS dates_ok,
               avg((cadence_days IS NOT NULL)::int) AS cadence,
               bool_and(cadence_days IN (7, 14, 30, 60, 90, 180, 365)) AS cadence_ok,
               avg((company IS NULL)::int) AS no_company,
               count(DISTINCT company) AS companies,
               avg((cardinality(phones) > 0)::int) AS phones,
               bool_and(cardinality(tags) BETWEEN 0 AND 4) AS tags_ok,
               count(*) FILTER (WHERE cardinality(tags) = 0) AS no_tags,
               count(*) FILTER (WHERE cardinality(tags) >= 3) AS many_tags,
               bool_and(cardinality(emails) = 1) AS one_email,
               count(DISTINCT emails[1]) AS distinct_emails,
               bool_and(score = 0 AND last_interaction_at IS NULL) AS unscored,
               min(created_at) AS first_created, max(created_at) AS last_created,
               count(*) FILTER (WHERE full_name ~ '[^[:ascii:]]') AS unicode_names
        FROM contacts WHERE tenant_id = $1
        """,
        t,
    )
    assert s["n"] == SMALL.contacts
    assert 0.65 <= s["birthdays"] <= 0.75
    assert s["feb29"] >= 1  # a proportional 1/366 of birthdays: ~2 of 700 (seed 7 has some)
    assert 0.4 <= s["with_year"] <= 0.6
    assert s["years_ok"] and s["feb29_leap"] and s["dates_ok"]
    assert 0.35 <= s["cadence"] <= 0.45 and s["cadence_ok"]
    assert 0.10 <= s["no_company"] <= 0.20
    assert s["companies"] >= 100
    assert 0.55 <= s["phones"] <= 0.65
    assert s["tags_ok"] and s["no_tags"] > 100 and s["many_tags"] > 100
    assert s["one_email"] and s["distinct_emails"] == SMALL.contacts
    assert s["unscored"]
    assert ANCHOR - dt.timedelta(days=5 * 366) <= s["first_created"] < s["last_created"] <= ANCHOR
    assert s["last_created"] - s["first_created"] > dt.timedelta(days=4 * 365)
    assert s["unicode_names"] > 50

    # Tags are distinct within a contact.
    dupes = await conn.fetchval(
        "SELECT count(*) FROM contacts WHERE tenant_id = $1 AND cardinality(tags) <> "
        "(SELECT count(DISTINCT t) FROM unnest(tags) t)",
        t,
    )
    assert dupes == 0

    # Companies are skewed: the biggest one has many contacts, most have a few.
    sizes = [
        r["n"]
        for r in await conn.fetch(
            "SELECT count(*) AS n FROM contacts WHERE tenant_id = $1 AND company IS NOT NULL GROUP BY company ORDER BY 1 DESC",
            t,
        )
    ]
    assert sizes[0] >= 40 and sizes[0] >= 10 * sizes[len(sizes) // 2]

    # One email key per contact, lower-cased, unique per tenant (the unique index holds).
    keys = await conn.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT k.contact_id) AS contacts, "
        "bool_and(k.kind = 'email' AND k.value = lower(c.emails[1])) AS ok "
        "FROM contact_keys k JOIN contacts c ON c.id = k.contact_id AND c.tenant_id = k.tenant_id "
        "WHERE k.tenant_id = $1",
        t,
    )
    assert keys["n"] == keys["contacts"] == SMALL.contacts and keys["ok"]


async def test_message_shape(conn: asyncpg.Connection, seeded: dict) -> None:
    t = seeded["a"]
    per_contact = [
        r["n"]
        for r in await conn.fetch(
            "SELECT count(m.id) AS n FROM contacts c LEFT JOIN messages m ON m.contact_id = c.id "
            "WHERE c.tenant_id = $1 GROUP BY c.id ORDER BY 1 DESC",
            t,
        )
    ]
    assert len(per_contact) == SMALL.contacts and sum(per_contact) == SMALL.messages
    top_1pct = sum(per_contact[: SMALL.contacts // 100])
    assert top_1pct >= 0.15 * SMALL.messages  # a few contacts hold a large share
    assert per_contact[0] >= 200
    silent = sum(1 for n in per_contact if n == 0)
    assert 0.3 * SMALL.contacts <= silent <= 0.5 * SMALL.contacts  # many have none

    s = await conn.fetchrow(
        """
        SELECT count(*) AS n,
               avg((direction = 'in')::int) AS inbound,
               min(sent_at) AS first, max(sent_at) AS last,
               avg((sent_at > $2::timestamptz - interval '30 days')::int) AS last_30d,
               avg((sent_at > $2::timestamptz - interval '1 year')::int) AS last_year,
               bool_and(source = 'synthetic' AND external_id ~ '^msg-[0-9]+$') AS ids_ok,
               count(DISTINCT external_id) AS distinct_ids,
               bool_and(body <> '' AND subject <> '') AS text_ok,
               count(DISTINCT conversation_id) AS conversations
        FROM messages WHERE tenant_id = $1
        """,
        t,
        ANCHOR,
    )
    assert s["n"] == s["distinct_ids"] == SMALL.messages and s["ids_ok"] and s["text_ok"]
    assert 0.50 <= s["inbound"] <= 0.60
    assert ANCHOR - dt.timedelta(days=3 * 366) <= s["first"] and s["last"] <= ANCHOR
    # Skewed toward recent: ~17% in the last 30 days (uniform would be ~3%), ~58% in the last year.
    assert 0.10 <= s["last_30d"] <= 0.25 and 0.5 <= s["last_year"] <= 0.66
    assert s["conversations"] > 0.9 * SMALL.conversations

    # Every message sits in a conversation of the tenant's user, on that conversation's channel.
    bad = await conn.fetchval(
        "SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id "
        "JOIN users u ON u.id = c.user_id "
        "WHERE m.tenant_id = $1 AND (c.tenant_id <> m.tenant_id OR u.tenant_id <> m.tenant_id "
        "OR c.channel <> m.channel OR c.source <> 'synthetic')",
        t,
    )
    assert bad == 0
    conv = await conn.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT channel) AS channels, "
        "bool_and(external_id ~ '^conv-[0-9]+$') AS ids_ok FROM conversations WHERE tenant_id = $1",
        t,
    )
    assert conv["n"] == SMALL.conversations and conv["channels"] == 4 and conv["ids_ok"]


async def test_mention_shape(conn: asyncpg.Connection, seeded: dict) -> None:
    t = seeded["a"]
    s = await conn.fetchrow(
        """
        SELECT count(*) AS n,
               bool_and(cardinality(companies) BETWEEN 1 AND 2) AS companies_ok,
               count(*) FILTER (WHERE cardinality(companies) = 2) AS pairs,
               bool_and(position(companies[1] IN title) > 0
                        AND (cardinality(companies) = 1 OR position(companies[2] IN title) > 0)) AS named,
               bool_and(source = 'synthetic' AND dedupe_key ~ '^synthetic-[0-9]+$') AS keys_ok,
               min(published_at) AS first, max(published_at) AS last
        FROM mentions WHERE tenant_id = $1
        """,
        t,
    )
    assert s["n"] == SMALL.mentions and s["companies_ok"] and s["named"] and s["keys_ok"]
    assert 0.2 * SMALL.mentions <= s["pairs"] <= 0.5 * SMALL.mentions
    assert ANCHOR - dt.timedelta(days=60) <= s["first"] and s["last"] <= ANCHOR
    # One vocabulary, skewed alike: most mentions name a company some contact of the tenant works at.
    known = await conn.fetchval(
        "SELECT avg((companies[1] IN (SELECT company FROM contacts WHERE tenant_id = $1 AND company IS NOT NULL))::int) "
        "FROM mentions WHERE tenant_id = $1",
        t,
    )
    assert known >= 0.6
    # The biggest company (as a contact employer) is among the most mentioned.
    top = await conn.fetchval(
        "SELECT company FROM contacts WHERE tenant_id = $1 AND company IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
        t,
    )
    assert (
        await conn.fetchval("SELECT count(*) FROM mentions WHERE tenant_id = $1 AND companies @> ARRAY[$2]", t, top)
        >= 10
    )


async def test_failure_leaves_nothing(conn: asyncpg.Connection, seed_db: str) -> None:
    """A seed that fails half-way (here: a message external id already taken) writes nothing."""
    tenant_id, user_id = await _tenant(conn, f"f-{uuid.uuid4().hex[:6]}")
    conv = await conn.fetchval(
        "INSERT INTO conversations (tenant_id, user_id, source, external_id) VALUES ($1, $2, 'api', 'x') RETURNING id",
        tenant_id,
        user_id,
    )
    await conn.execute(
        "INSERT INTO messages (tenant_id, conversation_id, direction, sent_at, source, external_id) "
        "VALUES ($1, $2, 'in', now(), 'synthetic', 'msg-12345')",
        tenant_id,
        conv,
    )
    lines: list[str] = []
    with pytest.raises(asyncpg.UniqueViolationError):
        await seed_tenant(conn, tenant_id=tenant_id, user_id=user_id, size="small", seed=7, progress=lines.append)
    assert any(line.startswith("contacts:") for line in lines)  # it got that far
    left = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM contacts WHERE tenant_id = $1) AS contacts, "
        "(SELECT count(*) FROM contact_keys WHERE tenant_id = $1) AS keys, "
        "(SELECT count(*) FROM conversations WHERE tenant_id = $1) AS conversations, "
        "(SELECT count(*) FROM messages WHERE tenant_id = $1) AS messages, "
        "(SELECT count(*) FROM mentions WHERE tenant_id = $1) AS mentions",
        tenant_id,
    )
    assert dict(left) == {"contacts": 0, "keys": 0, "conversations": 1, "messages": 1, "mentions": 0}
    # The connection is usable afterwards (no temp tables or settings left behind).
    assert await conn.fetchval("SELECT to_regclass('pg_temp.seed_contact_map')") is None
    assert await conn.fetchval("SHOW session_replication_role") == "origin"


async def test_inside_callers_transaction(conn: asyncpg.Connection) -> None:
    """Inside a caller's transaction the seed is a savepoint and leaves its settings as it found them."""
    tenant_id, user_id = await _tenant(conn, f"h-{uuid.uuid4().hex[:6]}")
    synchronous_commit = await conn.fetchval("SHOW synchronous_commit")
    tr = conn.transaction()
    await tr.start()
    try:
        await conn.execute("SET LOCAL work_mem = '8MB'")
        counts = await seed_tenant(
            conn, tenant_id=tenant_id, user_id=user_id, size="small", seed=7, anchor=ANCHOR, progress=lambda _: None
        )
        assert counts.messages == SMALL.messages
        assert await conn.fetchval("SELECT count(*) FROM messages WHERE tenant_id = $1", tenant_id) == SMALL.messages
        assert await conn.fetchval("SHOW work_mem") == "8MB"
        assert await conn.fetchval("SHOW session_replication_role") == "origin"
        assert await conn.fetchval("SHOW synchronous_commit") == synchronous_commit
        assert await conn.fetchval("SELECT to_regclass('pg_temp.seed_contact_map')") is None
    finally:
        await tr.rollback()
    assert await conn.fetchval("SELECT count(*) FROM contacts WHERE tenant_id = $1", tenant_id) == 0


async def test_refuses_bad_arguments(conn: asyncpg.Connection, seeded: dict) -> None:
    other_tenant, other_user = await _tenant(conn, f"g-{uuid.uuid4().hex[:6]}")
    with pytest.raises(ValueError, match="size"):
        await seed_tenant(conn, tenant_id=other_tenant, user_id=other_user, size="huge")
    with pytest.raises(ValueError, match="user"):
        await seed_tenant(conn, tenant_id=seeded["a"], user_id=other_user, size="small", progress=lambda _: None)
    a_user = await conn.fetchval("SELECT id FROM users WHERE tenant_id = $1", seeded["a"])
    with pytest.raises(ValueError, match="already"):
        await seed_tenant(conn, tenant_id=seeded["a"], user_id=a_user, size="small", progress=lambda _: None)


def test_sql_is_set_based_and_hash_driven() -> None:
    sql = "\n".join(
        [q.INSERT_CONTACTS, q.INSERT_CONVERSATIONS, q.INSERT_MESSAGES, q.INSERT_MENTIONS, q.BUILD_CONTACT_MAP]
    )
    assert "random()" not in sql.lower()
    assert "hashint8extended" in sql
    for statement in (q.INSERT_CONTACTS, q.INSERT_CONVERSATIONS, q.INSERT_MESSAGES, q.INSERT_MENTIONS):
        assert "generate_series" in statement
