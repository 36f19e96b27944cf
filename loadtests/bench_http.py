"""Kith's page over HTTP beside the floor and a hand-tuned peer, side by side in one run.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/kith_bench [REDIS_URL=redis://127.0.0.1:6379/K] \\
        uv run python loadtests/bench_http.py --tenant medium [--seconds 5] [--rounds 3] [--workers 1]

Servers (all on 127.0.0.1, each with `--workers N`, stopped at the end):
- floor: a Litestar handler returning Kith's first page from memory (loadtests/floor_app.py);
- peer: hand-tuned Litestar + asyncpg + msgspec, one keyset statement, no auth (loadtests/peers/);
- FastAPI + SQLAlchemy ORM + pydantic paging with OFFSET and `COUNT(*)` (loadtests/peers/fastapi_offset.py),
  the stack a user would otherwise pick, walking the same positions by page number;
- Kith with the memory limits store, and with the Redis one when REDIS_URL is set.

Scenarios (wrk, one thread, `--concurrency` connections, `--seconds` each; the order rotates every round):
- walk: pages at distinct positions of `contacts?sort=score` (cursors minted for rows spread over the
  whole tenant), so no page repeats within a run: what a cache cannot help;
- repeat: pages 1–20 of the walk by cursor, over and over (unchanged data);
- 304: the same with `If-None-Match` of each page's ETag.
Medians over the rounds of req/s and of wrk's p99 latency are printed, with the ratios the issue
names. Rate limits are lifted for the run (the tenant's plan and the per-address limit; the plan's
rate is put back at the end), so every answer is a page, never a 429. The machine is shared: quote
its load (printed) with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import msgspec

from figures import record
from kith.db.urls import asyncpg_dsn
from kith.pagination.cursor import Binding, CursorCodec, Position

HERE = Path(__file__).resolve().parent
LIFTED = 1_000_000_000
WALK_PAGES = 20_000
REPEAT_PAGES = 20


@dataclass
class Server:
    name: str
    port: int
    args: list[str]
    env: dict[str, str]
    process: subprocess.Popen | None = None
    log: typing.IO[str] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # Its errors go to a file, shown if it never comes up.
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 -- open while the server runs, closed by stop()
            "w+", prefix=f"bench-http-{self.name}-", suffix=".log"
        )
        self.process = subprocess.Popen(self.args, env=self.env, stdout=subprocess.DEVNULL, stderr=self.log)

    def log_tail(self) -> str:
        if self.log is None:
            return ""
        self.log.seek(0)
        return "".join(self.log.readlines()[-15:])

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log is not None:
            self.log.close()


@dataclass
class Scenario:
    name: str
    key: str  # the figure's key for bench.py (http.<key>)
    server: Server
    requests: list[tuple[str, dict[str, str]]]  # path, extra headers
    rps: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    errors: int = 0


async def wait_until_up(url: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(url)).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)
    raise SystemExit(f"server at {url} did not come up")


def lua_script(requests: list[tuple[str, dict[str, str]]], headers: dict[str, str]) -> str:
    """Cycle through `requests`; wrk.format takes a request's headers instead of wrk.headers, so each
    request's table holds the common ones too."""

    def table(extra: dict[str, str]) -> str:
        return "{" + ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in {**headers, **extra}.items()) + "}"

    lines = ["reqs = {", *(f"  {{{lua_string(path)}, {table(extra)}}}," for path, extra in requests), "}"]
    lines.append(
        'i = 0\nrequest = function()\n  i = i % #reqs + 1\n  return wrk.format("GET", reqs[i][1], reqs[i][2])\nend'
    )
    return "\n".join(lines) + "\n"


