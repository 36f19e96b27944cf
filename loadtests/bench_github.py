"""GitHub connector benchmark: a 10,000-PR repository read with a 30-day window vs read in full, then an
unchanged repository's second sync.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python loadtests/bench_github.py

The fake GitHub (tests/fakes/github.py, its own process) serves a repository of --pulls pull requests
updated evenly over --days days (1,000 by default: 300 of 10,000 in the last 30 days), each even one with
a review and each multiple of 3 with a comment, by 300 developers. Each sync runs as a user runs it:
`kith connect github --token … --repo … [--days-back 30]` in a child process (the sync, then scoring and
the refreshes, in-process: no REDIS_URL), whose peak RSS (VmHWM) is reported. Figures: pages of pull
requests fetched (what the window saves), all requests, the sync stage's seconds, peak RSS (a page at a
time: it should not grow with what is read), and for the second sync of the unchanged repository (the
scheduler's tick) the requests that cost rate limit (target 0: the first page is a 304).
Everything runs in a scratch database created on DATABASE_URL's server and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid

import asyncpg

from bench_connectors import _CLI, _TICK, ROOT, _call, _child, _free_port, _last_run, _row
from figures import record
from kith.db.migrations import upgrade_async
from kith.db.urls import asyncpg_dsn, with_database

REPOSITORY = "big/repo"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pulls", type=int, default=10_000, help="pull requests in the repository")
    parser.add_argument("--days", type=float, default=1000, help="the days their updates are spread over")
    parser.add_argument("--window", type=int, default=30, help="days_back of the windowed read")
    args = parser.parse_args()

    server = os.environ.get("DATABASE_URL") or sys.exit("set DATABASE_URL (its server hosts a scratch database)")
    name = f"kith_bench_github_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(with_database(server, "postgres")))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server, name)
    port = _free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.github", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # jobs run in the child itself
    env |= {
        "DATABASE_URL": url,
        "KITH_DATA_DIR": str(ROOT / ".kith" / "bench-github"),
        "KITH_GITHUB_API_URL": base,
        "KITH_LOG_FORMAT": "text",
    }
    try:
        await upgrade_async(url)
        for _ in range(100):
            try:
                _call(base, "/_fake/counts")
                break
            except OSError:
                time.sleep(0.1)
        _call(base, "/_fake/repository", {"name": REPOSITORY, "pulls": args.pulls, "days": args.days})
        conn = await asyncpg.connect(asyncpg_dsn(url))
        print(
            f"PostgreSQL {await conn.fetchval('SHOW server_version')}, {os.cpu_count()} CPUs; a repository of "
            f"{args.pulls:,} pull requests updated over {args.days:,.0f} days",
            flush=True,
        )
        print("\nfirst sync (kith connect github --token … --repo …)")
        _row("read", "PR pages", "requests", "rows landed", "sync s", "child wall s", "peak RSS MiB")
        for label, days_back in (("window", args.window), ("full", None)):
            tenant = f"github-{label}"
            _child(env, _CLI, "tenant", "create", tenant)
            token = _call(base, "/_fake/token", {})["token"]
            before = _call(base, "/_fake/counts")
            command = ["connect", "github", "--tenant", tenant, "--token", token, "--repo", REPOSITORY]
            if days_back:
                command += ["--days-back", str(days_back)]
            seconds, peak, _ = _child(env, _CLI, *command)
            after = _call(base, "/_fake/counts")
            run = await _last_run(conn, tenant)
            if run["status"] != "succeeded":
                sys.exit(f"the {label} sync failed: {run['error']}")
            pages = after["list_pages"] - before["list_pages"]
            requests = after["requests"] - before["requests"]
            sync_seconds = run["duration_ms"] / 1000
            record(
                f"github.{label}",
                pages=pages,
                requests=requests,
                seconds=sync_seconds,
                mib=peak,
                landed=run["rows_inserted"],
            )
            _row(
                f"{days_back}-day window" if days_back else "everything",
                f"{pages:,}",
                f"{requests:,}",
                f"{run['rows_inserted']:,}",
                f"{sync_seconds:.1f}",
                f"{seconds:.1f}",
                f"{peak:.0f}",
            )

        print("\nsecond sync of the unchanged repository (the scheduler's tick)")
        await conn.execute(
            "UPDATE connections SET next_sync_at = CASE WHEN tenant_id = (SELECT id FROM tenants WHERE name = $1)"
            " THEN now() - interval '1 second' ELSE now() + interval '1 hour' END",
            "github-window",
        )
        before = _call(base, "/_fake/counts")
        seconds, peak, _ = _child(env, _TICK)
        after = _call(base, "/_fake/counts")
        run = await _last_run(conn, "github-window")
        stages = json.loads(run["stages"])["sync"]
        costly = after["costly"] - before["costly"]
        record(
            "github.unchanged",
            rate_limited=costly,
            requests=after["requests"] - before["requests"],
            seconds=run["duration_ms"] / 1000,
        )
        _row("", "requests", "rate-limited", "Kith's count", "304s", "sync s", "peak RSS MiB")
        _row(
            "unchanged",
            f"{after['requests'] - before['requests']}",
            f"{costly}",
            f"{stages['rate_limited_requests']}",
            f"{stages['not_modified']}",
            f"{run['duration_ms'] / 1000:.2f}",
            f"{peak:.0f}",
        )
        await conn.close()
    finally:
        fake.terminate()
        fake.wait(30)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
