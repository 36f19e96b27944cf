"""Ingest benchmark: Kith's batch path against per-row INSERT, executemany and a bare COPY of the same
messages; peak memory of `kith import` on an input 10× larger; contact batches (new, matched);
seconds to score a large tenant.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python loadtests/bench_ingest.py

Everything runs in a scratch database created on DATABASE_URL's server and dropped at the end.
The message rows are the same for every method (kith.sync.synthetic, seed 1), and every method starts
from empty tables with the tenant's conversations and contacts created beforehand (not timed): the
baselines insert the rows as they are; Kith's path takes the records and looks up each one's contact,
conversation and stored copy, as an import does. Kith's path and the COPY take turns (--repeats);
the medians are compared. A last line times Kith's path into an empty tenant, where it also creates
every contact and conversation.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from statistics import median

import asyncpg
from sqlalchemy.ext.asyncio import create_async_engine

from figures import record
from kith.db.migrations import upgrade_async
from kith.db.urls import asyncpg_dsn, sqlalchemy_url, with_database
from kith.scoring.service import rescore_tenant, score_sync_run
from kith.sync.batch_writer import RunTarget, Totals, run_session, write_batches
from kith.sync.sources import DEFAULT_BATCH_SIZE, SourceBatch, read_vcards
from kith.sync.synthetic import OWN_ADDRESS, messages, write_mbox

COLUMNS = [
    "tenant_id",
    "conversation_id",
    "contact_id",
    "channel",
    "direction",
    "sent_at",
    "subject",
    "body",
    "source",
    "external_id",
]
INSERT = f"INSERT INTO messages ({', '.join(COLUMNS)}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"


def line(label: str, value: str) -> None:
    print(f"  {label:<52} {value}", flush=True)


async def new_tenant(conn: asyncpg.Connection, name: str) -> tuple[int, int]:
    tenant_id = await conn.fetchval("INSERT INTO tenants (name) VALUES ($1) RETURNING id", name)
    user_id = await conn.fetchval(
        "INSERT INTO users (tenant_id, email) VALUES ($1, $2) RETURNING id", tenant_id, OWN_ADDRESS
    )
    return tenant_id, user_id


async def clean(conn: asyncpg.Connection) -> None:
    """Each method starts from empty tables (same index sizes), after a checkpoint."""
    await conn.execute("TRUNCATE tenants RESTART IDENTITY CASCADE")
    await conn.execute("VACUUM ANALYZE")
    await conn.execute("CHECKPOINT")


async def prepared_tenant(conn: asyncpg.Connection, records: list, name: str) -> tuple[int, int, list[tuple]]:
    """A tenant whose conversations and contacts (with their email keys) exist already; the message rows to insert."""
    tenant_id, user_id = await new_tenant(conn, name)
    threads = sorted({r.thread_key for r in records})
    people = sorted({r.counterpart_email for r in records})
    conversation_ids = dict(
        await conn.fetch(
            """INSERT INTO conversations (tenant_id, user_id, source, external_id)
           SELECT $1, $2, 'mbox', t FROM unnest($3::text[]) t RETURNING external_id, id""",
            tenant_id,
            user_id,
            threads,
        )
    )
    contact_ids = dict(
        await conn.fetch(
            "INSERT INTO contacts (tenant_id, full_name, emails) SELECT $1, e, ARRAY[e] FROM unnest($2::text[]) e RETURNING emails[1], id",
            tenant_id,
            people,
        )
    )
    await conn.execute(
        "INSERT INTO contact_keys (tenant_id, contact_id, kind, value) "
        "SELECT tenant_id, id, 'email', emails[1] FROM contacts WHERE tenant_id = $1",
        tenant_id,
    )
    await conn.execute("VACUUM ANALYZE")
    rows = [
        (
            tenant_id,
            conversation_ids[r.thread_key],
            contact_ids[r.counterpart_email],
            r.channel,
            r.direction,
            r.sent_at,
            r.subject,
            r.body,
            "mbox",
            r.external_id,
        )
        for r in records
    ]
    return tenant_id, user_id, rows


async def kith_rate(url: str, conn: asyncpg.Connection, tenant_id: int, user_id: int, records: list, batch_size: int):
    """Messages/s of the import's batch writer (kith.sync.batch_writer) on the records, then score the run."""
    run_id = await conn.fetchval(
        "INSERT INTO sync_runs (tenant_id, user_id, source) VALUES ($1, $2, 'mbox') RETURNING id", tenant_id, user_id
    )
    engine = create_async_engine(sqlalchemy_url(url))
    try:
        async with engine.connect() as sa_conn:
            sa_conn = await sa_conn.execution_options(isolation_level="AUTOCOMMIT")
            async with run_session(sa_conn, tenant_id):
                start = time.perf_counter()
                totals = await write_batches(
                    sa_conn, RunTarget(tenant_id, run_id, "mbox"), batches(records, batch_size), Totals()
                )
                rate = totals.inserted / (time.perf_counter() - start)
        start = time.perf_counter()
        changed = await score_sync_run(engine, run_id)
        return rate, changed, time.perf_counter() - start
    finally:
        await engine.dispose()


