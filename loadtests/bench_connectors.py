"""Connector benchmark: a first Gmail sync of a 10,000 and a 100,000-message mailbox from the fake Google
(tests/fakes/google.py, its own process, every API call delayed by --latency), then an incremental
sync of 100 changes (80 new messages, 20 deleted).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python loadtests/bench_connectors.py

Each sync runs as a user runs it: `kith connect google --refresh-token …` in a child process (the sync,
then scoring and the refreshes, in-process: no REDIS_URL), whose peak RSS (VmHWM) is reported; the
incremental one is the scheduler's tick in a child. Figures: the sync stage's seconds (sync_runs
duration), messages/s over the messages Gmail listed, the API requests the run made (stages.sync),
and peak RSS, which should not grow with the mailbox (a page of 500 messages at a time).
Everything runs in a scratch database created on DATABASE_URL's server and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import asyncpg

from figures import record
from kith.db.migrations import upgrade_async
from kith.db.urls import asyncpg_dsn, with_database

ROOT = Path(__file__).resolve().parents[1]

# The child reports its own peak RSS (VmHWM: not ru_maxrss, which counts pages mapped before exec).
_CHILD = """
import atexit, sys
from pathlib import Path
atexit.register(lambda: print("VmHWM", Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0], file=sys.stderr))
{body}
"""
_CLI = "from kith.cli import main\nsys.argv = ['kith', *sys.argv[1:]]\nmain()"
_TICK = """
import asyncio
from kith.db.session import standalone_engine
from kith.connectors.service import queue_due_syncs
from kith.tasks import jobs as _

async def tick():
    async with standalone_engine() as engine:
        print(await queue_due_syncs(engine))

asyncio.run(tick())
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _call(base: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.load(response)


def _child(env: dict[str, str], body: str, *args: str) -> tuple[float, float, str]:
    """(seconds, peak RSS in MiB, stdout) of a Python child running `body`."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD.format(body=body), *args], env=env, capture_output=True, text=True, cwd=ROOT
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"child failed: {done.stderr[-2000:]}")
    peak_kib = int(done.stderr.split("VmHWM")[-1].split()[0])
    return seconds, peak_kib / 1024, done.stdout.strip()


async def _last_run(conn: asyncpg.Connection, tenant: str) -> asyncpg.Record:
    return await conn.fetchrow(
        """SELECT r.* FROM sync_runs r JOIN tenants t ON t.id = r.tenant_id
           WHERE t.name = $1 ORDER BY r.id DESC LIMIT 1""",
        tenant,
    )


def _row(label: str, *values: str) -> None:
    print(f"  {label:<34}" + "".join(f"{v:>14}" for v in values), flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000, help="the larger mailbox; the smaller is a tenth")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds the fake adds to every API call")
    args = parser.parse_args()

    server = os.environ.get("DATABASE_URL") or sys.exit("set DATABASE_URL (its server hosts a scratch database)")
    name = f"kith_bench_connectors_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(with_database(server, "postgres")))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server, name)
    port = _free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.google", "--port", str(port), "--latency", str(args.latency)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # jobs run in the child itself
    env |= {
        "DATABASE_URL": url,
        "KITH_DATA_DIR": str(ROOT / ".kith" / "bench-connectors"),
        "KITH_GOOGLE_CLIENT_ID": "kith-client",
        "KITH_GOOGLE_CLIENT_SECRET": "kith-secret",
        "KITH_GOOGLE_TOKEN_URL": f"{base}/token",
        "KITH_GMAIL_API_URL": base,
        "KITH_PEOPLE_API_URL": base,
        "KITH_CALENDAR_API_URL": base,
        "KITH_LOG_FORMAT": "text",
    }
    try:
        await upgrade_async(url)
        for _ in range(100):
            try:
                _call(base, "/_fake/requests")
                break
            except OSError:
                time.sleep(0.1)
        conn = await asyncpg.connect(asyncpg_dsn(url))
        print(
            f"PostgreSQL {await conn.fetchval('SHOW server_version')}, {os.cpu_count()} CPUs, "
            f"fake Google latency {args.latency * 1000:.0f} ms per call",
            flush=True,
        )
        print("\nfirst sync (kith connect google --refresh-token …)")
        _row("mailbox", "listed", "landed", "sync s", "messages/s", "requests", "peak RSS MiB")
        mailbox = 0
        for label, size in (("small", args.messages // 10), ("large", args.messages)):
            _call(base, "/_fake/mailbox", {"fill": size - mailbox})
            mailbox = size
            tenant = f"mailbox{size}"
            _child(env, _CLI, "tenant", "create", tenant)
            token = _call(base, "/_fake/grant", {})["refresh_token"]
            seconds, peak, _ = _child(env, _CLI, "connect", "google", "--tenant", tenant, "--refresh-token", token)
            run = await _last_run(conn, tenant)
            stages = json.loads(run["stages"])["sync"]
            sync_seconds = run["duration_ms"] / 1000
            rate = run["rows_seen"] / sync_seconds
            record(f"connectors.first_sync.{label}", rate=rate, requests=stages["requests"], mib=peak, messages=size)
            _row(
                f"{size:,} messages",
                f"{run['rows_seen']:,}",
                f"{run['rows_inserted']:,}",
                f"{sync_seconds:.1f}",
                f"{rate:,.0f}",
                f"{stages['requests']:,}",
                f"{peak:.0f}",
            )
        print(f"  (child wall time of the last one, with scoring and refreshes: {seconds:.1f} s)")

        print("\nincremental sync of 100 changes (80 new messages, 20 deleted; the scheduler's tick)")
        _call(base, "/_fake/mailbox", {"add": 80, "delete": 20})
        await conn.execute("UPDATE connections SET next_sync_at = now() - interval '1 second'")
        await conn.execute(
            "UPDATE connections SET next_sync_at = now() + interval '1 hour' WHERE tenant_id ="
            " (SELECT id FROM tenants WHERE name = $1)",
            f"mailbox{args.messages // 10}",
        )
        seconds, peak, _ = _child(env, _TICK)
        run = await _last_run(conn, f"mailbox{args.messages}")
        stages = json.loads(run["stages"])["sync"]
        record("connectors.incremental", requests=stages["requests"], seconds=run["duration_ms"] / 1000, mib=peak)
        _row("", "inserted", "deleted", "sync s", "child wall s", "requests", "peak RSS MiB")
        _row(
            "100 changes",
            f"{run['rows_inserted']}",
            f"{stages['deleted']['messages']}",
            f"{run['duration_ms'] / 1000:.2f}",
            f"{seconds:.1f}",
            f"{stages['requests']}",
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
