"""Rate limits per token (the plan's rate) and per address; the failed-auth budget spares the database."""

from __future__ import annotations

import asyncio
import collections
import functools
import os
import socket
import subprocess
import sys
import uuid

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient
from tests.limits.conftest import eventually, put_on_plan, until_serving

from kith.app import create_app
from kith.auth.known_tokens import known_tokens
from kith.config import get_settings
from kith.db.urls import asyncpg_dsn
from kith.limits import window_counts
from kith.limits.reserved import ReservedWindowCounts, batch_for
from kith.limits.windows import RedisWindowCounts

PROBLEM = "application/problem+json"


async def put_on_plan_via_sql(db: str, tenant_id: int, **limits) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(db))
    try:
        await put_on_plan(conn, tenant_id, **limits)
    finally:
        await conn.close()


async def test_a_token_is_held_to_its_plans_rate(client, conn, make_tenant):
    tenant = await make_tenant()
    await put_on_plan(conn, tenant.id, requests_per_minute=3)
    remaining = []
    for _ in range(3):
        response = await client.get("/api/v1/contacts", headers=tenant.headers)
        assert response.status_code == 200
        assert response.headers["ratelimit-limit"] == "3"
        remaining.append(int(response.headers["ratelimit-remaining"]))
    assert remaining == [2, 1, 0]

    response = await client.get("/api/v1/contacts", headers=tenant.headers)
    assert response.status_code == 429
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["status"] == 429
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["ratelimit-remaining"] == "0"
    assert int(response.headers["ratelimit-reset"]) >= 1

    other = await make_tenant()  # another token is counted apart
    assert (await client.get("/api/v1/contacts", headers=other.headers)).status_code == 200


async def test_an_address_is_limited_before_its_token_is_read(settings_env, db, make_tenant):
    settings_env(KITH_RATE_LIMIT_PER_ADDRESS="4")
    tenant = await make_tenant()
    async with AsyncTestClient(app=create_app(db)) as client:
        statuses = [(await client.get("/api/v1/contacts")).status_code for _ in range(4)]
        assert statuses == [401] * 4
        response = await client.get("/api/v1/contacts", headers=tenant.headers)
        assert response.status_code == 429
        assert response.headers["ratelimit-limit"] == "4"
        assert "retry-after" in response.headers
        assert (await client.get("/health")).status_code == 200  # probes are never limited


async def test_bad_tokens_stop_costing_queries_once_an_address_is_over_budget(settings_env, db, make_tenant):
    settings_env(KITH_AUTH_FAILURES_PER_ADDRESS="3", KITH_AUTH_FAILURE_WINDOW_SECONDS="60")
    tenant, behind_the_same_nat = await make_tenant(), await make_tenant()
    app = create_app(db)
    async with AsyncTestClient(app=app) as client:
        from sqlalchemy import event

        from kith.db.reads import READER_STATE_KEY

        queries: list[str] = []
        event.listen(app.state[READER_STATE_KEY].sync_engine, "before_cursor_execute", lambda *a: queries.append(a[2]))
        assert (await client.get("/api/v1/contacts", headers=tenant.headers)).status_code == 200
        bad = {"Authorization": "Bearer kith_not-a-token"}
        queries.clear()
        assert [(await client.get("/api/v1/contacts", headers=bad)).status_code for _ in range(3)] == [401] * 3
        assert len(queries) == 3

        queries.clear()
        for _ in range(50):
            response = await client.get("/api/v1/contacts", headers=bad)
            assert response.status_code == 429
        assert queries == []  # the flood is answered without the database
        assert response.headers["content-type"].startswith(PROBLEM)
        assert 1 <= int(response.headers["retry-after"]) <= 60

        # From the same address, a token this process verified before still passes, without a look-up;
        # one it has not verified waits with the flood.
        response = await client.get("/api/v1/contacts", headers=tenant.headers)
        assert response.status_code == 200
        assert not any("api_tokens" in query for query in queries)
        assert (await client.get("/api/v1/contacts", headers=behind_the_same_nat.headers)).status_code == 429


