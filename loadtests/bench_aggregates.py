"""The aggregate read side, side by side with what the old systems did, on the large tenant.

1. Dashboard: six separate queries over the base tables (as the old system did, then summed in
   code) vs Kith's one statement (kith.aggregates.queries.DASHBOARD).
2. Per-company mention analytics: load the tenant's mentions and filter/bucket them in Python vs
   the GIN listing (GET /mentions?company=…) vs the daily view (GET /companies/{name}/mentions/daily).
3. Companies page 1 vs page 1,000 (keyset), on a tenant with 60,000 companies (created here once,
   `companies-wide`, if missing; then company_stats is refreshed).
4. Feed company detection (kith.sync.companies): items against 1,000 / 10,000 / 100,000 names.

Medians and p99 of the SQL as the API's reader pool runs it (generic plans), statements prepared once.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/kith_bench_agg \\
        uv run python loadtests/bench_aggregates.py --tenant large [--runs 200]

The tenant must exist (`kith seed --tenant large --size large`).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import asyncpg
from sqlalchemy import TextClause
from sqlalchemy.dialects import postgresql

from figures import record
from kith.aggregates import queries
from kith.aggregates.listings import COMPANIES, MENTIONS
from kith.contacts.service import birthday_segments, local_today
from kith.db.engine import database_url
from kith.db.reads import READER_SERVER_SETTINGS
from kith.db.urls import asyncpg_dsn
from kith.pagination.listing import ListingRequest, Position
from kith.sync.companies import CompanyMatcher

PAGE = 50
DIALECT = postgresql.asyncpg.dialect(paramstyle="numeric_dollar")
WIDE_TENANT = "companies-wide"
WIDE_COMPANIES = 60_000

# The dashboard as the old system built it: six queries over the base tables, run one after the other.
SIX_QUERIES = [
    (
        "contacts + last sync run",
        "SELECT (SELECT count(*) FROM contacts WHERE tenant_id = $1 AND deleted_at IS NULL),"
        " (SELECT id FROM sync_runs WHERE tenant_id = $1 ORDER BY created_at DESC LIMIT 1)",
    ),
    (
        "overdue",
        """SELECT count(*) FROM (
               SELECT c.id FROM contacts c LEFT JOIN messages m ON m.tenant_id = c.tenant_id AND m.contact_id = c.id
               WHERE c.tenant_id = $1 AND c.deleted_at IS NULL AND c.cadence_days IS NOT NULL
               GROUP BY c.id, c.cadence_days
               HAVING coalesce(max(m.sent_at) + make_interval(days => c.cadence_days), '-infinity') < now()) o""",
    ),
    (
        "birthdays next 7 days",
        "SELECT count(*) FROM contacts WHERE tenant_id = $1 AND deleted_at IS NULL"
        " AND birthday_month * 100 + birthday_day BETWEEN $2 AND $3",
    ),
    (
        "messages 7/30 days",
        "SELECT count(*) FILTER (WHERE sent_at >= now() - interval '7 days'), count(*) FROM messages"
        " WHERE tenant_id = $1 AND sent_at >= now() - interval '30 days'",
    ),
    (
        "awaiting reply",
        """SELECT count(*) FROM (SELECT DISTINCT ON (conversation_id) direction FROM messages WHERE tenant_id = $1
               ORDER BY conversation_id, sent_at DESC, id DESC) l WHERE direction = 'in'""",
    ),
    (
        "top 5 companies",
        """SELECT c.company, count(m.id) FROM contacts c
               JOIN messages m ON m.tenant_id = c.tenant_id AND m.contact_id = c.id
               AND m.sent_at >= now() - interval '30 days'
               WHERE c.tenant_id = $1 AND c.deleted_at IS NULL AND c.company IS NOT NULL
               GROUP BY c.company ORDER BY 2 DESC LIMIT 5""",
    ),
]


def compiled(statement: TextClause, params: dict) -> tuple[str, list]:
    result = statement.bindparams(**params).compile(dialect=DIALECT)
    values = result.construct_params()
    return result.string, [values[name] for name in result.positiontup]


def percentiles(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


async def timed(run: Callable[[], Awaitable[object]], runs: int) -> tuple[float, float]:
    await run()  # warm: plans cached, pages in memory
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await run()
        samples.append((time.perf_counter() - start) * 1000)
    return percentiles(samples)


async def timed_sql(conn: asyncpg.Connection, sql: str, args: list, runs: int) -> tuple[float, float]:
    statement = await conn.prepare(sql)
    return await timed(lambda: statement.fetch(*args), runs)


def row(label: str, figures: tuple[float, float], note: str = "", key: str | None = None) -> None:
    median, p99 = figures
    if key:
        record(key, median=median, p99=p99)
    print(f"  {label:<44} {median:>10.3f} ms {p99:>10.3f} ms  {note}")


async def dashboard(conn: asyncpg.Connection, tenant_id: int, time_zone: str, runs: int, slow_runs: int) -> None:
    print("1. Dashboard                                          median          p99")
    ranges = [(first, last) for _, first, last in birthday_segments(local_today(time_zone), 7)]
    (first0, last0), (first1, last1) = [*ranges, (1, 0)][:2]
    six = [(await conn.prepare(sql), sql) for _, sql in SIX_QUERIES]

    async def run_six() -> None:
        for statement, sql in six:
            await statement.fetch(tenant_id, first0, last0) if "$2" in sql else await statement.fetch(tenant_id)

    for (label, sql), (statement, _) in zip(SIX_QUERIES, six, strict=True):
        args = [tenant_id, first0, last0] if "$2" in sql else [tenant_id]
        row(f"   old: {label}", await timed(lambda s=statement, a=args: s.fetch(*a), slow_runs))
    row(
        "old: six queries, one after the other",
        await timed(run_six, slow_runs),
        f"({slow_runs} runs)",
        key="dashboard.old_six_queries",
    )
    params = {"tenant_id": tenant_id, "first0": first0, "last0": last0, "first1": first1, "last1": last1}
    sql, args = compiled(queries.DASHBOARD, params)
    row("Kith: one statement", await timed_sql(conn, sql, args, runs), f"({runs} runs)", key="dashboard.kith")


async def mention_analytics(conn: asyncpg.Connection, tenant_id: int, time_zone: str, runs: int, slow_runs: int):
    company = await conn.fetchval(
        "SELECT c FROM mentions, unnest(companies) c WHERE tenant_id = $1 GROUP BY c ORDER BY count(*) DESC LIMIT 1",
        tenant_id,
    )
    total = await conn.fetchval("SELECT count(*) FROM mentions WHERE tenant_id = $1", tenant_id)
    named = await conn.fetchval(
        "SELECT count(*) FROM mentions WHERE tenant_id = $1 AND $2 = ANY (companies)", tenant_id, company
    )
    print(f"\n2. Mentions of {company!r} ({named:,} of the tenant's {total:,}), last 90 days per day")
    last = local_today(time_zone)
    first = last - dt.timedelta(days=89)
    load_all = await conn.prepare(
        "SELECT id, title, published_at, created_at, companies FROM mentions WHERE tenant_id = $1"
    )

    async def in_python() -> list[int]:
        counts: Counter = Counter()
        for mention in await load_all.fetch(tenant_id):
            if company in mention["companies"]:
                day = (mention["published_at"] or mention["created_at"]).date()
                if first <= day <= last:
                    counts[day] += 1
        return [counts[first + dt.timedelta(days=i)] for i in range(90)]

    row(
        "old: load the tenant's mentions, filter in Python",
        await timed(in_python, slow_runs),
        f"({slow_runs} runs)",
        key="mentions.old_python",
    )
    prepared = MENTIONS.prepare(ListingRequest(tenant_id, PAGE, filters={"company": company}))
    sql, args = compiled(prepared.statement, prepared.params)
    row(
        "Kith: GIN listing, page 1 (GET /mentions?company=)",
        await timed_sql(conn, sql, args, runs),
        key="mentions.kith",
    )
    params = {"tenant_id": tenant_id, "company": company, "first": first, "last": last}
    sql, args = compiled(queries.DAILY_MENTIONS, params)
    row("Kith: daily view, 90 days dense", await timed_sql(conn, sql, args, runs), key="mentions.kith_daily")


async def wide_tenant(conn: asyncpg.Connection, companies: int) -> tuple[int, str]:
    name = WIDE_TENANT if companies == WIDE_COMPANIES else f"{WIDE_TENANT}-{companies}"
    tenant_id = await conn.fetchval("SELECT id FROM tenants WHERE name = $1", name)
    if tenant_id is not None:
        return tenant_id, name
    print(f"(creating tenant {name!r} with {companies:,} companies, then refreshing company_stats…)")
    tenant_id = await conn.fetchval("INSERT INTO tenants (name) VALUES ($1) RETURNING id", name)
    await conn.execute(
        """INSERT INTO contacts (tenant_id, full_name, company, score)
           SELECT $1, 'Person ' || i, 'Company ' || lpad((i % $2)::text, 6, '0'), (hashint4(i) & 1023) / 10.24
           FROM generate_series(0, $2 * 2 - 1) i""",
        tenant_id,
        companies,
    )
    await conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY company_stats")
    await conn.execute("ANALYZE company_stats")
    return tenant_id, name


async def company_pages(conn: asyncpg.Connection, runs: int, companies: int) -> None:
    tenant_id, name = await wide_tenant(conn, companies)
    deep = min(1000, companies // PAGE)
    print(f"\n3. Companies, {companies:,} of them (tenant {name!r})")
    for sort_name in ("contacts", "recent_activity", "name"):
        sort = COMPANIES.sorts[sort_name]
        figures = {}
        for page in (1, deep):
            start = None
            if page > 1:  # setup only: the key of the last row of the previous page (what next_cursor carries)
                key = await conn.fetchrow(
                    f"SELECT {', '.join(sort.columns)} FROM company_stats WHERE tenant_id = $1"
                    f" ORDER BY {sort.order_by('next')} OFFSET $2 LIMIT 1",
                    tenant_id,
                    (page - 1) * PAGE - 1,
                )
                start = Position("next", tuple(key))
            prepared = COMPANIES.prepare(ListingRequest(tenant_id, PAGE, sort=sort_name, start=start))
            sql, args = compiled(prepared.statement, prepared.params)
            figures[page] = await timed_sql(conn, sql, args, runs)
            row(f"sort={sort_name}, page {page:,}", figures[page], key=f"companies.{sort_name}.page_{page}")
        print(f"  {'':<44} page {deep:,} / page 1: {figures[deep][0] / figures[1][0]:.2f}x")


def synthetic_names(count: int, rng: random.Random) -> list[str]:
    syllables = ["ka", "lo", "mi", "ren", "tor", "vex", "qua", "zen", "dri", "fal", "gor", "hul", "ix", "jun", "ny"]
    suffixes = ["Labs", "Systems", "GmbH", "Inc.", "Group", "Capital", "AG", "Ltd", "Studios", "Robotics"]
    names: set[str] = set()
    while len(names) < count:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))).capitalize()
        names.add(f"{word} {rng.choice(suffixes)}")
    return sorted(names)


def feed_matching(most_names: int) -> None:
    rng = random.Random(7)
    pool = synthetic_names(most_names, rng)
    filler = [
        "the",
        "a",
        "of",
        "market",
        "shares",
        "rose",
        "after",
        "quarterly",
        "results",
        "beat",
        "forecasts",
        "analysts",
        "said",
        "on",
        "monday",
    ]
    items = []
    for _ in range(10_000):
        words = rng.choices(filler, k=30)
        for _ in range(2):
            words.insert(rng.randrange(len(words)), rng.choice(pool[: most_names // 100]))  # names every matcher knows
        items.append((" ".join(words[:12]), " ".join(words[12:])))
    print("\n4. Feed company detection (Aho–Corasick, built once per import)")
    print(f"  {'company names':>14} {'build':>10} {'1,000 items':>12} {'10,000 items':>13} {'per item':>10}")
    for companies in (most_names // 100, most_names // 10, most_names):
        started = time.perf_counter()
        matcher = CompanyMatcher(pool[:companies])
        build = time.perf_counter() - started
        times = {}
        for count in (1_000, 10_000):
            started = time.perf_counter()
            found = sum(len(matcher.find(title, summary)) for title, summary in items[:count])
            times[count] = time.perf_counter() - started
            assert found >= count  # every item names at least one company
        print(
            f"  {companies:>14,} {build * 1000:>7.0f} ms {times[1_000] * 1000:>9.0f} ms {times[10_000] * 1000:>10.0f} ms"
            f" {times[10_000] / 10_000 * 1e6:>7.1f} µs"
        )
    for companies in (most_names // 100, most_names // 10):
        names = [n.lower() for n in pool[:companies]]
        started = time.perf_counter()
        for title, summary in items[:1000]:
            text = f"{title} {summary}".lower()
            _ = [n for n in names if n in text]
        print(
            f"  old: every name tested on each of 1,000 items, {companies:,} names: {(time.perf_counter() - started) * 1000:,.0f} ms"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenant", default="large")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--slow-runs", type=int, default=5, help="runs of the old, slow approaches")
    parser.add_argument("--wide-companies", type=int, default=WIDE_COMPANIES, help="companies of the wide tenant")
    parser.add_argument("--feed-names", type=int, default=100_000, help="most company names the feed matcher knows")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: dashboard,mentions,companies,feeds")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    conn = await asyncpg.connect(asyncpg_dsn(database_url()), server_settings=READER_SERVER_SETTINGS)
    try:
        tenant = await conn.fetchrow("SELECT id, time_zone FROM tenants WHERE name = $1", args.tenant)
        if tenant is None:
            raise SystemExit(f"no tenant {args.tenant!r}: run `kith seed --tenant {args.tenant} --size large` first")
        sizes = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM contacts WHERE tenant_id = $1) AS contacts,"
            " (SELECT count(*) FROM messages WHERE tenant_id = $1) AS messages,"
            " (SELECT count(*) FROM mentions WHERE tenant_id = $1) AS mentions",
            tenant["id"],
        )
        print(
            f"tenant {args.tenant!r}: {sizes['contacts']:,} contacts, {sizes['messages']:,} messages, "
            f"{sizes['mentions']:,} mentions; Kith statements {args.runs} runs each\n"
        )
        # As the scheduled vacuum job leaves them: visibility maps set, so index-only scans stay index-only.
        for relation in ("contact_cards", "company_stats", "tenant_dashboard", "company_mentions_daily", "mentions"):
            await conn.execute(f"VACUUM (ANALYZE) {relation}")
        if "dashboard" not in skip:
            await dashboard(conn, tenant["id"], tenant["time_zone"], args.runs, args.slow_runs)
        if "mentions" not in skip:
            await mention_analytics(conn, tenant["id"], tenant["time_zone"], args.runs, args.slow_runs)
        if "companies" not in skip:
            await company_pages(conn, args.runs, args.wide_companies)
    finally:
        await conn.close()
    if "feeds" not in skip:
        feed_matching(args.feed_names)


if __name__ == "__main__":
    asyncio.run(main())
