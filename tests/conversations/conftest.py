"""Shared data for the conversation tests: ties in sent_at, both directions, NULL contacts, long unicode bodies,
an empty conversation, imported threads without a contact of their own, and a noisy neighbour tenant."""

from __future__ import annotations

import datetime as dt
import random

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from kith.db.urls import asyncpg_dsn, sqlalchemy_url
from kith.readmodels.coalesced_refresh import request_refresh
from kith.readmodels.models import READ_MODELS

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
CHANNELS = ["email", "sms", "chat", "linkedin"]
BODIES = [
    "Short one.",
    "Ünïcödé — " + "ž" * 150,
    "x" * 99,
    "y" * 100,
    "z" * 101,
    "Line one\nline two " + "🙂" * 120,
    None,
]


async def connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(asyncpg_dsn(url))


async def refresh(url: str) -> None:
    engine = create_async_engine(sqlalchemy_url(url))
    try:
        for model in READ_MODELS:
            for target in model.slices():
                await request_refresh(engine, target)
    finally:
        await engine.dispose()


async def insert_thread_data(
    conn: asyncpg.Connection, tenant_id: int, user_id: int, rng: random.Random, conversations: int = 30
) -> dict:
    """Contacts, conversations and messages with deliberately colliding times."""
    contacts = [
        await conn.fetchval(
            "INSERT INTO contacts (tenant_id, full_name, score) VALUES ($1, $2, $3) RETURNING id",
            tenant_id,
            f"Person {i}",
            float(rng.choice([0, 10, 40])),
        )
        for i in range(12)
    ]
    times = [NOW - dt.timedelta(days=d) for d in (0.25, 1, 1, 2, 9, 40, 40, 300)]
    ids = []
    for i in range(conversations):
        # Some were started with a contact (API), the others are imported threads (contact from the first message).
        own_contact = rng.choice(contacts) if i % 3 == 0 else None
        conversation = await conn.fetchval(
            """INSERT INTO conversations (tenant_id, user_id, contact_id, source, external_id, channel, subject,
                                          created_at)
               VALUES ($1, $2, $3, 'test', $4, $5, $6, $7) RETURNING id""",
            tenant_id,
            user_id,
            own_contact,
            f"conv-{i}",
            rng.choice(CHANNELS),
            rng.choice([None, "Hello", "Plans"]),
            rng.choice([NOW - dt.timedelta(days=400), NOW - dt.timedelta(days=1), NOW - dt.timedelta(hours=3)]),
        )
        ids.append(conversation)
        if i % 10 == 9:  # no message at all: listed by its creation time
            continue
        for n in range(rng.randint(1, 9)):
            await conn.execute(
                """INSERT INTO messages (tenant_id, conversation_id, contact_id, channel, direction, sent_at, body,
                                         source, external_id)
                   VALUES ($1, $2, $3, 'email', $4, $5, $6, 'test', $7)""",
                tenant_id,
                conversation,
                None if rng.random() < 0.1 else (own_contact or rng.choice(contacts)),
                rng.choice(["in", "out"]),
                rng.choice(times),
                rng.choice(BODIES),
                f"m-{i}-{n}",
            )
    return {"contacts": contacts, "conversations": ids}


@pytest.fixture
async def populated(db, make_tenant):
    """A tenant with 30 conversations of messages, refreshed into the views; plus a neighbour with its own."""
    tenant = await make_tenant("talker")
    neighbour = await make_tenant("neighbour")
    rng = random.Random(11)
    conn = await connect(db)
    try:
        tenant.data = await insert_thread_data(conn, tenant.id, tenant.user_id, rng)
        neighbour.data = await insert_thread_data(conn, neighbour.id, neighbour.user_id, rng, conversations=8)
    finally:
        await conn.close()
    await refresh(db)
    tenant.neighbour = neighbour
    return tenant
