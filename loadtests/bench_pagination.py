"""Cursor vs OFFSET at depth, and COUNT(*) vs the planner's estimate, on one tenant.

Runs the exact statement `GET /api/v1/contacts` runs (kith.contacts.listings),
seeking from the key of the row just before page N, beside the OFFSET query a
naive listing would run for the same page. Prints median and p99 SQL latency
of each, side by side.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/kith_bench \\
        uv run python loadtests/bench_pagination.py --tenant large [--runs 200]

The tenant must exist (`kith seed --tenant large --size large`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import asyncpg
from sqlalchemy.dialects import postgresql

from figures import record
from kith.contacts.listings import CONTACTS
from kith.db.engine import database_url
from kith.db.reads import READER_SERVER_SETTINGS
from kith.db.urls import asyncpg_dsn
from kith.pagination.listing import ListingRequest, Position

PAGE = 50
DIALECT = postgresql.asyncpg.dialect(paramstyle="numeric_dollar")


def compile_listing(tenant_id: int, sort_name: str, key: tuple | None) -> tuple[str, list]:
    start = Position("next", key) if key is not None else None
    query = CONTACTS.prepare(ListingRequest(tenant_id, PAGE, sort=sort_name, start=start))
    compiled = query.statement.bindparams(**query.params).compile(dialect=DIALECT)
    params = compiled.construct_params()
    return compiled.string, [params[name] for name in compiled.positiontup]


async def timed(conn: asyncpg.Connection, sql: str, args: list, runs: int) -> tuple[float, float, int]:
    statement = await conn.prepare(sql)
    await statement.fetch(*args)  # warm: plan cached, pages in memory
    samples = []
    rows = 0
    for _ in range(runs):
        start = time.perf_counter()
        rows = len(await statement.fetch(*args))
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))], rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenant", default="large")
    parser.add_argument("--sort", default="score", choices=list(CONTACTS.sorts))
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--pages", default="1,100,10000")
    args = parser.parse_args()

    # The settings of the API's reader pool, so the figures are the API's.
    conn = await asyncpg.connect(asyncpg_dsn(database_url()), server_settings=READER_SERVER_SETTINGS)
    try:
        tenant_id = await conn.fetchval("SELECT id FROM tenants WHERE name = $1", args.tenant)
        if tenant_id is None:
            raise SystemExit(f"no tenant {args.tenant!r}: run `kith seed --tenant {args.tenant} --size large` first")
        await conn.execute("ANALYZE contact_cards")  # fresh statistics for the estimate below
        sort = CONTACTS.sorts[args.sort]
        order = sort.order_by("next")
        rows_in_view = await conn.fetchval("SELECT count(*) FROM contact_cards WHERE tenant_id = $1", tenant_id)
        print(
            f"tenant {args.tenant!r} (id {tenant_id}): {rows_in_view:,} contacts in contact_cards; "
            f"sort={args.sort}; page size {PAGE}; {args.runs} runs each\n"
        )
        header = (
            f"{'page':>7} | {'cursor median':>13} {'p99':>8} | {'OFFSET median':>13} {'p99':>8} | {'OFFSET/cursor':>13}"
        )
        print(header)
        print("-" * len(header))
        results = {}
        for page in (int(p) for p in args.pages.split(",")):
            skip = (page - 1) * PAGE
            key = None
            if skip:
                # Setup only: the key of the last row of the previous page (what its next_cursor carries).
                prev = await conn.fetchrow(
                    f"SELECT {', '.join(sort.columns)} FROM contact_cards WHERE tenant_id = $1 ORDER BY {order} "
                    f"OFFSET $2 LIMIT 1",
                    tenant_id,
                    skip - 1,
                )
                key = tuple(prev)
            sql, sql_args = compile_listing(tenant_id, args.sort, key)
            cursor_median, cursor_p99, got = await timed(conn, sql, sql_args, args.runs)
            offset_sql = f"SELECT * FROM contact_cards WHERE tenant_id = $1 ORDER BY {order} OFFSET $2 LIMIT {PAGE + 1}"
            offset_median, offset_p99, _ = await timed(conn, offset_sql, [tenant_id, skip], max(10, args.runs // 10))
            results[page] = (cursor_median, cursor_p99)
            record(f"pagination.cursor.page_{page}", median=cursor_median, p99=cursor_p99)
            record(f"pagination.offset.page_{page}", median=offset_median, p99=offset_p99)
            print(
                f"{page:>7,} | {cursor_median:>10.3f} ms {cursor_p99:>5.3f} ms | {offset_median:>10.3f} ms "
                f"{offset_p99:>5.2f} ms | {offset_median / cursor_median:>12.1f}x   ({min(got, PAGE)} rows)"
            )
        pages = sorted(results)
        deepest, first = results[pages[-1]][0], results[pages[0]][0]
        print(
            f"\ncursor page {pages[-1]:,} / page {pages[0]}: {deepest / first:.2f}x (target ≤ 1.5x); "
            f"worst cursor p99 {max(p for _, p in results.values()):.3f} ms (target < 5 ms)"
        )

        count_median, count_p99, _ = await timed(
            conn, "SELECT count(*) FROM contact_cards WHERE tenant_id = $1", [tenant_id], 10
        )
        plan_sql = "EXPLAIN (FORMAT JSON) SELECT 1 FROM contact_cards WHERE tenant_id = $1"
        estimate_median, estimate_p99, _ = await timed(conn, plan_sql, [tenant_id], args.runs)
        plan = json.loads(await conn.fetchval(plan_sql, tenant_id))
        estimate = plan[0]["Plan"]["Plan Rows"]
        record("pagination.count", median=count_median, p99=count_p99, rows=rows_in_view)
        record("pagination.estimate", median=estimate_median, p99=estimate_p99, rows=estimate)
        print(f"\nCOUNT(*)           {count_median:>9.3f} ms median {count_p99:>9.3f} ms p99  → {rows_in_view:,}")
        print(
            f"planner estimate   {estimate_median:>9.3f} ms median {estimate_p99:>9.3f} ms p99  → {estimate:,} "
            f"({estimate / max(rows_in_view, 1):.0%} of exact); COUNT/estimate {count_median / estimate_median:.0f}x"
        )
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
