"""Refreshing the read models: plain vs CONCURRENTLY, and what readers see meanwhile.

For each view: the duration of `REFRESH MATERIALIZED VIEW` and of
`REFRESH MATERIALIZED VIEW CONCURRENTLY`, after the same churn (a fraction of
the tenant's contacts rescored, as a batch job would, before every run).
Then the latency of the contacts listing (the exact statement
`GET /api/v1/contacts` runs, kith.contacts.listings; page 1 and deep pages)
from several reader connections: idle, while a concurrent refresh of
contact_cards runs, and while a plain one runs (which locks readers out).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/kith_bench \\
        uv run python loadtests/bench_refresh.py --tenant large [--runs 3] [--readers 2] [--churn 0.01]

The tenant must exist (`kith seed --tenant large --size large`). It writes
(the churn, the refreshes): use a scratch database.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

import asyncpg
from sqlalchemy.dialects import postgresql

from figures import record
from kith.contacts.listings import CONTACTS
from kith.db.engine import database_url
from kith.db.urls import asyncpg_dsn
from kith.pagination.listing import ListingRequest, Position
from kith.readmodels.views import VIEWS

PAGE = 50
DIALECT = postgresql.asyncpg.dialect(paramstyle="numeric_dollar")


def compile_listing(tenant_id: int, key: tuple | None) -> tuple[str, list]:
    start = Position("next", key) if key is not None else None
    query = CONTACTS.prepare(ListingRequest(tenant_id, PAGE, sort="score", start=start))
    compiled = query.statement.bindparams(**query.params).compile(dialect=DIALECT)
    params = compiled.construct_params()
    return compiled.string, [params[name] for name in compiled.positiontup]


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def churn(conn: asyncpg.Connection, tenant_id: int, fraction: float, run: int) -> int:
    """Rescore a slice of the tenant's contacts (no changed_at: batch results wait for the refresh)."""
    if fraction <= 0:
        return 0
    modulus = max(1, round(1 / fraction))
    status = await conn.execute(
        "UPDATE contacts SET score = round((random() * 100)::numeric, 2) WHERE tenant_id = $1 AND id % $2 = $3",
        tenant_id,
        modulus,
        run % modulus,
    )
    return int(status.split()[-1])


async def refresh_durations(conn, view: str, tenant_id: int, runs: int, fraction: float) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"plain": [], "concurrently": []}
    for run in range(runs):
        for mode in ("plain", "concurrently"):  # concurrently last: its dead rows are what VACUUM meets
            await churn(conn, tenant_id, fraction, run * 2 + (mode == "plain"))
            start = time.perf_counter()
            await conn.execute(f"REFRESH MATERIALIZED VIEW {'CONCURRENTLY ' if mode == 'concurrently' else ''}{view}")
            out[mode].append(time.perf_counter() - start)
    return out


async def reader(dsn: str, statements: list[tuple[str, list]], stop: asyncio.Event, samples: list[tuple[float, float]]):
    conn = await asyncpg.connect(dsn)
    try:
        prepared = [(await conn.prepare(sql), args) for sql, args in statements]
        for statement, args in prepared:  # warm: plans cached, pages in memory
            await statement.fetch(*args)
        rng = random.Random(len(samples))
        while not stop.is_set():
            statement, args = rng.choice(prepared)
            start = time.perf_counter()
            await statement.fetch(*args)
            samples.append((start, (time.perf_counter() - start) * 1000))
    finally:
        await conn.close()


async def read_latency(dsn: str, statements, readers: int, during) -> tuple[list[float], float]:
    """Readers loop until `during()` returns; latencies (ms) of the reads that started inside the window."""
    stop = asyncio.Event()
    samples: list[tuple[float, float]] = []
    tasks = [asyncio.create_task(reader(dsn, statements, stop, samples)) for _ in range(readers)]
    await asyncio.sleep(0.5)  # readers connected and warm
    window_start = time.perf_counter()
    await during()
    window_end = time.perf_counter()
    stop.set()
    await asyncio.gather(*tasks)
    return [ms for start, ms in samples if window_start <= start <= window_end], window_end - window_start


