"""Search (`q`) on the contact listing: p50/p99 of a page per kind of query, beside the same page without `q`.

Runs the exact statement `GET /api/v1/contacts?q=…` runs (kith.contacts.listings, with the API reader's
settings: generic plans, no JIT), for queries taken from the tenant's own rows: a frequent family name in
three spellings (muller / Müller / MÜLLER), a first name, the middle of a name, one person's email, one
person's phone digits, a company, two letters, and a string nobody has. Each row: the first page, then the
page after it (by its cursor), each `--runs` times.

    createdb -h 127.0.0.1 -U postgres -T kith_large_base kith_bench_search
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/kith_bench_search uv run kith migrate
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/kith_bench_search \\
        uv run python loadtests/bench_search.py --tenant large [--runs 200] [--sort score] [--server]
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
from kith.contacts.search import like_body
from kith.db.engine import database_url
from kith.db.reads import READER_SERVER_SETTINGS
from kith.db.urls import asyncpg_dsn
from kith.pagination.listing import ListingRequest, Position
from kith.readmodels.models import learn_routes

PAGE = 50
DIALECT = postgresql.asyncpg.dialect(paramstyle="numeric_dollar")


def compile_page(tenant_id: int, sort: str, q: str | None, start: Position | None) -> tuple[str, list]:
    query = CONTACTS.prepare(ListingRequest(tenant_id, PAGE, sort=sort, filters={"q": like_body(q)}, start=start))
    compiled = query.statement.bindparams(**query.params).compile(dialect=DIALECT)
    params = compiled.construct_params()
    return compiled.string, [params[name] for name in compiled.positiontup]


async def timed(
    conn: asyncpg.Connection, sql: str, args: list, runs: int, server: bool = False
) -> tuple[float, float, list]:
    """p50 and p99 (ms) of the statement, after 7 warm runs (past PostgreSQL's 5 custom plans: a generic
    one, as the API's prepared statements run). `server`: the server's execution time alone (EXPLAIN
    ANALYZE without per-node timing), without the round trip and the client's scheduling."""
    statement = await conn.prepare(sql)
    explained = await conn.prepare(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}") if server else None
    for _ in range(7):
        rows = await statement.fetch(*args)
    samples = []
    for _ in range(runs):
        if explained is not None:
            samples.append(json.loads(await explained.fetchval(*args))[0]["Execution Time"])
            continue
        began = time.perf_counter()
        rows = await statement.fetch(*args)
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))], rows


async def queries(conn: asyncpg.Connection, tenant_id: int) -> list[tuple[str, str | None]]:
    """Kinds of query, with values read from the tenant's rows (so each finds someone, but the last)."""
    one = await conn.fetchrow(
        "SELECT emails[1] AS email, phones[1] AS phone, company FROM contacts WHERE tenant_id = $1"
        " AND cardinality(emails) > 0 AND cardinality(phones) > 0 AND company IS NOT NULL ORDER BY id LIMIT 1",
        tenant_id,
    )
    found = (
        []
        if one is None
        else [  # a tiny tenant may have nobody with all three
            ("one email", one["email"]),
            ("one phone's digits", one["phone"][-7:]),
            ("a company", one["company"]),
        ]
    )
    return [
        ("no q", None),
        ("family name, plain", "muller"),
        ("family name, accented", "Müller"),
        ("family name, capitals", "MÜLLER"),
        ("first name", "Karen"),
        ("middle of a name", "ansso"),
        *found,
        ("two letters", "an"),
        ("nobody", "qxzvk"),
    ]


# How common a term is decides which part of the search picks its page (kith.contacts.listings): the sweep
# takes companies on about these shares of the tenant's contacts, around where the parts hand over.
SWEEP_SHARES = (0.0002, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.02)


async def sweep(conn: asyncpg.Connection, tenant_id: int, total: int) -> list[tuple[str, str]]:
    """For each share, the company whose contact count is nearest to it (each company once)."""
    counts = await conn.fetch(
        "SELECT company, count(*) AS n FROM contacts WHERE tenant_id = $1 AND deleted_at IS NULL"
        " AND company IS NOT NULL GROUP BY company",
        tenant_id,
    )
    chosen: list[tuple[str, str]] = []
    for share in SWEEP_SHARES:
        left = [row for row in counts if row["company"] not in {q for _, q in chosen}]
        if not left:
            break
        best = min(left, key=lambda row: abs(row["n"] - share * total))
        chosen.append((f"company on {best['n'] / total:.2%}", best["company"]))
    return chosen


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenant", default="large")
    parser.add_argument("--sort", default="score", choices=list(CONTACTS.sorts))
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--server", action="store_true", help="the server's execution time, not the round trip")
    args = parser.parse_args()

    # The settings of the API's reader pool, so the figures are the API's.
    conn = await asyncpg.connect(asyncpg_dsn(database_url()), server_settings=READER_SERVER_SETTINGS)
    try:
        tenant_id = await conn.fetchval("SELECT id FROM tenants WHERE name = $1", args.tenant)
        if tenant_id is None:
            raise SystemExit(f"no tenant {args.tenant!r}")
        # The slices the tenant is read from (a large tenant has its own), as the API learns them.
        own = await conn.fetch("SELECT read_model FROM read_model_routes WHERE tenant_id = $1", tenant_id)
        learn_routes(tenant_id, (row["read_model"] for row in own))
        total = await conn.fetchval("SELECT count(*) FROM contact_cards WHERE tenant_id = $1", tenant_id)
        print(f"tenant {args.tenant!r}: {total:,} contacts; sort={args.sort}; page {PAGE}; {args.runs} runs each\n")
        print(f"{'query':<24} {'q':<44} | {'page 1 p50':>10} {'p99':>7} | {'page 2 p50':>10} {'p99':>7} | rows")
        sort = CONTACTS.sorts[args.sort]
        worst = 0.0
        for kind, q in [*await queries(conn, tenant_id), *await sweep(conn, tenant_id, total)]:
            first_p50, first_p99, rows = await timed(
                conn, *compile_page(tenant_id, args.sort, q, None), args.runs, args.server
            )
            found = [row for row in rows if row["segment"] is not None]
            key_name = "search." + "_".join(kind.replace("'", "").replace(",", "").split())
            record(f"{key_name}.page_1", median=first_p50, p99=first_p99, rows=len(found))
            second = "—".rjust(10) + " " + "—".rjust(7)
            if len(found) > PAGE:  # the next page seeks from the last row of this one
                key = tuple(found[PAGE - 1][f"key_{i}"] for i in range(len(sort.columns)))
                p50, p99, _ = await timed(
                    conn, *compile_page(tenant_id, args.sort, q, Position("next", key)), args.runs, args.server
                )
                second = f"{p50:>8.2f}ms {p99:>5.2f}ms"
                record(f"{key_name}.page_2", median=p50, p99=p99)
            shown = "" if q is None else q[:44]
            print(f"{kind:<24} {shown:<44} | {first_p50:>8.2f}ms {first_p99:>5.2f}ms | {second} | {len(found)}")
            if q is not None:
                worst = max(worst, first_p99, *([p99] if len(found) > PAGE else []))
        print(f"\nworst p99 of a page with q: {worst:.2f} ms")
        record("search.worst_page_p99", median=worst)
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