async def test_a_verified_token_is_forgotten_when_it_changes_not_when_it_is_used(settings_env, db, make_tenant):
    settings_env(KITH_AUTH_FAILURES_PER_ADDRESS="1", KITH_AUTH_FAILURE_WINDOW_SECONDS="60")
    tenant, other = await make_tenant(), await make_tenant()
    app = create_app(db)
    async with AsyncTestClient(app=app) as client:
        listener = app.state["kith_notify_listener"]
        await eventually(lambda: listener.connected)
        for handle in (tenant, other):
            assert (await client.get("/api/v1/contacts", headers=handle.headers)).status_code == 200
        assert (await client.get("/api/v1/contacts", headers={"Authorization": "Bearer nope"})).status_code == 401
        assert len(known_tokens(app)) == 2

        conn = await asyncpg.connect(asyncpg_dsn(db))
        try:
            received = listener.received
            # Recording its use announces nothing, so the token stays known ...
            await conn.execute("UPDATE api_tokens SET last_used_at = now() - interval '1 hour'")
            # ... and revoking the other token is the one message that arrives.
            await conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE tenant_id = $1", other.id)
            await eventually(lambda: listener.received > received)
            await asyncio.sleep(0.2)
            assert listener.received == received + 1
            assert (await client.get("/api/v1/contacts", headers=tenant.headers)).status_code == 200
            assert (await client.get("/api/v1/contacts", headers=other.headers)).status_code == 429

            # A tenant's time zone is part of what is known: a change drops its tokens.
            await conn.execute("UPDATE tenants SET time_zone = 'Europe/Paris' WHERE id = $1", tenant.id)
            await eventually(lambda: len(known_tokens(app)) == 0)
            assert (await client.get("/api/v1/contacts", headers=tenant.headers)).status_code == 429
        finally:
            await conn.close()


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (CI sets it)")
async def test_with_redis_every_process_shares_the_counts(settings_env, db, make_tenant):
    settings_env(KITH_LIMITS_STORE="redis", KITH_LIMITS_NAMESPACE=f"kith_test_{uuid.uuid4().hex}")
    tenant = await make_tenant()
    async with AsyncTestClient(app=create_app(db)) as first, AsyncTestClient(app=create_app(db)) as second:
        await put_on_plan_via_sql(db, tenant.id, requests_per_minute=4)
        statuses = []
        for i in range(6):
            client = first if i % 2 else second
            statuses.append((await client.get("/api/v1/contacts", headers=tenant.headers)).status_code)
        assert statuses == [200] * 4 + [429] * 2