async def batches(records: list, batch_size: int):
    # The records are made before the clock starts, as the baselines' rows are.
    for i in range(0, len(records), batch_size):
        yield SourceBatch(records=records[i : i + batch_size])


async def copy_rate(conn: asyncpg.Connection, records: list) -> float:
    """Messages/s of one bare COPY of every row, into a tenant prepared like Kith's."""
    _, _, rows = await prepared_tenant(conn, records, "copy")
    start = time.perf_counter()
    await conn.copy_records_to_table("messages", records=rows, columns=COLUMNS)
    return len(rows) / (time.perf_counter() - start)


async def bench_methods(url: str, count: int, per_row: int, batch_size: int, repeats: int) -> None:
    records = list(messages(count))
    people, threads = len({r.counterpart_email for r in records}), len({r.thread_key for r in records})
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        print(
            f"ingest of {count:,} synthetic messages ({people:,} people, {threads:,} threads), batches of {batch_size:,}; "
            "each method from empty tables",
            flush=True,
        )

        await clean(conn)
        rows = (await prepared_tenant(conn, records, "per-row"))[2][:per_row]
        start = time.perf_counter()
        for row in rows:  # autocommit: a transaction per row, as the old importer did
            await conn.execute(INSERT, *row)
        rate = len(rows) / (time.perf_counter() - start)
        record("ingest.per_row", rate=rate)
        line(f"per-row INSERT (a commit per row; first {len(rows):,} rows)", f"{rate:>10,.0f} msg/s")

        await clean(conn)
        rows = (await prepared_tenant(conn, records, "executemany"))[2]
        start = time.perf_counter()
        for i in range(0, len(rows), batch_size):
            async with conn.transaction():
                await conn.executemany(INSERT + " ON CONFLICT DO NOTHING", rows[i : i + batch_size])
        rate = len(rows) / (time.perf_counter() - start)
        record("ingest.executemany", rate=rate)
        line(f"executemany (a transaction per {batch_size:,})", f"{rate:>10,.0f} msg/s")

        # Kith's path and the bare COPY take turns, so a slow moment of the machine hits both alike.
        kith, copy, scoring = [], [], []
        for _ in range(repeats):
            await clean(conn)
            tenant_id, user_id, _ = await prepared_tenant(conn, records, "kith")
            rate, changed, seconds = await kith_rate(url, conn, tenant_id, user_id, records, batch_size)
            kith.append(rate)
            scoring.append(seconds)
            await clean(conn)
            copy.append(await copy_rate(conn, records))
        spread = lambda rates: f"(runs: {', '.join(f'{r:,.0f}' for r in rates)})"  # noqa: E731
        line(
            "Kith batch path (3 statements per batch, the last a COPY)", f"{median(kith):>10,.0f} msg/s  {spread(kith)}"
        )
        line(f"  then scoring the run's {changed:,} contacts (one statement)", f"{median(scoring):>10.2f} s")
        line("bare COPY (one COPY of all rows)", f"{median(copy):>10,.0f} msg/s  {spread(copy)}")
        ratios = [k / c for k, c in zip(kith, copy, strict=False)]
        record("ingest.kith", rate=median(kith), runs=len(kith))
        record("ingest.copy", rate=median(copy), runs=len(copy))
        record("ingest.run_scoring", seconds=median(scoring), contacts=changed)
        line(
            "Kith / COPY (target ≥ 0.50)",
            f"{median(kith) / median(copy):>10.2f}  (each turn: {', '.join(f'{r:.2f}' for r in ratios)})",
        )

        await clean(conn)
        tenant_id, user_id = await new_tenant(conn, "kith-empty")
        rate, _, _ = await kith_rate(url, conn, tenant_id, user_id, records, batch_size)
        line(
            f"Kith batch path into an empty tenant (+ {people:,} contacts, {threads:,} conversations)",
            f"{rate:>10,.0f} msg/s",
        )
        await clean(conn)
    finally:
        await conn.close()


