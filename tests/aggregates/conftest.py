"""Shared data for the aggregate tests: ties, NULL companies, unicode names, tags on no live contact,
conversations awaiting a reply or not, mentions across the tenant's day boundaries, a neighbour tenant."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import asyncpg
import pytest

from kith.db.urls import asyncpg_dsn
from kith.readmodels.coalesced_refresh import refresh_all

NOW = dt.datetime.now(dt.UTC)
# Far from UTC, so a tenant-local day is not the UTC day.
TIME_ZONE = "America/Los_Angeles"

# "acme" and "Acme" are two companies that fold to the same name key; "Tie A" and "Tie B" (below)
# get the same number of contacts.
COMPANIES = ["Acme", "acme", "Zürich Re", "Ñandú", "株式会社テスト", "Globex", None, None]
TIES = ["Tie A", "Tie B"]
TAGS = ["family", "work", "Work", "école", "climbing"]


@dataclass
class Seeded:
    tenant: object
    neighbour: object
    contact_ids: list[int]


async def insert_tenant_data(conn: asyncpg.Connection, tenant_id: int, user_id: int, rng: random.Random) -> list[int]:
    ids = []
    for i in range(80):
        company = "Tie A" if i % 20 == 0 else "Tie B" if i % 20 == 1 else rng.choice(COMPANIES)
        month, day = rng.choice([(2, 28), (2, 29), (3, 1), (12, 31), (1, 1), (6, 15), (None, None)])
        today = NOW.date()
        if i % 9 == 0:  # birthdays near today, so the dashboard's window holds some
            soon = today + dt.timedelta(days=i % 10)
            month, day = soon.month, soon.day
        ids.append(
            await conn.fetchval(
                """INSERT INTO contacts (tenant_id, full_name, company, tags, score, cadence_days,
                                         birthday_month, birthday_day, deleted_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id""",
                tenant_id,
                f"Person {i}",
                company,
                rng.sample(TAGS, rng.randint(0, 3)),
                float(rng.choice([0, 10, 25.5, 25.5, 80])),
                rng.choice([None, 1, 7, 30, 90]),
                month,
                day,
                NOW if i % 17 == 5 else None,  # a few deleted contacts: counted nowhere
            )
        )
    # A tag and a company only a deleted contact carries: in no row.
    await conn.execute(
        "INSERT INTO contacts (tenant_id, full_name, company, tags, deleted_at) VALUES ($1, 'Gone', 'Ghost Co', "
        "ARRAY['ghost'], now())",
        tenant_id,
    )
    conversations = []
    for c in range(6):
        conversations.append(
            await conn.fetchval(
                "INSERT INTO conversations (tenant_id, user_id, external_id) VALUES ($1, $2, $3) RETURNING id",
                tenant_id,
                user_id,
                f"conv-{c}",
            )
        )
    n = 0
    for contact_id in ids:
        for _ in range(rng.randint(0, 4)):
            n += 1
            await conn.execute(
                """INSERT INTO messages (tenant_id, conversation_id, contact_id, direction, sent_at, external_id)
                   VALUES ($1, $2, $3, $4, $5, $6)""",
                tenant_id,
                rng.choice(conversations[:5]),  # the last conversation has no message
                contact_id,
                rng.choice(["in", "out"]),
                NOW - dt.timedelta(days=rng.choice([0.2, 3, 6.5, 8, 20, 29, 45, 200])),
                f"m{n}",
            )
    named = [c for c in COMPANIES if c] + [*TIES, "Nobody Works Here"]
    for m in range(120):
        companies = rng.sample(named, rng.choice([0, 1, 1, 2]))
        published = NOW - dt.timedelta(hours=rng.randint(0, 24 * 50))
        await conn.execute(
            """INSERT INTO mentions (tenant_id, source, dedupe_key, title, published_at, companies)
               VALUES ($1, 'test', $2, $3, $4, $5)""",
            tenant_id,
            f"k{m}",
            f"Story {m}",
            published if m % 15 else None,  # undated: dated by its import
            companies,
        )
    for status, age in (("succeeded", 3), ("failed", 1)):
        await conn.execute(
            "INSERT INTO sync_runs (tenant_id, source, status, rows_seen, created_at) VALUES ($1, 'vcard', $2, 7, $3)",
            tenant_id,
            status,
            NOW - dt.timedelta(hours=age),
        )
    return ids


@pytest.fixture
async def seeded(db, make_tenant) -> Seeded:
    tenant = await make_tenant("aggregates", time_zone=TIME_ZONE)
    neighbour = await make_tenant("aggregates-neighbour")
    conn = await asyncpg.connect(asyncpg_dsn(db))
    try:
        ids = await insert_tenant_data(conn, tenant.id, tenant.user_id, random.Random(12))
        await insert_tenant_data(conn, neighbour.id, neighbour.user_id, random.Random(13))
    finally:
        await conn.close()
    await refresh_all(db)  # every read model
    return Seeded(tenant, neighbour, ids)