def lua_string(value: str) -> str:
    """`value` as a Lua string literal. An ETag holds double quotes: written bare, they made the script a
    syntax error, which wrk reports on stderr and then ignores, sending `GET /` instead of the script's
    requests (the 304 figures measured the web client's page)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def free_port() -> int:
    """A port nobody listens on now (the machine is shared: fixed ports meet other people's servers)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(scenario: Scenario, headers: dict[str, str], seconds: float, concurrency: int) -> None:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(lua_script(scenario.requests, headers))
    try:
        done = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{concurrency}",
                f"-d{int(seconds)}s",
                "--latency",
                "-s",
                str(script),
                scenario.server.base,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        script.unlink()
    if str(script) in done.stderr:  # wrk reports a script it cannot load, then runs without it
        raise SystemExit(f"{scenario.name}: wrk did not load its script: {done.stderr.strip()}")
    out = done.stdout
    scenario.rps.append(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scenario.p99_ms.append(float(p99.group(1)) * _UNITS[p99.group(2)])
    if errors := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        scenario.errors += int(errors.group(1))
    if errors := re.search(r"Socket errors: (.*)", out):
        scenario.errors += sum(int(n) for n in re.findall(r"\d+", errors.group(1)))


async def wait_for_quiet_database(conn: asyncpg.Connection, timeout: float = 180.0) -> float:
    """Wait until no other statement runs in the benchmark's database; the seconds waited.

    A server keeps answering requests wrk gave up on: the OFFSET/COUNT(*) peer's run leaves queued
    statements that took the CPU from whichever scenario came next (always the same one, since the
    rotation keeps the order's neighbours: it made Kith with the memory limits store look 6× slower
    than with Redis)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        busy = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND state = 'active' AND pid <> pg_backend_pid()"
        )
        if not busy:
            break
        await asyncio.sleep(0.2)
    return time.monotonic() - started


def kith_cursor(codec: CursorCodec, tenant_id: int, score: float, contact_id: int) -> str:
    return codec.encode(Position("next", (score, contact_id)), Binding(tenant_id, "contacts", "score", {}))


def peer_cursor(score: float, contact_id: int) -> str:
    return base64.urlsafe_b64encode(msgspec.msgpack.encode([score, contact_id])).rstrip(b"=").decode()


async def repeat_requests(base: str, headers: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    """Pages 1..REPEAT_PAGES by cursor, each with the ETag it was served with."""
    requests, cursor = [], None
    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        for _ in range(REPEAT_PAGES):
            response = await client.get(
                "/api/v1/contacts", params={"limit": 50, **({"cursor": cursor} if cursor else {})}
            )
            response.raise_for_status()
            if "etag" not in response.headers:
                raise SystemExit(
                    f"{base}: page without an ETag: {response.status_code} {dict(response.headers)} {response.text[:300]}"
                )
            requests.append((str(response.request.url.raw_path, "ascii"), {"If-None-Match": response.headers["etag"]}))
            if not (cursor := response.json()["next_cursor"]):
                break
    return requests


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenant", default="medium")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("set DATABASE_URL to the database holding the tenant")
    if not shutil.which("wrk"):
        raise SystemExit("needs wrk (apt-get install wrk): a C client that does not compete for the CPU like httpx")

    secret = os.environ.get("KITH_SECRET_KEY") or base64.urlsafe_b64encode(os.urandom(32)).decode()
    env = {
        **os.environ,
        "KITH_SECRET_KEY": secret,
        "KITH_RATE_LIMIT_PER_ADDRESS": str(LIFTED),
        "KITH_LOG_FORMAT": "text",
    }
    conn = await asyncpg.connect(asyncpg_dsn(os.environ["DATABASE_URL"]))
    tenant_id = await conn.fetchval("SELECT id FROM tenants WHERE name = $1", args.tenant)
    if tenant_id is None:
        raise SystemExit(f"no tenant {args.tenant!r}: kith seed --tenant {args.tenant} --size medium")
    plan = await conn.fetchrow(
        "SELECT p.id, p.requests_per_minute FROM tenants t JOIN plans p ON p.id = t.plan_id OR (t.plan_id IS NULL AND p.is_default) WHERE t.id = $1",
        tenant_id,
    )
    rows = await conn.fetch(
        "SELECT score, id FROM contact_cards WHERE tenant_id = $1 ORDER BY score DESC, id DESC", tenant_id
    )
    step = max(1, len(rows) // WALK_PAGES)
    positions = [(r["score"], r["id"]) for r in rows[::step]][:WALK_PAGES]
    token = subprocess.run(
        [sys.executable, "-m", "kith", "token", "create", "--tenant", args.tenant],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}

    workers = ["--workers", str(args.workers)]
    uvicorn = [
        sys.executable,
        "-m",
        "uvicorn",
        "--host",
        "127.0.0.1",
        "--log-level",
        "warning",
        "--no-access-log",
        *workers,
    ]
    body_file = Path(tempfile.mkstemp(suffix=".json")[1])
    kith_stores = ["memory", *(["redis"] if os.environ.get("REDIS_URL") else [])]
    ports = {name: free_port() for name in ("floor", "peer", "fastapi", *kith_stores)}
    kiths = [
        Server(
            f"Kith ({store} limits)",
            ports[store],
            [sys.executable, "-m", "kith", "serve", "--port", str(ports[store]), *workers],
            {**env, "KITH_LIMITS_STORE": store, "KITH_LIMITS_NAMESPACE": f"kith_bench_{os.getpid()}"},
        )
        for store in kith_stores
    ]
    floor = Server(
        "floor",
        ports["floor"],
        [*uvicorn, "--port", str(ports["floor"]), "--app-dir", str(HERE), "floor_app:app"],
        {**env, "FLOOR_BODY_FILE": str(body_file)},
    )
    peer = Server(
        "peer",
        ports["peer"],
        [*uvicorn, "--port", str(ports["peer"]), "--app-dir", str(HERE / "peers"), "keyset_app:app"],
        {**env, "PEER_DATABASE_URL": asyncpg_dsn(os.environ["DATABASE_URL"]), "PEER_TENANT_ID": str(tenant_id)},
    )
    fastapi = Server(
        "FastAPI + ORM, OFFSET",
        ports["fastapi"],
        [*uvicorn, "--port", str(ports["fastapi"]), "--app-dir", str(HERE / "peers"), "fastapi_offset:app"],
        {**env, "PEER_TENANT_ID": str(tenant_id)},
    )
    await conn.execute("UPDATE plans SET requests_per_minute = $1 WHERE id = $2", LIFTED, plan["id"])
    try:
        for server in kiths:
            server.start()
        peer.start()
        fastapi.start()
        for server in (*kiths, peer, fastapi):
            try:
                await wait_until_up(f"{server.base}/api/v1/contacts?limit=1")
            except SystemExit as stopped:
                raise SystemExit(f"{server.name}: {stopped}\n{server.log_tail()}") from None
        async with httpx.AsyncClient() as client:
            first = await client.get(f"{kiths[0].base}/api/v1/contacts", params={"limit": 50}, headers=headers)
        body_file.write_bytes(first.content)
        floor.start()
        await wait_until_up(f"{floor.base}/api/v1/contacts")

        codec = CursorCodec(secret)
        scenarios = [
            Scenario("floor (the first page from memory)", "floor", floor, [("/api/v1/contacts", {})]),
            Scenario(
                "peer walk (hand-tuned, no auth)",
                "peer_walk",
                peer,
                [(f"/api/v1/contacts?limit=50&cursor={peer_cursor(*p)}", {}) for p in positions],
            ),
            Scenario(
                "FastAPI + ORM walk (OFFSET and COUNT(*), no auth)",
                "fastapi_offset",
                fastapi,
                [(f"/api/v1/contacts?page={i * step // 50 + 1}", {}) for i in range(len(positions))],
            ),
        ]
        for server, store in zip(kiths, kith_stores, strict=True):
            suffix = "" if store == "memory" else f"_{store}"  # http.kith_walk: the memory store, as before
            repeat = await repeat_requests(server.base, headers)
            scenarios += [
                Scenario(
                    f"{server.name} walk",
                    f"kith_walk{suffix}",
                    server,
                    [(f"/api/v1/contacts?limit=50&cursor={kith_cursor(codec, tenant_id, *p)}", {}) for p in positions],
                ),
                Scenario(f"{server.name} repeat", f"kith_repeat{suffix}", server, [(path, {}) for path, _ in repeat]),
                Scenario(f"{server.name} 304", f"kith_304{suffix}", server, repeat),
            ]
        load = os.getloadavg()
        waited = 0.0
        for round_number in range(args.rounds):
            shift = round_number % len(scenarios)
            for scenario in scenarios[shift:] + scenarios[:shift]:
                waited += await wait_for_quiet_database(conn)
                run_wrk(scenario, headers, args.seconds, args.concurrency)
    finally:
        await conn.execute(
            "UPDATE plans SET requests_per_minute = $1 WHERE id = $2", plan["requests_per_minute"], plan["id"]
        )
        await conn.close()
        for server in (*kiths, peer, fastapi, floor):
            server.stop()
        body_file.unlink(missing_ok=True)

    floor_rps = statistics.median(scenarios[0].rps)
    peer_rps = statistics.median(scenarios[1].rps)
    print(
        f"contacts by score, 50 a page ({len(first.content):,} bytes), tenant {args.tenant!r} ({len(rows):,} contacts); "
        f"wrk -t1 -c{args.concurrency}, {args.seconds:.0f} s × {args.rounds} rounds (order rotating), "
        f"--workers {args.workers} each; load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        f"on {os.cpu_count()} CPUs (shared machine); {waited:.0f} s waited in all for the database to be quiet"
        " before a scenario"
    )
    print(f"{'':44} {'req/s':>8} {'p99 ms':>8} {'/floor':>7} {'/peer':>7} {'errors':>7}")
    for s in scenarios:
        rps = statistics.median(s.rps)
        print(
            f"{s.name:44} {rps:8.0f} {statistics.median(s.p99_ms):8.1f} {rps / floor_rps:7.0%} {rps / peer_rps:6.2f}× {s.errors:7}"
        )
    print("goals: walk ≥ 1.00× peer (p99 no worse); repeat ≥ 50% of floor; 304 ≥ 70% of floor")
    for s in scenarios:
        record(f"http.{s.key}", rps=statistics.median(s.rps), p99=statistics.median(s.p99_ms), errors=s.errors)


if __name__ == "__main__":
    asyncio.run(main())