def serve_two(db: str, namespace: str, tmp_path) -> tuple[list[subprocess.Popen], list[str]]:
    """Two `kith serve` processes on the test database, counting in Redis."""
    env = {
        **os.environ,
        "DATABASE_URL": db,
        "KITH_DATA_DIR": str(tmp_path),
        "KITH_LIMITS_STORE": "redis",
        "KITH_LIMITS_NAMESPACE": namespace,
        "KITH_LOG_FORMAT": "text",
    }
    servers, bases = [], []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        servers.append(
            subprocess.Popen(
                [sys.executable, "-m", "kith", "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        bases.append(f"http://127.0.0.1:{port}")
    return servers, bases


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (CI sets it)")
async def test_with_redis_a_burst_across_processes_cannot_pass_the_limit(db, make_tenant, tmp_path):
    tenant = await make_tenant()
    await put_on_plan_via_sql(db, tenant.id, requests_per_minute=20)
    servers, bases = serve_two(db, f"kith_test_{uuid.uuid4().hex}", tmp_path)
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            for base in bases:
                await until_serving(client, f"{base}/health")
            responses = await asyncio.gather(
                *(client.get(f"{bases[i % 2]}/api/v1/contacts", headers=tenant.headers) for i in range(100))
            )
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
    assert sorted(r.status_code for r in responses) == [200] * 20 + [429] * 80


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (CI sets it)")
async def test_reserved_batches_never_pass_the_limit_and_refuse_early_by_a_bounded_amount():
    """Two processes' counts on one Redis, a client alternating between them (kith.limits.reserved)."""
    namespace = f"kith_test_{uuid.uuid4().hex}"
    settings = get_settings()
    processes = [ReservedWindowCounts(RedisWindowCounts(settings.jobs.redis_url, namespace)) for _ in range(2)]
    limit = 640  # batches of 10
    try:
        admitted = [0, 0]
        for i in range(2 * limit):
            window = await processes[i % 2].take("token:x", 60, limit)
            admitted[i % 2] += window.count <= limit
        assert limit - (batch_for(limit) - 1) <= sum(admitted) <= limit
        # Once full, each process refuses locally: no more round trips while the window lasts.
        calls = [p._shared.calls for p in processes]
        for p in processes:
            assert (await p.take("token:x", 60, limit)).count > limit
        assert [p._shared.calls for p in processes] == calls
    finally:
        for p in processes:
            await p.close()


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (CI sets it)")
async def test_with_redis_a_request_costs_no_redis_call_in_the_common_case(settings_env, db, make_tenant):
    settings_env(KITH_LIMITS_STORE="redis", KITH_LIMITS_NAMESPACE=f"kith_test_{uuid.uuid4().hex}")
    tenant = await make_tenant()
    await put_on_plan_via_sql(db, tenant.id, requests_per_minute=64 * 100)  # batches of 100
    app = create_app(db)
    async with AsyncTestClient(app=app) as client:
        assert (await client.get("/api/v1/sync/runs", headers=tenant.headers)).status_code == 200
        redis = window_counts(app)._shared._shared  # reserved → fallback → Redis
        before = redis.calls
        for _ in range(50):
            assert (await client.get("/api/v1/sync/runs", headers=tenant.headers)).status_code == 200
        assert redis.calls == before  # the address's and the token's batches cover them all


async def test_the_failed_auth_budget_is_exact_under_concurrency(db, tmp_path):
    """Each look-up of an unknown token is counted before it runs (and given back when the token is good),
    so a burst of bad tokens from one address gets exactly the budget's worth of 401s."""
    from tests.limits.test_forwarded_addresses import kith_serve

    with kith_serve(db, tmp_path, KITH_AUTH_FAILURES_PER_ADDRESS="20") as base:
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=200)) as client:
            await until_serving(client)
            responses = await asyncio.gather(
                *(client.get("/api/v1/contacts", headers={"Authorization": f"Bearer kith_bad{i}"}) for i in range(150))
            )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [401] * 20 + [429] * 130, collections.Counter(statuses)


async def test_a_good_token_gives_back_the_budget_it_took(settings_env, db, make_tenant):
    settings_env(KITH_AUTH_FAILURES_PER_ADDRESS="2", KITH_AUTH_FAILURE_WINDOW_SECONDS="60")
    tenants = [await make_tenant() for _ in range(3)]
    async with AsyncTestClient(app=create_app(db)) as client:
        assert (await client.get("/api/v1/contacts", headers={"Authorization": "Bearer kith_bad"})).status_code == 401
        for tenant in tenants:  # three tokens this process has not seen: each looked up, none a failure
            assert (await client.get("/api/v1/contacts", headers=tenant.headers)).status_code == 200
        assert (await client.get("/api/v1/contacts", headers={"Authorization": "Bearer kith_bad"})).status_code == 401
        assert (await client.get("/api/v1/contacts", headers={"Authorization": "Bearer kith_bad"})).status_code == 429


async def _serving(client: httpx.AsyncClient) -> bool:
    try:
        return (await client.get("/health")).status_code == 200
    except httpx.TransportError:
        return False


async def test_a_burst_of_one_new_token_is_one_look_up_not_a_flood(db, make_tenant, tmp_path):
    """A client's first requests in parallel, to a process that has not seen its token: they wait for one
    look-up instead of each taking a failure from the address's budget (each did: past the budget, 429s)."""
    from tests.limits.test_forwarded_addresses import kith_serve

    tenant = await make_tenant()
    await put_on_plan_via_sql(db, tenant.id, requests_per_minute=1_000_000)
    with kith_serve(db, tmp_path, KITH_AUTH_FAILURES_PER_ADDRESS="2") as base:
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=100)) as client:
            await eventually(functools.partial(_serving, client), seconds=60)
            responses = await asyncio.gather(
                *(client.get("/api/v1/contacts", headers=tenant.headers) for _ in range(100))
            )
    assert collections.Counter(r.status_code for r in responses) == {200: 100}


async def test_refused_requests_do_not_lock_out_good_tokens_once_their_look_ups_end(db, make_tenant, tmp_path):
    """New good tokens from one address at once: past the budget some wait their turn (429, the look-ups
    under way count), but a refusal is no failure, so once those look-ups turn out good every token passes
    (the refusals were counted, and locked the address out for the rest of the window)."""
    from tests.limits.test_forwarded_addresses import kith_serve

    tenants = [await make_tenant() for _ in range(12)]
    for tenant in tenants:
        await put_on_plan_via_sql(db, tenant.id, requests_per_minute=1_000_000)
    with kith_serve(db, tmp_path, KITH_AUTH_FAILURES_PER_ADDRESS="2") as base:
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=100)) as client:
            await eventually(functools.partial(_serving, client), seconds=60)
            burst = await asyncio.gather(
                *(client.get("/api/v1/contacts", headers=t.headers) for t in tenants for _ in range(5))
            )
            assert {r.status_code for r in burst} <= {200, 429}
            after = [(await client.get("/api/v1/contacts", headers=t.headers)).status_code for t in tenants]
    assert after == [200] * len(tenants), collections.Counter(r.status_code for r in burst)