def line(label: str, samples: list[float], seconds: float) -> str:
    if not samples:
        return f"  {label:<34} no reads completed"
    blocked = sum(ms > 1000 for ms in samples)
    return (
        f"  {label:<32} {len(samples) / seconds:>7,.0f} reads/s over {seconds:5.1f} s | median "
        f"{statistics.median(samples):6.2f} ms | p99 {pct(samples, 0.99):7.2f} ms | max {max(samples):9.2f} ms"
        f" | {blocked} read(s) > 1 s"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenant", default="large")
    parser.add_argument("--runs", type=int, default=3, help="refreshes of each kind per view")
    parser.add_argument("--readers", type=int, default=2, help="reader connections in the latency test")
    parser.add_argument(
        "--churn", type=float, default=0.01, help="fraction of the tenant's contacts rescored before each refresh"
    )
    parser.add_argument("--idle-seconds", type=float, default=10)
    args = parser.parse_args()

    dsn = asyncpg_dsn(database_url())
    conn = await asyncpg.connect(dsn)
    try:
        tenant_id = await conn.fetchval("SELECT id FROM tenants WHERE name = $1", args.tenant)
        if tenant_id is None:
            raise SystemExit(f"no tenant {args.tenant!r}: run `kith seed --tenant {args.tenant} --size large` first")
        contacts = await conn.fetchval("SELECT count(*) FROM contacts WHERE tenant_id = $1", tenant_id)
        messages = await conn.fetchval("SELECT count(*) FROM messages WHERE tenant_id = $1", tenant_id)
        total_contacts = await conn.fetchval("SELECT count(*) FROM contacts")
        total_messages = await conn.fetchval("SELECT count(*) FROM messages")
        print(
            f"tenant {args.tenant!r} (id {tenant_id}): {contacts:,} contacts, {messages:,} messages "
            f"(database: {total_contacts:,} contacts, {total_messages:,} messages); "
            f"churn {args.churn:.0%} of the tenant's contacts before each refresh; PostgreSQL "
            f"{(await conn.fetchval('SHOW server_version')).split()[0]}\n"
        )

        print("refresh duration (seconds; median of", args.runs, "runs, min–max)")
        for view in VIEWS:
            size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size($1::regclass))", view)
            rows = await conn.fetchval(f"SELECT count(*) FROM {view}")
            durations = await refresh_durations(conn, view, tenant_id, args.runs, args.churn)
            plain, conc = durations["plain"], durations["concurrently"]
            print(
                f"  {view:<24} {rows:>10,} rows, {size:>8} | plain {statistics.median(plain):7.2f} "
                f"({min(plain):.2f}–{max(plain):.2f}) | CONCURRENTLY {statistics.median(conc):7.2f} "
                f"({min(conc):.2f}–{max(conc):.2f}) | ×{statistics.median(conc) / statistics.median(plain):.2f}"
            )
            await asyncio.sleep(1)  # statistics reach pg_stat_user_tables with a little delay
            dead = await conn.fetchval("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = $1::regclass", view)
            start = time.perf_counter()
            await conn.execute(f"VACUUM (ANALYZE) {view}")
            print(
                f"  {'':<24} VACUUM (ANALYZE) {time.perf_counter() - start:.2f} s ({dead or 0:,} dead rows left by the concurrent refreshes)"
            )

        # The listing: page 1, and pages 100 and 10,000 through their cursors' keys.
        keys: list[tuple | None] = [None]
        order = CONTACTS.sorts["score"].order_by("next")
        for page in (100, 10_000):
            row = await conn.fetchrow(
                f"SELECT score, id FROM contact_cards WHERE tenant_id = $1 ORDER BY {order} OFFSET $2 LIMIT 1",
                tenant_id,
                (page - 1) * PAGE - 1,
            )
            if row is not None:
                keys.append(tuple(row))
        statements = [compile_listing(tenant_id, key) for key in keys]

        print(f"\nlisting latency (GET /api/v1/contacts SQL, sort=score, pages 1/100/10,000; {args.readers} readers)")
        samples, seconds = await read_latency(dsn, statements, args.readers, lambda: asyncio.sleep(args.idle_seconds))
        print(line("idle", samples, seconds))
        idle_p99 = pct(samples, 0.99)
        record("refresh.listing.idle", median=statistics.median(samples), p99=idle_p99)

        def refresh(concurrently: bool):
            async def run():
                await conn.execute(f"REFRESH MATERIALIZED VIEW {'CONCURRENTLY ' if concurrently else ''}contact_cards")

            return run

        await churn(conn, tenant_id, args.churn, 98)
        samples, seconds = await read_latency(dsn, statements, args.readers, refresh(True))
        print(line("during REFRESH ... CONCURRENTLY", samples, seconds))
        conc_p99 = pct(samples, 0.99) if samples else float("nan")
        if samples:
            record("refresh.listing.during_concurrent", median=statistics.median(samples), p99=conc_p99)
        await churn(conn, tenant_id, args.churn, 99)
        samples, seconds = await read_latency(dsn, statements, args.readers, refresh(False))
        print(line("during plain REFRESH", samples, seconds))
        print(
            f"\np99 while a concurrent refresh runs / idle: ×{conc_p99 / idle_p99:.2f} (readers do not wait on it; "
            f"a plain refresh locks them out for its whole duration)"
        )
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
