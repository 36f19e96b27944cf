"""Reads on a streaming replica: listing requests/s with 1 vs 2 read targets, and what a read after a write costs.

Starts its own PostgreSQL primary and one streaming standby on 127.0.0.1 (tests/replication/streaming.py),
seeds a small tenant on the primary, and runs `kith serve` against it three ways, `--seconds` each:

  1 read target             no replicas: every read on the primary
  2 read targets            KITH_READ_REPLICA_URLS=the standby, KITH_PRIMARY_READS=1: reads alternate
  replica only              the standby serves the reads, the primary only what the standby cannot

Then, with the replica only: a write (POST /contacts) followed at once by a read that echoes its
X-Consistency-Token, against a plain read: the added latency of waiting for the replay (median,
p99), and the same with the standby's replay paused (the read waits KITH_REPLICA_WAIT, then the primary).
Everything is on one machine: the point is that reads spread and nothing breaks, not the absolute figure.

    uv run python loadtests/bench_replicas.py [--clients 16] [--seconds 10] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import asyncpg
import httpx

from figures import record
from kith.db.migrations import upgrade_async
from kith.db.urls import asyncpg_dsn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the primary and standby of the replica tests
from tests.replication.streaming import StreamingCluster, server_binaries

KITH = [sys.executable, "-m", "kith"]
TOKEN_HEADER = "X-Consistency-Token"
WAIT = 0.1  # KITH_REPLICA_WAIT for the run


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(url: str, data_dir: str, workers: int, extra: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "KITH_DATA_DIR": data_dir,
        "KITH_RATE_LIMIT_PER_ADDRESS": "10000000",
        "KITH_LIMITS_STORE": "memory",
        "KITH_REPLICA_WAIT": str(WAIT),
        **extra,
    }
    env.pop("REDIS_URL", None)
    server = subprocess.Popen(
        [*KITH, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                return server, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop(server)
    raise SystemExit("kith serve did not start within two minutes")


def stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, 15)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, 9)


async def listing_load(base: str, token: str, clients: int, seconds: float) -> tuple[int, Counter, list[float]]:
    statuses: Counter = Counter()
    latencies: list[float] = []
    until = time.monotonic() + seconds

    async def one_client() -> None:
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            while time.monotonic() < until:
                started = time.perf_counter()
                try:
                    response = await c.get("/api/v1/contacts", params={"limit": 20})
                    statuses[response.status_code] += 1
                    latencies.append(time.perf_counter() - started)
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1

    await asyncio.gather(*(one_client() for _ in range(clients)))
    return statuses.get(200, 0), statuses, latencies


async def read_after_write(base: str, token: str, rounds: int) -> tuple[list[float], list[float]]:
    """Latency of a read echoing a write's token just made, and of a plain read, taking turns."""
    after_write, plain = [], []
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        for i in range(rounds):
            created = await c.post("/api/v1/contacts", json={"full_name": f"Bench {i}"})
            assert created.status_code == 201, created.text
            started = time.perf_counter()
            read = await c.get(
                "/api/v1/contacts", params={"limit": 20}, headers={TOKEN_HEADER: created.headers[TOKEN_HEADER]}
            )
            after_write.append(time.perf_counter() - started)
            assert read.status_code == 200
            await asyncio.sleep(0.05)  # the replica catches up: the next plain read has nothing to wait for
            started = time.perf_counter()
            assert (await c.get("/api/v1/contacts", params={"limit": 20})).status_code == 200
            plain.append(time.perf_counter() - started)
    return after_write, plain


def ms(values: list[float], q: float) -> float:
    if len(values) < 2:
        return float("nan")
    return statistics.quantiles(values, n=100)[int(q * 100) - 1] * 1000


