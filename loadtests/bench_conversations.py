"""Conversations and messages on the large tenant: the old chat backend's queries beside Kith's, in one run.

1. The conversation listing, page 1 and page 1,000 (50 a page):
   - old "window": count(*) OVER (), max(...) OVER (...), first_value(...) OVER (...) and DISTINCT over every
     message row of the user, OFFSET paging, the preview sliced in Python;
   - old "GROUP BY": a GROUP BY over all the user's messages joined to the conversations, a correlated
     subquery for the last message, ORDER BY coalesce(last message, created) DESC LIMIT/OFFSET;
   - Kith: the statement GET /api/v1/conversations runs (kith.conversations.listings.CONVERSATIONS).
2. Messages of the 1,000,000-message group thread, the first page and page 10,000:
   - old: an ownership query, then the messages (ORDER BY sent_at DESC LIMIT/OFFSET): two round trips;
   - Kith: one statement, ownership as its guard, keyset on (sent_at, id) (listings.MESSAGES).
3. Kith's listing page 1 with 0, 100 and 10,000 conversations changed since the last refresh (read live,
   DESIGN: fresh reads), and with the group thread itself changed. The marks are removed afterwards.

Medians and p99 of the SQL latency (client side, the API reader's settings). The old queries are slow by
design: they run --old-runs times, unwarmed (p99 of few samples is their maximum).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/kith_bench_conv \\
        uv run python loadtests/bench_conversations.py --tenant large [--runs 200] [--old-runs 1]

The tenant must exist (`kith seed --tenant large --size large`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import asyncpg
from sqlalchemy.dialects import postgresql

from figures import record
from kith.conversations import listings
from kith.db.engine import database_url
from kith.db.reads import READER_SERVER_SETTINGS
from kith.db.urls import asyncpg_dsn
from kith.pagination.listing import ListingRequest, Position
from kith.seed.queries import GROUP_THREAD_SUBJECT

PAGE = 50
DIALECT = postgresql.asyncpg.dialect(paramstyle="numeric_dollar")

OLD_WINDOW_LISTING = """
SELECT DISTINCT c.id, c.subject, c.channel,
       count(*) OVER () AS total_rows,
       count(m.id) OVER (PARTITION BY c.id) AS message_count,
       max(m.sent_at) OVER (PARTITION BY c.id) AS last_message_at,
       first_value(m.body) OVER (PARTITION BY c.id ORDER BY m.sent_at DESC, m.id DESC) AS last_body,
       first_value(m.direction) OVER (PARTITION BY c.id ORDER BY m.sent_at DESC, m.id DESC) AS last_direction,
       coalesce(max(m.sent_at) OVER (PARTITION BY c.id), c.created_at) AS last_activity_at
FROM conversations c
LEFT JOIN messages m ON m.tenant_id = c.tenant_id AND m.conversation_id = c.id
WHERE c.tenant_id = $1 AND c.user_id = $2
ORDER BY last_activity_at DESC, c.id DESC
LIMIT 50 OFFSET $3
"""

OLD_GROUP_BY_LISTING = """
SELECT c.id, c.subject, c.channel, coalesce(s.message_count, 0) AS message_count, s.last_message_at,
       (SELECT m.body FROM messages m WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id
        ORDER BY m.sent_at DESC LIMIT 1) AS last_body,
       (SELECT m.direction FROM messages m WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id
        ORDER BY m.sent_at DESC LIMIT 1) AS last_direction
