"""One person, one contact: duplicate candidates of a large tenant (seconds, statements), a merge of two
contacts with many messages each (dry run, merge, undo), and the re-import of an unchanged vCard
(cards/s, rows written).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python loadtests/bench_people.py \
        [--large-db kith_bench_people --tenant large] [--cards 50000] [--messages 10000]

The merge and the vCard run in a scratch database created on DATABASE_URL's server and dropped at the
end. The candidates run on --large-db (a copy of the seeded database, migrated to this branch), if given:
the finder writes duplicate_groups there, so never point it at a database others read.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import os
import sys
import time
import uuid

import asyncpg
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from figures import record
from kith.auth.principal import Principal
from kith.db.migrations import upgrade_async
from kith.db.urls import asyncpg_dsn, sqlalchemy_url, with_database
from kith.people import merges
from kith.people.schemas import MergeRequest
from kith.people.service import find_duplicates
from kith.sync.batch_writer import RunTarget, Totals, run_session, write_batches
from kith.sync.sources import DEFAULT_BATCH_SIZE, read_vcards


def line(label: str, value: str) -> None:
    print(f"  {label:<60} {value}", flush=True)


class Statements:
    def __init__(self, engine) -> None:
        self.count = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self)

    def __call__(self, *args) -> None:
        self.count += 1


async def bench_candidates(server: str, database: str, tenant: str) -> None:
    url = with_database(server, database)
    engine = create_async_engine(sqlalchemy_url(url))
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        tenant_id = await conn.fetchval("SELECT id FROM tenants WHERE name = $1", tenant)
        contacts = await conn.fetchval(
            "SELECT count(*) FROM contacts WHERE tenant_id = $1 AND deleted_at IS NULL", tenant_id
        )
        print(f"Duplicate candidates of tenant {tenant!r} ({contacts:,} contacts) in {database}", flush=True)
        for label in ("first run (groups stored)", "second run (nothing changed)"):
            statements = Statements(engine)
            start = time.perf_counter()
            async with engine.begin() as sa_conn:
                counts = await find_duplicates(sa_conn, tenant_id)
            seconds = time.perf_counter() - start
            record(
                f"people.candidates.{'first' if 'first' in label else 'again'}",
                seconds=seconds,
                statements=statements.count,
                groups=counts["groups"],
            )
            line(
                f"{label}: {counts['groups']:,} groups, {counts['stored']:,} stored, {counts['gone']:,} gone",
                f"{seconds:>8.2f} s, {statements.count} statement(s)",
            )
    finally:
        await conn.close()
        await engine.dispose()


async def bench_merge(url: str, per_contact: int) -> None:
    print(f"Merge of two contacts with {per_contact:,} messages each", flush=True)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    engine = create_async_engine(sqlalchemy_url(url))
    try:
        tenant_id = await conn.fetchval("INSERT INTO tenants (name) VALUES ('merge') RETURNING id")
        user_id = await conn.fetchval(
            "INSERT INTO users (tenant_id, email) VALUES ($1, 'me@merge.example') RETURNING id", tenant_id
        )
        ids = [
            await conn.fetchval(
                "INSERT INTO contacts (tenant_id, full_name, emails) VALUES ($1, $2, ARRAY[$3]) RETURNING id",
                tenant_id,
                name,
                f"{n}@merge.example",
            )
            for n, name in enumerate(("Ada", "Ada Lovelace"))
        ]
        conversation = await conn.fetchval(
            "INSERT INTO conversations (tenant_id, user_id, external_id) VALUES ($1, $2, 't') RETURNING id",
            tenant_id,
            user_id,
        )
        now = dt.datetime.now(dt.UTC)
        await conn.copy_records_to_table(
            "messages",
            columns=["tenant_id", "conversation_id", "contact_id", "direction", "sent_at", "external_id"],
            records=[
                (tenant_id, conversation, contact, "in", now - dt.timedelta(minutes=i), f"{contact}-{i}")
                for contact in ids
                for i in range(per_contact)
            ],
        )
        await conn.execute("ANALYZE")
        principal = Principal(tenant_id, user_id, "UTC")
        for label, dry_run in (("dry run", True), ("merge (one transaction)", False)):
            statements = Statements(engine)
            start = time.perf_counter()
            async with AsyncSession(engine) as session, session.begin():
                result = await merges.merge(session, principal, MergeRequest(ids[0], [ids[1]], dry_run))
            seconds = time.perf_counter() - start
            record(f"people.{'dry_run' if dry_run else 'merge'}", seconds=seconds, statements=statements.count)
            line(
                f"{label}: {result.messages_moved:,} messages",
                f"{seconds * 1000:>8.0f} ms, {statements.count} statements",
            )
        statements = Statements(engine)
        start = time.perf_counter()
        async with AsyncSession(engine) as session, session.begin():
            undone = await merges.undo(session, principal, uuid.UUID(result.merge_id))
        seconds = time.perf_counter() - start
        record("people.undo", seconds=seconds, statements=statements.count)
        line(
            f"undo: contacts {undone.restored_ids} restored",
            f"{seconds * 1000:>8.0f} ms, {statements.count} statements",
        )
    finally:
        await engine.dispose()
        await conn.close()


def vcards(count: int) -> bytes:
    return "".join(
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Person {n}\r\nEMAIL:person{n}@cards.example\r\nTEL:+1 202 555 {n % 10000:04d}\r\n"
        f"ORG:Company {n % 500}\r\nTITLE:Engineer\r\nCATEGORIES:friends\r\nUID:card-{n}\r\nEND:VCARD\r\n"
        for n in range(count)
    ).encode()


async def written_rows(conn: asyncpg.Connection, tenant_id: int) -> dict[tuple[str, int], str]:
    """Every contact and key row of the tenant with its xmin: any write changes the set."""
    return {
        (table, r["id"]): r["xmin"]
        for table in ("contacts", "contact_keys")
        for r in await conn.fetch(f"SELECT id, xmin::text FROM {table} WHERE tenant_id = $1", tenant_id)
    }


async def bench_reimport(url: str, count: int, batch_size: int) -> None:
    print(f"Re-import of an unchanged vCard of {count:,} cards, batches of {batch_size:,}", flush=True)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    engine = create_async_engine(sqlalchemy_url(url))
    data = vcards(count)
    try:
        tenant_id = await conn.fetchval("INSERT INTO tenants (name) VALUES ('cards') RETURNING id")
        user_id = await conn.fetchval(
            "INSERT INTO users (tenant_id, email) VALUES ($1, 'me@cards.example') RETURNING id", tenant_id
        )
        before: dict = {}
        for label in ("first import (every card new)", "re-import, unchanged"):
            run_id = await conn.fetchval(
                "INSERT INTO sync_runs (tenant_id, user_id, source) VALUES ($1, $2, 'vcard') RETURNING id",
                tenant_id,
                user_id,
            )
            target = RunTarget(tenant_id, run_id, "vcard", "vcard_uid")
            async with engine.connect() as sa_conn:
                sa_conn = await sa_conn.execution_options(isolation_level="AUTOCOMMIT")
                async with run_session(sa_conn, tenant_id):
                    start = time.perf_counter()
                    totals = await write_batches(
                        sa_conn, target, read_vcards(io.BytesIO(data), batch_size=batch_size), Totals()
                    )
                    seconds = time.perf_counter() - start
            after = await written_rows(conn, tenant_id)
            written = sum(1 for key, xmin in after.items() if before.get(key) != xmin)
            record(f"people.cards.{'new' if before == {} else 'unchanged'}", rate=count / seconds, written=written)
            line(
                f"{label}: {totals.inserted:,} inserted, {totals.updated:,} updated, rows written {written:,}",
                f"{count / seconds:>10,.0f} cards/s",
            )
            before = after
            await conn.execute("ANALYZE contacts, contact_keys")
    finally:
        await engine.dispose()
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large-db", help="a migrated copy of the seeded database (the candidates run there)")
    parser.add_argument("--tenant", default="large")
    parser.add_argument("--messages", type=int, default=10_000, help="messages of each merged contact")
    parser.add_argument("--cards", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    args = parser.parse_args()

    server = os.environ.get("DATABASE_URL") or sys.exit("set DATABASE_URL (its server hosts a scratch database)")
    if args.large_db:
        await bench_candidates(server, args.large_db, args.tenant)
    name = f"kith_bench_people_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(with_database(server, "postgres")))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server, name)
    try:
        await upgrade_async(url)
        await bench_merge(url, args.messages)
        await bench_reimport(url, args.cards, args.batch_size)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
