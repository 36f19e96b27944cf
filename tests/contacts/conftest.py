"""Shared data for the contact listing tests: NULLs, ties, unicode, tags, companies, messages."""

from __future__ import annotations

import datetime as dt
import random

import asyncpg
import pytest
from tests.conftest import connect

from kith.readmodels.coalesced_refresh import refresh_all

NOW = dt.datetime.now(dt.UTC)

FIRST = ["Ada", "ada", "Bob", "Émile", "Zoë", "李", "Olu", "Ann", "ann", "Björk"]
LAST = ["Lovelace", "Núñez", "Smith", "Ødegaard", "O'Brien", "Smith"]
TAGS = ["family", "work", "climbing", "école"]
COMPANIES = ["Acme", "Globex", "Initech", None]


async def insert_contacts(conn: asyncpg.Connection, tenant_id: int, count: int, rng: random.Random) -> list[int]:
    """Contacts with deliberately colliding sort keys (scores, names, created_at) and NULLs."""
    created_choices = [NOW - dt.timedelta(days=d) for d in (1, 2, 2, 3, 400)]
    rows = []
    for i in range(count):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        has_birthday = rng.random() < 0.7
        month, day = rng.choice([(2, 28), (2, 29), (3, 1), (12, 31), (1, 1), (6, 15)]) if has_birthday else (None, None)
        rows.append(
            (
                tenant_id,
                name,
                [f"{name.split()[0].lower()}.{i}@example.org"] if rng.random() < 0.8 else [],
                rng.choice(COMPANIES),
                rng.sample(TAGS, rng.randint(0, 2)),
                month,
                day,
                rng.choice([None, 7, 30, 90]),
                float(rng.choice([0, 0, 10, 25.5, 25.5, 80])),
                rng.choice(created_choices),
            )
        )
    ids = []
    for row in rows:
        ids.append(
            await conn.fetchval(
                """INSERT INTO contacts (tenant_id, full_name, emails, company, tags, birthday_month, birthday_day,
                                     cadence_days, score, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id""",
                *row,
            )
        )
    await conn.execute(
        """INSERT INTO contact_keys (tenant_id, contact_id, kind, value)
           SELECT tenant_id, id, 'email', lower(e) FROM contacts, unnest(emails) e WHERE tenant_id = $1""",
        tenant_id,
    )
    return ids


async def insert_messages(
    conn: asyncpg.Connection, tenant_id: int, user_id: int, contact_ids: list[int], rng: random.Random
) -> None:
    conversation = await conn.fetchval(
        "INSERT INTO conversations (tenant_id, user_id, external_id) VALUES ($1, $2, 'c1') RETURNING id",
        tenant_id,
        user_id,
    )
    sent_choices = [NOW - dt.timedelta(days=d) for d in (0.5, 5, 5, 40, 200)]
    n = 0
    for contact_id in contact_ids:
        if rng.random() < 0.4:  # never contacted
            continue
        for _ in range(rng.randint(1, 3)):
            n += 1
            await conn.execute(
                """INSERT INTO messages (tenant_id, conversation_id, contact_id, direction, sent_at, external_id)
                   VALUES ($1, $2, $3, $4, $5, $6)""",
                tenant_id,
                conversation,
                contact_id,
                rng.choice(["in", "out"]),
                rng.choice(sent_choices),
                f"m{n}",
            )


@pytest.fixture
async def populated(db, make_tenant):
    """A tenant with 60 contacts and messages, refreshed into the view; plus a noisy neighbour tenant."""
    tenant = await make_tenant("listing")
    neighbour = await make_tenant("neighbour")
    rng = random.Random(4)
    conn = await connect(db)
    try:
        ids = await insert_contacts(conn, tenant.id, 60, rng)
        await insert_messages(conn, tenant.id, tenant.user_id, ids, rng)
        await insert_contacts(conn, neighbour.id, 20, rng)
    finally:
        await conn.close()
    await refresh_all(db)
    return tenant
