"""Refresh follows the tenant: one view per read model (before) beside slices (after), in one run.

Two copies of the large data set (`large`: 1,000,000 contacts beside small tenants): `--before` at the
schema before migration 0018 (one materialized view per read model), `--after` (default DATABASE_URL)
migrated (slices; the large tenant in slices of its own). On each, side by side:

1. a new small tenant's import (`--size small`: 1,000 contacts, 20,000 messages, written as the seed
   writes them) → its rows listed with a newer as_of: the time from the import's commit through the refreshes its
   listing needs, for the contacts listing (contact_cards) and the dashboard (tenant_dashboard,
   company_stats, contact_cards), as a worker runs them (CONCURRENTLY, one after the other);
2. a refresh of everything (every view; every slice);
3. (after) the large tenant's own refresh (its six slices);
4. `kith seed --tenant x --size small` beside the large tenant, end to end (with --before: the code of
   `--before-checkout` on --before, this checkout's on --after).

Before 1, --idle-seconds of --readers connections reading the large tenant's contacts page 1 (score
order, from the relation holding its rows) with nothing refreshing; during 1–3 the same reads: p50 / p99.
Without --before only the after side runs (loadtests/bench.py runs it so; its figures are recorded).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/kith_bench_after uv run python loadtests/bench_refresh.py \\
        --before postgresql://postgres@127.0.0.1:5432/kith_bench_before --before-checkout /work/main \\
        --tenant large [--readers 2] [--no-full]

It writes (new tenants, refreshes): use scratch copies.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from figures import record
from kith.db.engine import database_url
from kith.db.urls import asyncpg_dsn, sqlalchemy_url
from kith.readmodels.coalesced_refresh import every_slice, request_refresh
from kith.readmodels.models import COMPANY_STATS, CONTACT_CARDS, READ_MODELS, TENANT_DASHBOARD, learn_routes
from kith.seed.generator import seed_tenant

CONTACTS_MODELS = (CONTACT_CARDS,)
DASHBOARD_MODELS = (TENANT_DASHBOARD, COMPANY_STATS, CONTACT_CARDS)
PAGE = "SELECT id, score FROM {relation} WHERE tenant_id = $1 ORDER BY score DESC, id DESC LIMIT 50"


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


async def read_during(dsn: str, relation: str, tenant_id: int, readers: int, work: Callable[[], Awaitable]):
    """Run `work` while `readers` connections read the tenant's page 1: (seconds, latencies in ms)."""
    stop = asyncio.Event()
    samples: list[float] = []

    async def reader() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            statement = await conn.prepare(PAGE.format(relation=relation))
            while not stop.is_set():
                start = time.perf_counter()
                await statement.fetch(tenant_id)
                samples.append((time.perf_counter() - start) * 1000)
                await asyncio.sleep(0.005)
        finally:
            await conn.close()

    tasks = [asyncio.create_task(reader()) for _ in range(readers)]
    await asyncio.sleep(0.2)
    start = time.perf_counter()
    try:
        await work()
    finally:
        seconds = time.perf_counter() - start
        stop.set()
        await asyncio.gather(*tasks)
    return seconds, samples


async def new_tenant(conn: asyncpg.Connection, name: str) -> tuple[int, int]:
    tenant_id = await conn.fetchval("INSERT INTO tenants (name) VALUES ($1) RETURNING id", name)
    user_id = await conn.fetchval(
        "INSERT INTO users (tenant_id, email, name) VALUES ($1, $2, $2) RETURNING id", tenant_id, f"owner@{name}"
    )
    return tenant_id, user_id


