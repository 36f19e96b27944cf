"""Reads on real streaming replicas (kith.db.replicas): read-your-writes, the rotation, a replica killed.

A primary and two standbys of it run on 127.0.0.1 (tests/replication/streaming.py). Two apps stand for
two API processes: `a` writes, `b` knows nothing of `a`'s writes but what the client echoes.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from tests.replication.streaming import Server, StreamingCluster, server_binaries

from kith.app import create_app
from kith.auth.service import create_token, get_or_create_owner, get_or_create_tenant
from kith.config import get_settings
from kith.db.migrations import upgrade_async
from kith.db.replicas import TOKEN_HEADER
from kith.db.session import standalone_session
from kith.db.urls import asyncpg_dsn
from kith.readmodels.coalesced_refresh import refresh_all
from kith.readmodels.models import CONTACT_CARDS

BINARIES = server_binaries()
pytestmark = pytest.mark.skipif(
    BINARIES is None,
    reason="no PostgreSQL server programs (initdb, pg_ctl, pg_basebackup, postgres) to start a streaming standby",
)

MAX_LAG = 4.0  # long enough for a test to read from a paused replica before it leaves the rotation
SETTINGS = {
    "KITH_REPLICA_MAX_LAG": str(MAX_LAG),
    "KITH_REPLICA_CHECK_INTERVAL": "0.1",
    "KITH_REPLICA_WAIT": "0.3",
}


async def sql(url: str, query: str):
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"not within {seconds} s"
        await asyncio.sleep(0.05)


class Pair:
    def __init__(self, cluster: StreamingCluster, database: str) -> None:
        self.cluster = cluster
        self.database = database
        assert cluster.primary is not None
        self.primary_url = cluster.primary.url(database)
        self.one, self.two = cluster.standbys

    def url(self, server: Server) -> str:
        return server.url(self.database)

    async def pause(self, *standbys: Server) -> None:
        for standby in standbys:
            await sql(self.url(standby), "SELECT pg_wal_replay_pause()")

    async def resume(self, *standbys: Server) -> None:
        for standby in standbys:
            await sql(self.url(standby), "SELECT pg_wal_replay_resume()")

    async def caught_up(self, standby: Server) -> bool:
        primary = await sql(self.primary_url, "SELECT pg_current_wal_flush_lsn()::text")
        return await sql(self.url(standby), f"SELECT pg_last_wal_replay_lsn() >= '{primary}'::pg_lsn")


@pytest.fixture(scope="module")
async def pair() -> AsyncIterator[Pair]:
    assert BINARIES is not None
    cluster = StreamingCluster(BINARIES)
    try:
        cluster.start_primary()
        database = "kith"
        await sql(cluster.primary.url(), f'CREATE DATABASE "{database}"')
        await upgrade_async(cluster.primary.url(database))
        cluster.add_standby()
        cluster.add_standby()
        yield Pair(cluster, database)
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
async def apps(pair: Pair) -> AsyncIterator[tuple[AsyncTestClient, AsyncTestClient]]:
    env = {**SETTINGS, "KITH_READ_REPLICA_URLS": f"{pair.url(pair.one)},{pair.url(pair.two)}"}
    previous = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        async with (
            AsyncTestClient(app=create_app(pair.primary_url)) as a,
            AsyncTestClient(app=create_app(pair.primary_url)) as b,
        ):
            yield a, b
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


@pytest.fixture
async def headers(pair: Pair) -> AsyncIterator[dict[str, str]]:
    async with standalone_session(pair.primary_url) as session:
        tenant = await get_or_create_tenant(session, f"t-{uuid.uuid4().hex[:8]}")
        await get_or_create_owner(session, tenant)
        token = await create_token(session, tenant.name)
    for standby in (pair.one, pair.two):  # the tenant is on both before a test starts
        await eventually(lambda s=standby: pair.caught_up(s))
    yield {"Authorization": f"Bearer {token}"}
    await pair.resume(pair.one, pair.two)


async def names(client: AsyncTestClient, headers: dict[str, str]) -> set[str]:
    response = await client.get("/api/v1/contacts", params={"limit": 100}, headers=headers)
    assert response.status_code == 200, response.text
    return {item["full_name"] for item in response.json()["items"]}


async def create(client: AsyncTestClient, headers: dict[str, str], name: str) -> str:
    response = await client.post("/api/v1/contacts", json={"full_name": name}, headers=headers)
    assert response.status_code == 201, response.text
    return response.headers[TOKEN_HEADER]


async def replica_reads(client: AsyncTestClient) -> dict[tuple[str, str], float]:
    """kith_replica_reads_total by (server, reason), from /metrics."""
    text = (await client.get("/metrics")).text
    counts = {}
    for labels, value in re.findall(r"^kith_replica_reads_total\{([^}]*)\} (\S+)$", text, re.MULTILINE):
        label = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        counts[label["server"], label["reason"]] = float(value)
    return counts


async def ready_replicas(client: AsyncTestClient) -> dict[str, dict]:
    response = await client.get("/ready")
    assert response.status_code == 200, response.text
    return {replica["name"]: replica for replica in response.json()["replicas"]}


def name_of(server: Server) -> str:
    return f"127.0.0.1:{server.port}/kith"


async def test_a_write_is_in_the_next_read_while_the_replicas_replay_nothing(pair, apps, headers):
    a, b = apps
    await pair.pause(pair.one, pair.two)
    token = await create(a, headers, "Ada")

    # The writing process knows its tenant's last write: the read waits, then takes the primary.
    assert "Ada" in await names(a, headers)
    # Another process knows only what the client echoes. Without it the replicas serve the read (they
    # have not replayed the write: the reads really go to them); with it, the primary does.
    assert "Ada" not in await names(b, headers)
    assert "Ada" in await names(b, {**headers, TOKEN_HEADER: token})

    await pair.resume(pair.one, pair.two)

    async def replicas_have_it() -> bool:
        return "Ada" in await names(b, headers)

    await eventually(replicas_have_it)


async def test_one_replica_caught_up_says_nothing_about_the_other(pair, apps, headers):
    a, b = apps
    await pair.pause(pair.one)
    token = await create(a, headers, "Grace")
    await eventually(lambda: pair.caught_up(pair.two))
    before = await replica_reads(b)

    # Every read carrying the token sees the write, though the rotation still holds the paused replica
    # (reads without the token prove it: some of them are served by it and miss the write).
    for _ in range(6):
        assert "Grace" in await names(b, {**headers, TOKEN_HEADER: token})
    assert "Grace" not in set.intersection(*[await names(b, headers) for _ in range(6)])

    after = await replica_reads(b)
    caught_up = (name_of(pair.two), "caught up")
    assert after.get(caught_up, 0) - before.get(caught_up, 0) == 6  # the replica that has it served them all
    assert after.get((name_of(pair.one), "caught up"), 0) == before.get((name_of(pair.one), "caught up"), 0)


async def test_a_replica_lagging_past_the_limit_leaves_the_rotation_and_comes_back(pair, apps, headers):
    a, b = apps
    await pair.pause(pair.one)
    await create(a, headers, "Barbara")  # WAL the paused replica does not replay

    async def lagging() -> bool:
        return (await ready_replicas(b))[name_of(pair.one)]["status"] == "lagging"

    await eventually(lagging)
    state = (await ready_replicas(b))[name_of(pair.one)]
    assert state["lag_seconds"] > MAX_LAG and state["lag_bytes"] > 0

    async def reported_out() -> bool:  # both apps' checks set the one gauge of this test process
        metrics = (await b.get("/metrics")).text
        lag = re.search(rf'kith_replica_lag_seconds\{{replica="{re.escape(name_of(pair.one))}"\}} (\S+)', metrics)
        out = f'kith_replica_in_rotation{{replica="{name_of(pair.one)}"}} 0.0' in metrics
        return out and lag is not None and float(lag.group(1)) > MAX_LAG

    await eventually(reported_out)
    # Out of the rotation, it serves nothing: every read without a token now sees the write.
    for _ in range(4):
        assert "Barbara" in await names(b, headers)

    await pair.resume(pair.one)

    async def back() -> bool:
        return (await ready_replicas(b))[name_of(pair.one)]["status"] == "in rotation"

    await eventually(back)


async def test_killing_a_replica_fails_no_request(pair, apps, headers):
    _, b = apps
    await create(apps[0], headers, "Katherine")
    await eventually(lambda: pair.caught_up(pair.two))
    # Reads one after another (the test client serves one request at a time) while the replica dies: each
    # a page not kept yet (its own limit), so each runs its statement; paced under the plan's 600 a minute.
    killer = threading.Timer(0.3, pair.cluster.kill, (pair.two,))
    killer.start()
    statuses: list[int] = []
    until = time.monotonic() + 2.0
    while time.monotonic() < until:
        limit = 1 + len(statuses) % 200
        statuses.append((await b.get("/api/v1/contacts", params={"limit": limit}, headers=headers)).status_code)
        await asyncio.sleep(0.01)
    killer.join()
    assert len(statuses) > 4 and set(statuses) == {200}, statuses

    assert (await ready_replicas(b))[name_of(pair.two)]["status"] == "unreachable"
    await asyncio.to_thread(pair.cluster.start, pair.two)

    async def back() -> bool:
        return (await ready_replicas(b))[name_of(pair.two)]["status"] == "in rotation"

    await eventually(back, seconds=30)


async def test_as_of_is_the_refresh_the_serving_replica_has(pair, apps, headers):
    _, b = apps
    await refresh_all(pair.primary_url, models=(CONTACT_CARDS,))
    await eventually(lambda: pair.caught_up(pair.one))
    await eventually(lambda: pair.caught_up(pair.two))
    replicated = (await b.get("/api/v1/contacts", headers=headers)).headers["X-Data-As-Of"]

    await pair.pause(pair.one, pair.two)
    await refresh_all(pair.primary_url, models=(CONTACT_CARDS,))
    tenant_id = await sql(pair.primary_url, "SELECT max(id) FROM tenants")  # the test's tenant: the newest
    cards = CONTACT_CARDS.slice_of(tenant_id).relation
    newer = await sql(pair.primary_url, f"SELECT as_of FROM view_refreshes WHERE view_name = '{cards}'")
    assert (await b.get("/api/v1/contacts", headers=headers)).headers["X-Data-As-Of"] == replicated

    await pair.resume(pair.one, pair.two)

    async def refreshed_everywhere() -> bool:
        as_of = (await b.get("/api/v1/contacts", headers=headers)).headers["X-Data-As-Of"]
        return as_of != replicated

    await eventually(refreshed_everywhere)
    served = (await b.get("/api/v1/contacts", headers=headers)).headers["X-Data-As-Of"]
    assert served.startswith(newer.strftime("%Y-%m-%dT%H:%M:%S"))


async def test_a_malformed_token_is_a_400_problem(apps, headers):
    _, b = apps
    response = await b.get("/api/v1/contacts", headers={**headers, TOKEN_HEADER: "0/zz"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert TOKEN_HEADER in response.json()["detail"]