FROM conversations c
LEFT JOIN (
    SELECT m.conversation_id, count(*) AS message_count, max(m.sent_at) AS last_message_at
    FROM messages m JOIN conversations c2 ON c2.tenant_id = m.tenant_id AND c2.id = m.conversation_id
    WHERE m.tenant_id = $1 AND c2.user_id = $2
    GROUP BY m.conversation_id
) s ON s.conversation_id = c.id
WHERE c.tenant_id = $1 AND c.user_id = $2
ORDER BY coalesce(s.last_message_at, c.created_at) DESC, c.id DESC
LIMIT 50 OFFSET $3
"""

# The old code's queries, given the tenant_id every index here leads with (as the old indexes led with
# conversation_id), so they are measured at their best, not at a sequential scan.
OLD_OWNERSHIP = "SELECT 1 FROM conversations WHERE tenant_id = $3 AND id = $1 AND user_id = $2"
OLD_MESSAGES = """
SELECT id, conversation_id, contact_id, channel, direction, sent_at, subject, body
FROM messages WHERE tenant_id = $3 AND conversation_id = $1 ORDER BY sent_at DESC LIMIT 50 OFFSET $2
"""


def compile_listing(listing, request: ListingRequest) -> tuple[str, list]:
    prepared = listing.prepare(request)
    compiled = prepared.statement.bindparams(**prepared.params).compile(dialect=DIALECT)
    params = compiled.construct_params()
    return compiled.string, [params[name] for name in compiled.positiontup]


async def measure(run: Callable[[], Awaitable[int]], runs: int, warm: bool = True) -> tuple[float, float, int]:
    rows = await run() if warm else 0  # warm: plans cached, pages in memory (the old listings take minutes: not)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        rows = await run()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))], rows


async def statement_runner(conn: asyncpg.Connection, sql: str, args: list) -> Callable[[], Awaitable[int]]:
    statement = await conn.prepare(sql)

    async def run() -> int:
        return len(await statement.fetch(*args))

    return run


def row(label: str, median: float, p99: float, rows: int, note: str = "", key: str | None = None) -> None:
    if key:
        record(key, median=median, p99=p99, rows=rows)
    print(f"  {label:<44} {median:>10.3f} ms {p99:>10.3f} ms {rows:>6} rows  {note}", flush=True)


async def listing_runner(conn: asyncpg.Connection, tenant_id: int, start: Position | None):
    request = ListingRequest(tenant_id=tenant_id, limit=PAGE, start=start)
    return await statement_runner(conn, *compile_listing(listings.CONVERSATIONS, request))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenant", default="large")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--old-runs", type=int, default=1, help="0: skip the old listings (minutes each)")
    args = parser.parse_args()

    conn = await asyncpg.connect(asyncpg_dsn(database_url()), server_settings=READER_SERVER_SETTINGS)
    try:
        tenant = await conn.fetchrow(
            "SELECT t.id, u.id AS user_id FROM tenants t JOIN users u ON u.tenant_id = t.id WHERE t.name = $1 "
            "ORDER BY u.id LIMIT 1",
            args.tenant,
        )
        if tenant is None:
            raise SystemExit(f"no tenant {args.tenant!r}: run `kith seed --tenant {args.tenant} --size large` first")
        tenant_id, user_id = tenant["id"], tenant["user_id"]
        # The seeded group thread (medium and large tenants), else the tenant's longest thread.
        group = await conn.fetchrow(
            "SELECT c.id, count(m.id) AS n FROM conversations c"
            " LEFT JOIN messages m ON m.tenant_id = c.tenant_id AND m.conversation_id = c.id"
            " WHERE c.tenant_id = $1 GROUP BY c.id ORDER BY c.subject = $2 DESC, count(m.id) DESC LIMIT 1",
            tenant_id,
            GROUP_THREAD_SUBJECT,
        )
        summaries = await conn.fetchval("SELECT count(*) FROM conversation_summaries WHERE tenant_id = $1", tenant_id)
        messages = await conn.fetchval("SELECT reltuples::bigint FROM pg_class WHERE relname = 'messages'")
        print(
            f"tenant {args.tenant!r} (id {tenant_id}): {summaries:,} conversations, ~{messages:,} messages in all, "
            f"group thread {group['id']} with {group['n']:,} messages; page size {PAGE}; "
            f"Kith {args.runs} runs, old {args.old_runs} runs\n"
        )
        print(f"  {'':<44} {'median':>13} {'p99':>13}")

        print("1. GET /conversations")
        for page in sorted({1, max(1, min(1000, summaries // PAGE))}):  # page 1,000, or the last full page
            offset = (page - 1) * PAGE
            for name, label, sql in (
                ("old_window", "old window functions + DISTINCT", OLD_WINDOW_LISTING),
                ("old_group_by", "old GROUP BY + OFFSET", OLD_GROUP_BY_LISTING),
            ):
                if args.old_runs:  # (the old code then sliced the preview in Python: not even counted here)
                    old = await statement_runner(conn, sql, [tenant_id, user_id, offset])
                    figures = await measure(old, args.old_runs, False)
                    row(f"page {page:,}: {label}", *figures, key=f"conversations.{name}.page_{page}")
            start = None
            if offset:  # setup only: the key of the last row of the previous page (what next_cursor carries)
                prev = await conn.fetchrow(
                    "SELECT last_activity_at, id FROM conversation_summaries WHERE tenant_id = $1 "
                    "ORDER BY last_activity_at DESC, id DESC OFFSET $2 LIMIT 1",
                    tenant_id,
                    offset - 1,
                )
                start = Position("next", (prev["last_activity_at"], prev["id"]))
            kith = await listing_runner(conn, tenant_id, start)
            row(
                f"page {page:,}: Kith (one statement, keyset)",
                *await measure(kith, args.runs),
                key=f"conversations.kith.page_{page}",
            )

        print(f"2. GET /conversations/{group['id']}/messages (the {group['n']:,}-message thread)")
        for page in sorted({1, max(1, min(10_000, group["n"] // PAGE))}):
            offset = (page - 1) * PAGE
            ownership = await conn.prepare(OLD_OWNERSHIP)
            load = await conn.prepare(OLD_MESSAGES)

            async def two_round_trips(offset=offset, ownership=ownership, load=load) -> int:
                if await ownership.fetchval(group["id"], user_id, tenant_id) is None:
                    raise SystemExit("ownership check failed")
                return len(await load.fetch(group["id"], offset, tenant_id))

            row(
                f"page {page:,}: old ownership + OFFSET (2 trips)",
                *await measure(two_round_trips, args.old_runs * 10 or 10),
                key=f"messages.old.page_{page}",
            )
            start = None
            if offset:
                prev = await conn.fetchrow(
                    "SELECT sent_at, id FROM messages WHERE tenant_id = $1 AND conversation_id = $2 "
                    "ORDER BY sent_at DESC, id DESC OFFSET $3 LIMIT 1",
                    tenant_id,
                    group["id"],
                    offset - 1,
                )
                start = Position("next", (prev["sent_at"], prev["id"]))
            request = ListingRequest(
                tenant_id=tenant_id, limit=PAGE, scope={"conversation_id": group["id"]}, start=start
            )
            kith = await statement_runner(conn, *compile_listing(listings.MESSAGES, request))
            row(
                f"page {page:,}: Kith (one statement, guard + keyset)",
                *await measure(kith, args.runs),
                key=f"messages.kith.page_{page}",
            )

        print("3. GET /conversations page 1, with conversations changed since the last refresh (read live)")
        baseline = None
        cases = [(0, False), (100, False), (10_000, False), (1, True)]
        for changed, the_group in cases:
            ids = (
                [group["id"]]
                if the_group
                else [
                    r["id"]
                    for r in await conn.fetch(
                        "SELECT id FROM conversations WHERE tenant_id = $1 AND id <> $2 ORDER BY hashint8(id) LIMIT $3",
                        tenant_id,
                        group["id"],
                        changed,
                    )
                ]
            )
            try:
                await conn.execute("UPDATE conversations SET changed_at = now() WHERE id = ANY($1::bigint[])", ids)
                kith = await listing_runner(conn, tenant_id, None)
                median, p99, rows = await measure(kith, args.runs)
            finally:
                await conn.execute("UPDATE conversations SET changed_at = NULL WHERE id = ANY($1::bigint[])", ids)
            baseline = baseline or median
            label = "the group thread changed" if the_group else f"{changed:,} changed"
            key = "conversations.changed_group" if the_group else f"conversations.changed_{changed}"
            row(label, median, p99, rows, f"{median / baseline:.2f}x of none", key=key)
        # The marks left dead index entries on (tenant_id, changed_at): clear them for the next run.
        await conn.execute("VACUUM (ANALYZE) conversations")
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