class Before:
    """main's schema: one materialized view per read model, refreshed as main's worker does."""

    label = "before (one view)"

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def relation(self, model, tenant_id: int) -> str:
        return model.name

    async def refresh(self, models, tenant_id: int) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            for model in models:
                await conn.execute(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {model.name}")
                await conn.execute(
                    "UPDATE view_refreshes SET as_of = now(), finished_at = clock_timestamp() WHERE view_name = $1",
                    model.name,
                )
        finally:
            await conn.close()

    async def refresh_everything(self) -> int:
        await self.refresh(READ_MODELS, 0)
        return len(READ_MODELS)


class After:
    """Slices: the tenant's slice of each read model, through kith's refresher."""

    label = "after (slices)"

    def __init__(self, dsn: str, engine) -> None:
        self.dsn, self.engine = dsn, engine

    def relation(self, model, tenant_id: int) -> str:
        return model.slice_of(tenant_id).relation

    async def refresh(self, models, tenant_id: int) -> None:
        for model in models:
            await request_refresh(self.engine, model.slice_of(tenant_id))

    async def refresh_everything(self) -> int:
        slices = await every_slice(self.engine)
        for target in slices:
            await request_refresh(self.engine, target)
        return len(slices)


async def listed_count(dsn: str, relation: str, tenant_id: int) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(f"SELECT count(*) FROM {relation} WHERE tenant_id = $1", tenant_id)
    finally:
        await conn.close()


async def small_import(side, large_id: int, readers: int, size: str) -> dict[str, tuple]:
    """A new small tenant's data, then per listing: seconds to refresh what it reads, readers' latencies."""
    conn = await asyncpg.connect(side.dsn)
    try:
        tenant_id, user_id = await new_tenant(conn, f"bench-{uuid.uuid4().hex[:8]}")
        started = time.perf_counter()
        await seed_tenant(conn, tenant_id=tenant_id, user_id=user_id, size=size, seed=7, progress=lambda _: None)
        contacts = await conn.fetchval("SELECT count(*) FROM contacts WHERE tenant_id = $1", tenant_id)
        written = time.perf_counter() - started
    finally:
        await conn.close()
    out = {"written": (written, [])}
    large_relation = side.relation(CONTACT_CARDS, large_id)
    for label, models in (("contacts", CONTACTS_MODELS), ("dashboard", DASHBOARD_MODELS)):

        async def work(models=models) -> None:
            await side.refresh(models, tenant_id)

        out[label] = await read_during(side.dsn, large_relation, large_id, readers, work)
        assert await listed_count(side.dsn, side.relation(CONTACT_CARDS, tenant_id), tenant_id) == contacts
    return out


def seed_cli(checkout: Path, url: str, size: str) -> float:
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("VIRTUAL_ENV", None)  # each checkout runs with its own environment
    start = time.perf_counter()
    subprocess.run(
        ["uv", "run", "--frozen", "kith", "seed", "--tenant", f"seed-{uuid.uuid4().hex[:8]}", "--size", size],
        cwd=checkout,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def row(label: str, before: tuple | None, after: tuple | None) -> str:
    def cell(result: tuple | None) -> str:
        if result is None:
            return f"{'—':>34}"
        seconds, samples = result
        reads = f"p50 {statistics.median(samples):6.2f} p99 {pct(samples, 0.99):7.2f} ms" if samples else ""
        return f"{seconds:8.2f} s {reads:>24}"

    return f"{label:<34} | {cell(before)} | {cell(after)}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", help="a copy at the schema before 0018 (one view per read model)")
    parser.add_argument("--before-checkout", type=Path, default=Path("/work/main"), help="its code, for the seed")
    parser.add_argument("--after", default=None, help="default: DATABASE_URL")
    parser.add_argument("--tenant", default="large")
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--idle-seconds", type=float, default=3)
    parser.add_argument("--size", default="small", help="the small tenant's import and seed size")
    parser.add_argument("--no-full", action="store_true", help="skip the refresh of everything (minutes)")
    args = parser.parse_args()

    from sqlalchemy.ext.asyncio import create_async_engine

    after_url = args.after or database_url()
    engine = create_async_engine(sqlalchemy_url(after_url))
    after = After(asyncpg_dsn(after_url), engine)
    before = Before(asyncpg_dsn(args.before)) if args.before else None
    sides = [side for side in (before, after) if side is not None]
    conn = await asyncpg.connect(after.dsn)
    try:
        large_id = await conn.fetchval("SELECT id FROM tenants WHERE name = $1", args.tenant)
        learn_routes(
            large_id,
            [r[0] for r in await conn.fetch("SELECT read_model FROM read_model_routes WHERE tenant_id = $1", large_id)],
        )
    finally:
        await conn.close()

    results: dict[str, dict[str, tuple | None]] = {}
    large_relation = after.relation(CONTACT_CARDS, large_id)
    results["idle (nothing refreshing)"] = {
        after.label: await read_during(
            after.dsn, large_relation, large_id, args.readers, lambda: asyncio.sleep(args.idle_seconds)
        )
    }
    for side in sides:
        imported = await small_import(side, large_id, args.readers, args.size)
        for key in ("written", "contacts", "dashboard"):
            results.setdefault(f"small import: {key}", {})[side.label] = imported[key]
    if not args.no_full:
        for side in sides:
            relation = side.relation(CONTACT_CARDS, large_id)
            results.setdefault("refresh of everything", {})[side.label] = await read_during(
                side.dsn, relation, large_id, args.readers, side.refresh_everything
            )
        relation = after.relation(CONTACT_CARDS, large_id)

        async def own() -> None:
            await after.refresh(READ_MODELS, large_id)

        results["large tenant's own refresh"] = {
            after.label: await read_during(after.dsn, relation, large_id, args.readers, own),
        }
    if before is not None:
        results[f"kith seed --size {args.size} (CLI)"] = {
            before.label: (seed_cli(args.before_checkout, args.before, args.size), []),
            after.label: (seed_cli(Path(__file__).resolve().parents[1], after_url, args.size), []),
        }
    await engine.dispose()

    labels = [Before.label, After.label]
    print(f"{'':<34} | {labels[0]:>34} | {labels[1]:>34}")
    print(f"{'':<34} | {'time':>9} {'large tenant page 1 reads':>24} | {'time':>9} {'large tenant page 1 reads':>24}")
    for label, by_side in results.items():
        print(row(label, by_side.get(labels[0]), by_side.get(labels[1])))
    print(f"(readers: {args.readers} connections on the large tenant's contacts page 1; load: {os.getloadavg()})")

    idle = results["idle (nothing refreshing)"][After.label][1]
    during = results["small import: contacts"][After.label]
    record("refresh.listing.idle", median=statistics.median(idle), p99=pct(idle, 0.99))
    record("refresh.listing.during_concurrent", median=statistics.median(during[1]), p99=pct(during[1], 0.99))
    record("refresh.small_import_listed", seconds=during[0])
    record("refresh.small_import_dashboard", seconds=results["small import: dashboard"][After.label][0])


if __name__ == "__main__":
    asyncio.run(main())