async def sql(url: str, query: str):
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=1, help="kith serve --workers")
    parser.add_argument("--rounds", type=int, default=100, help="write-then-read rounds")
    args = parser.parse_args()
    binaries = server_binaries()
    if binaries is None:
        raise SystemExit("no PostgreSQL server programs (initdb, pg_ctl, pg_basebackup, postgres) found")
    cluster = StreamingCluster(binaries)
    data_dir = str(cluster.root / "kith")
    try:
        primary = cluster.start_primary()
        await sql(primary.url(), "CREATE DATABASE kith")
        url = primary.url("kith")
        await upgrade_async(url)
        env = {**os.environ, "DATABASE_URL": url, "KITH_DATA_DIR": data_dir}
        subprocess.run(
            [*KITH, "seed", "--tenant", "bench", "--size", "small"], env=env, check=True, capture_output=True
        )
        token = subprocess.run(
            [*KITH, "token", "create", "--tenant", "bench"], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        await sql(url, "UPDATE plans SET requests_per_minute = 10000000")
        standby = cluster.add_standby()
        replica = {"KITH_READ_REPLICA_URLS": standby.url("kith")}

        rows = []
        for label, extra in (
            ("1 read target", {}),
            ("2 read targets", {**replica, "KITH_PRIMARY_READS": "1"}),
            ("replica only", replica),
        ):
            # The page cache is off when replicas are configured: off in every phase, so they compare alike.
            server, base = serve(url, data_dir, args.workers, {**extra, "KITH_PAGE_CACHE_BYTES": "0"})
            try:
                await listing_load(base, token, args.clients, 1)  # warm-up
                ok, statuses, latencies = await listing_load(base, token, args.clients, args.seconds)
            finally:
                stop(server)
            failed = sum(n for status, n in statuses.items() if status != 200)
            record(
                "replicas." + label.replace(" ", "_"),
                rps=ok / args.seconds,
                median=ms(latencies, 0.5),
                p99=ms(latencies, 0.99),
                failed=failed,
            )
            rows.append(
                f"{label:<16} {ok / args.seconds:>8.0f} {ms(latencies, 0.5):>8.1f} {ms(latencies, 0.99):>8.1f} {failed:>7}"
            )

        server, base = serve(url, data_dir, args.workers, replica)
        try:
            after, plain = await read_after_write(base, token, args.rounds)
            await sql(standby.url("kith"), "SELECT pg_wal_replay_pause()")
            paused_after, _ = await read_after_write(base, token, max(10, args.rounds // 5))
            await sql(standby.url("kith"), "SELECT pg_wal_replay_resume()")
        finally:
            stop(server)
    finally:
        cluster.stop()

    load = os.getloadavg()
    print(
        f"listing page of 20, {args.clients} clients, {args.seconds:.0f} s each, kith serve --workers {args.workers}; "
        f"load average {load[0]:.1f} on {os.cpu_count()} cores"
    )
    print(f"{'reads on':<16} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}")
    print("\n".join(rows))
    print(f"\nread right after a write (token echoed), replica only, {args.rounds} rounds; KITH_REPLICA_WAIT={WAIT}")
    print(f"{'read':<32} {'p50 ms':>8} {'p99 ms':>8}")
    record("replicas.read_plain", median=ms(plain, 0.5), p99=ms(plain, 0.99))
    record("replicas.read_after_write", median=ms(after, 0.5), p99=ms(after, 0.99))
    record("replicas.read_after_write_paused", median=ms(paused_after, 0.5), p99=ms(paused_after, 0.99))
    print(f"{'plain (nothing to wait for)':<32} {ms(plain, 0.5):>8.1f} {ms(plain, 0.99):>8.1f}")
    print(f"{'after a write, replaying':<32} {ms(after, 0.5):>8.1f} {ms(after, 0.99):>8.1f}")
    print(f"{'after a write, replay paused':<32} {ms(paused_after, 0.5):>8.1f} {ms(paused_after, 0.99):>8.1f}")


if __name__ == "__main__":
    asyncio.run(main())
