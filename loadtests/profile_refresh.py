"""Where a refresh of everything goes: per read model, one view over all tenants (as before migration 0018)
beside every slice through kith's refresher (a tenant's own slice, the shared ones), in one run.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/kith_bench uv run python loadtests/profile_refresh.py \\
        [--jit-probe TENANT_ID]

"Before" is a materialized view `bench_before_NAME` of NAME_rows over all tenants, with the slices'
indexes, refreshed CONCURRENTLY as main's worker did before 0018 (created on first use: a scratch copy).
`--jit-probe` also times the own slice's query of that tenant and the all-tenants query with JIT on and off
(best of two, into a temporary table).
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncpg
from sqlalchemy.ext.asyncio import create_async_engine

from kith.db.engine import database_url
from kith.db.urls import asyncpg_dsn, sqlalchemy_url
from kith.readmodels.coalesced_refresh import every_slice, request_refresh
from kith.readmodels.models import READ_MODELS, _slice_part


async def _timed(conn: asyncpg.Connection, sql: str, *settings: str) -> float:
    best = float("inf")
    for _ in range(2):
        async with conn.transaction():
            for setting in settings:
                await conn.execute(setting)
            start = time.perf_counter()
            await conn.execute(f"CREATE TEMP TABLE _probe ON COMMIT DROP AS {sql}")
            best = min(best, time.perf_counter() - start)
    return best


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jit-probe", type=int, default=None, metavar="TENANT_ID")
    args = parser.parse_args()
    url = database_url()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    before: dict[str, float] = {}
    try:
        if args.jit_probe is not None:
            off = "SET LOCAL jit = off"
            for model in READ_MODELS:
                whole, own = f"SELECT * FROM {model.rows}", f"SELECT * FROM {model.rows} WHERE tenant_id = $1"
                own = own.replace("$1", str(args.jit_probe))
                print(
                    f"{model.name:<24} all tenants: JIT {await _timed(conn, whole):6.2f} s, "
                    f"none {await _timed(conn, whole, off):6.2f} s | own slice: JIT {await _timed(conn, own):6.2f} s, "
                    f"none {await _timed(conn, own, off):6.2f} s"
                )
        for model in READ_MODELS:
            relation = f"bench_before_{model.name}"
            if await conn.fetchval("SELECT to_regclass($1)", relation) is None:
                indexes = _slice_part(model.sql).replace("{slice}", relation)
                await conn.execute(f"CREATE MATERIALIZED VIEW {relation} AS SELECT * FROM {model.rows};\n{indexes}")
            start = time.perf_counter()
            await conn.execute(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {relation}")
            before[model.name] = time.perf_counter() - start
    finally:
        await conn.close()
    engine = create_async_engine(sqlalchemy_url(url))
    own: dict[str, float] = {}
    shared: dict[str, float] = {}
    for target in await every_slice(engine):
        start = time.perf_counter()
        await request_refresh(engine, target)
        into = own if target.tenant_id is not None else shared
        into[target.model.name] = into.get(target.model.name, 0) + time.perf_counter() - start
    await engine.dispose()
    for model in READ_MODELS:
        print(
            f"{model.name:<24} before {before[model.name]:7.2f} s | after: own slices {own.get(model.name, 0):7.2f} s"
            f" + shared slices {shared.get(model.name, 0):6.2f} s"
        )
    print(
        f"{'everything':<24} before {sum(before.values()):7.2f} s | after {sum(own.values()) + sum(shared.values()):7.2f} s"
    )


if __name__ == "__main__":
    asyncio.run(main())
