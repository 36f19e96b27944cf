"""A bad-token flood beside good clients: good clients' latency and the 429s, with and without the failed-auth budget.

Starts `kith serve` (one process) on 127.0.0.1 against a fresh database on the
DATABASE_URL server, seeds a small tenant and gives each good client a token.
Good clients connect from 127.0.0.1, bad ones (random tokens) from 127.0.0.2,
so each side is one client address, as behind two NATs. Four phases of
`--seconds` each, side by side (each after a one-second warm-up in which every
good client makes its first requests):

  good only                 the baseline
  flood, budget on          KITH_AUTH_FAILURES_PER_ADDRESS=20 (the default): after 20 failures
                            the bad address gets 429 without a database query
  flood, budget off         the same flood when every bad token costs a look-up
  flood, same address       the flood from the good clients' own address (one NAT), budget on:
                            the good tokens the process verified pass, the bad ones get 429

Per-address and per-token rate limits are raised for the run, so that what is
measured is the failed-auth budget (the good clients run flat out).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres uv run python loadtests/bench_abuse.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import asyncpg
import httpx

from figures import record
from kith.auth.service import create_token
from kith.db.migrations import upgrade_async
from kith.db.session import standalone_session
from kith.db.urls import asyncpg_dsn, with_database

KITH = [sys.executable, "-m", "kith"]
GOOD_ADDRESS, BAD_ADDRESS = "127.0.0.1", "127.0.0.2"


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def client_loop(base: str, token: str, address: str, until: float, tally: Tally) -> None:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, transport=transport, headers=headers, timeout=30) as client:
        while time.monotonic() < until:
            started = time.perf_counter()
            try:
                response = await client.get("/api/v1/contacts", params={"limit": 20})
                tally.statuses[response.status_code] += 1
            except httpx.HTTPError as exc:
                tally.statuses[type(exc).__name__] += 1
                continue
            tally.latencies.append(time.perf_counter() - started)


def p(latencies: list[float], q: float) -> float:
    if len(latencies) < 2:
        return float("nan")
    return statistics.quantiles(latencies, n=1000)[int(q * 1000) - 1] * 1000


async def phase(
    base: str, good_tokens: list[str], bad_clients: int, seconds: float, bad_address: str = BAD_ADDRESS
) -> tuple[Tally, Tally]:
    until = time.monotonic() + seconds
    good, bad = Tally(), Tally()
    tasks = [client_loop(base, t, GOOD_ADDRESS, until, good) for t in good_tokens]
    tasks += [
        client_loop(base, "kith_" + secrets.token_urlsafe(32), bad_address, until, bad) for _ in range(bad_clients)
    ]
    await asyncio.gather(*tasks)
    return good, bad


def serve(database_url: str, data_dir: str, auth_failures: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KITH_DATA_DIR": data_dir,
        "KITH_AUTH_FAILURES_PER_ADDRESS": str(auth_failures),
        "KITH_RATE_LIMIT_PER_ADDRESS": "10000000",
        "KITH_LIMITS_STORE": "memory",
    }
    server = subprocess.Popen(
        [*KITH, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return server, base
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("kith serve did not start")


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


async def prepare(server_url: str, data_dir: str, good_clients: int, size: str) -> tuple[str, list[str]]:
    name = f"kith_bench_abuse_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(with_database(server_url, "postgres")))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = with_database(server_url, name)
    await upgrade_async(url)
    env = {**os.environ, "DATABASE_URL": url, "KITH_DATA_DIR": data_dir}
    subprocess.run([*KITH, "seed", "--tenant", "bench", "--size", size], env=env, check=True, capture_output=True)
    async with standalone_session(url) as session:
        tokens = [await create_token(session, "bench") for _ in range(good_clients)]
    conn = await asyncpg.connect(asyncpg_dsn(url))
    await conn.execute("UPDATE plans SET requests_per_minute = 10000000")
    await conn.close()
    return url, tokens


async def drop(server_url: str, url: str) -> None:
    admin = await asyncpg.connect(asyncpg_dsn(with_database(server_url, "postgres")))
    await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    await admin.close()


def row(label: str, good: Tally, bad: Tally, seconds: float) -> str:
    ok = good.statuses.get(200, 0)
    return (
        f"{label:<20} {ok / seconds:>8.0f} {p(good.latencies, 0.5):>8.1f} {p(good.latencies, 0.99):>8.1f} "
        f"{good.statuses.get(429, 0):>9} {sum(bad.statuses.values()):>9} {bad.statuses.get(401, 0):>8} "
        f"{bad.statuses.get(429, 0):>8}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--good", type=int, default=50, help="good clients (each its own token)")
    parser.add_argument("--bad", type=int, default=50, help="bad-token clients")
    parser.add_argument("--seconds", type=float, default=15, help="length of each phase")
    parser.add_argument("--size", choices=["tiny", "small"], default="small", help="the good clients' tenant")
    args = parser.parse_args()
    server_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    data_dir = f"/tmp/kith-bench-abuse-{os.getpid()}"
    url, tokens = await prepare(server_url, data_dir, args.good, args.size)
    lines = []
    try:
        for label, auth_failures, bad_clients, bad_address in (
            ("good only", 20, 0, BAD_ADDRESS),
            ("flood, budget on", 20, args.bad, BAD_ADDRESS),
            ("flood, budget off", 10**9, args.bad, BAD_ADDRESS),
            ("flood, same address", 20, args.bad, GOOD_ADDRESS),
        ):
            server, base = serve(url, data_dir, auth_failures)
            try:
                await phase(base, tokens, 0, 1)  # warm-up: connections, plan cache, every good token seen once
                good, bad = await phase(base, tokens, bad_clients, args.seconds, bad_address)
            finally:
                stop(server)
            lines.append(row(label, good, bad, args.seconds))
            record(
                "abuse." + label.replace(", ", "_").replace(" ", "_"),
                good_rps=good.statuses.get(200, 0) / args.seconds,
                p99=p(good.latencies, 0.99),
                good_429=good.statuses.get(429, 0),
            )
    finally:
        await drop(server_url, url)
    print(
        f"{args.good} good clients ({GOOD_ADDRESS}), {args.bad} bad-token clients ({BAD_ADDRESS}), {args.seconds:.0f} s each"
    )
    print(
        f"{'phase':<20} {'good/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'good 429':>9} {'bad reqs':>9} {'bad 401':>8} {'bad 429':>8}"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