def vcards(count: int, *, title: str) -> bytes:
    return "".join(
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Person {n}\r\nEMAIL:person{n}@cards.example\r\nTEL:+1 555 {n:07d}\r\n"
        f"ORG:Company {n % 500}\r\nTITLE:{title}\r\nUID:card-{n}\r\nEND:VCARD\r\n"
        for n in range(count)
    ).encode()


async def bench_contacts(url: str, count: int, batch_size: int) -> None:
    """Cards/s of Kith's contact batches: new, matched and unchanged, matched and changed. The statistics
    predate the tenant (ANALYZE before its first import), as after any first large import."""
    print(f"vCard import of {count:,} cards, batches of {batch_size:,}", flush=True)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    engine = create_async_engine(sqlalchemy_url(url))
    try:
        await clean(conn)
        tenant_id, user_id = await new_tenant(conn, "cards")
        for key, label, data in (
            ("new", "new contacts", vcards(count, title="Engineer")),
            ("unchanged", "re-import, every card matched and unchanged", vcards(count, title="Engineer")),
            ("changed", "re-import, every card matched and changed", vcards(count, title="Manager")),
        ):
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
            record(f"ingest.cards.{key}", rate=count / seconds, inserted=totals.inserted, updated=totals.updated)
            line(
                f"{label} ({totals.inserted:,} inserted, {totals.updated:,} updated)",
                f"{count / seconds:>10,.0f} cards/s",
            )
        await clean(conn)
    finally:
        await engine.dispose()
        await conn.close()


# Runs `kith import` in the child and reports the child's own peak RSS. Not ru_maxrss: a child's
# ru_maxrss also counts the parent's pages it mapped between fork and exec; VmHWM belongs to the
# address space the exec created.
_CHILD = """
import atexit, sys
from pathlib import Path
atexit.register(lambda: print("VmHWM", Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0], file=sys.stderr))
from kith.cli import main
sys.argv = ["kith", *sys.argv[1:]]
main()
"""


def import_in_subprocess(url: str, path: Path, tenant: str) -> tuple[float, float]:
    """Peak RSS (MiB) and seconds of `kith import` of an mbox file, in its own process (into a new tenant:
    imports never create one)."""
    env = {**os.environ, "DATABASE_URL": url}
    created = subprocess.run(
        [sys.executable, "-m", "kith", "tenant", "create", tenant], env=env, capture_output=True, text=True
    )
    if created.returncode != 0:
        raise RuntimeError(f"kith tenant create failed: {created.stderr[-2000:]}")
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            "import",
            "--tenant",
            tenant,
            "--source",
            "mbox",
            str(path),
            "--me",
            OWN_ADDRESS,
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"kith import failed: {done.stderr[-2000:]}")
    peak_kib = int(done.stderr.rsplit("VmHWM", 1)[1].split()[0])
    return peak_kib / 1024, seconds


def bench_memory(url: str, small: int) -> None:
    print(
        "peak RSS of `kith import --source mbox` (parse, batch writes, score, refresh), a process per size", flush=True
    )
    with tempfile.TemporaryDirectory() as folder:
        peaks = []
        for count in (small, small * 10):
            path = Path(folder) / f"{count}.mbox"
            with open(path, "wb") as out:
                write_mbox(out, count, seed=7)
            peak, seconds = import_in_subprocess(url, path, f"rss-{count}")
            peaks.append(peak)
            record(f"ingest.rss.{'small' if count == small else 'large'}", mib=peak, messages=count, seconds=seconds)
            line(
                f"{count:,} messages ({path.stat().st_size / 2**20:,.0f} MiB mbox)",
                f"{peak:>7,.0f} MiB peak RSS  ({seconds:,.1f} s, {count / seconds:,.0f} msg/s end to end)",
            )
            path.unlink()
        line("10× the input → peak RSS ×", f"{peaks[1] / peaks[0]:>10.2f}")


async def bench_scoring(url: str, size: str) -> None:
    print(f"scoring a {size} tenant", flush=True)
    start = time.perf_counter()
    seeded = subprocess.run(
        [sys.executable, "-m", "kith", "seed", "--tenant", f"score-{size}", "--size", size],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
    )
    if seeded.returncode != 0:
        raise RuntimeError(f"kith seed --size {size} failed: {seeded.stderr.strip()[-500:]}")
    tenant_id = int(seeded.stdout.strip())
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM contacts WHERE tenant_id = $1) AS contacts, "
            "(SELECT count(*) FROM messages WHERE tenant_id = $1) AS messages",
            tenant_id,
        )
        await conn.execute("UPDATE contacts SET score = -1 WHERE tenant_id = $1", tenant_id)  # every score must change
        await conn.execute("VACUUM ANALYZE contacts")
    finally:
        await conn.close()
    line(
        f"seeded ({counts['contacts']:,} contacts, {counts['messages']:,} messages)",
        f"{time.perf_counter() - start:>10.1f} s",
    )
    engine = create_async_engine(sqlalchemy_url(url))
    try:
        start = time.perf_counter()
        changed = await rescore_tenant(engine, tenant_id)
        seconds = time.perf_counter() - start
        record("scoring.tenant", seconds=seconds, contacts=changed, messages=counts["messages"])
        line(f"rescore_tenant: one statement, {changed:,} contacts rewritten", f"{seconds:>10.2f} s")
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--per-row", type=int, default=20_000, help="rows for the per-row INSERT (it is slow)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="Kith's default")
    parser.add_argument("--repeats", type=int, default=3, help="turns of Kith's path and the bare COPY")
    parser.add_argument("--cards", type=int, default=50_000, help="contacts of the vCard import")
    parser.add_argument("--rss-messages", type=int, default=20_000, help="the smaller import; the larger is 10×")
    parser.add_argument("--score-size", choices=["tiny", "small", "medium", "large"], default="large")
    args = parser.parse_args()

    server = os.environ.get("DATABASE_URL") or sys.exit("set DATABASE_URL (its server hosts a scratch database)")
    name = f"kith_bench_ingest_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(with_database(server, "postgres")))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server, name)
    try:
        await upgrade_async(url)
        conn = await asyncpg.connect(asyncpg_dsn(url))
        print(
            f"PostgreSQL {await conn.fetchval('SHOW server_version')}, scratch database {name}, {os.cpu_count()} CPUs",
            flush=True,
        )
        await conn.close()
        bench_memory(url, args.rss_messages)
        await bench_methods(url, args.messages, args.per_row, args.batch_size, args.repeats)
        await bench_contacts(url, args.cards, args.batch_size)
        await bench_scoring(url, args.score_size)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
