"""Fixtures of the job tests: a database of their own with a controllable refresh, Redis, worker processes.

The gate: `contact_card_rows` (the definition the materialized view stores)
gets a condition that calls `kith_test_gate()` once per refresh. The function
logs the pass (and how many other refreshes of the view were running at that
moment), then waits while the gate is closed, or raises when it is set to
fail. So a test decides exactly when a refresh finishes, or that it fails,
and counts the passes, in any process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kith.config import get_settings
from kith.db.migrations import upgrade_async
from kith.db.urls import asyncpg_dsn
from kith.readmodels.models import CONTACT_CARDS

GATE_SQL = """
CREATE TABLE kith_test_gate (id int PRIMARY KEY, mode text NOT NULL);
INSERT INTO kith_test_gate VALUES (1, 'open');
CREATE TABLE kith_test_passes (id serial PRIMARY KEY, pid int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp(),
                               others int NOT NULL);
-- Its own search_path: PostgreSQL 17+ runs REFRESH MATERIALIZED VIEW with a safe one (pg_catalog, pg_temp).
CREATE FUNCTION kith_test_gate() RETURNS boolean LANGUAGE plpgsql VOLATILE SET search_path = public, pg_catalog AS $$
DECLARE m text; running int;
BEGIN
  SELECT count(*) INTO running FROM pg_stat_activity
  WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
    AND query ILIKE 'REFRESH MATERIALIZED VIEW%contact_cards%';  -- this database only: the server is shared
  -- The sequence counts every pass (it ignores rollbacks); the table only the passes that committed.
  PERFORM nextval('kith_test_entered');
  INSERT INTO kith_test_passes (pid, others) VALUES (pg_backend_pid(), running);
  LOOP
    SELECT mode INTO m FROM kith_test_gate WHERE id = 1;
    EXIT WHEN m <> 'closed';
    PERFORM pg_sleep(0.02);
  END LOOP;
  IF m = 'fail' THEN RAISE EXCEPTION 'kith test: refresh failed on purpose'; END IF;
  RETURN true;
END $$;
"""


class Gate:
    def __init__(self, url: str) -> None:
        self.url = url

    async def _execute(self, sql: str, *args):
        conn = await asyncpg.connect(asyncpg_dsn(self.url))
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def set(self, mode: str) -> None:
        await self._execute("UPDATE kith_test_gate SET mode = $1 WHERE id = 1", mode)

    async def close(self) -> None:
        await self.set("closed")

    async def open(self) -> None:
        await self.set("open")

    async def fail(self) -> None:
        await self.set("fail")

    async def entered(self) -> int:
        """Passes that reached the gate (committed or not): a sequence ignores rollbacks."""
        return await self._execute("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM kith_test_entered")

    async def committed_passes(self) -> int:
        return await self._execute("SELECT count(*) FROM kith_test_passes")

    async def max_others(self) -> int:
        return await self._execute("SELECT coalesce(max(others), 0) FROM kith_test_passes")

    async def running_refreshes(self) -> int:
        return await self._execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
            "AND query ILIKE 'REFRESH MATERIALIZED VIEW%contact_cards%'"
        )

    async def wait_entered(self, count: int, timeout: float = 20) -> None:
        await wait_until(lambda: self._ge(self.entered, count), timeout, f"{count} refresh pass(es) at the gate")

    async def _ge(self, probe, count: int) -> bool:
        return await probe() >= count


async def wait_until(probe: Callable, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


@pytest.fixture
async def jobs_db(create_database: Callable) -> str:
    """A migrated database of the test's own (the gate changes its view definition)."""
    url = await create_database("kith_jobs")
    await upgrade_async(url)
    return url


@pytest.fixture
async def gate(jobs_db: str) -> Gate:
    view = re.search(r"CREATE VIEW contact_card_rows AS.*?;\n", CONTACT_CARDS.sql, re.S).group(0)
    assert view.rstrip().endswith("WHERE c.deleted_at IS NULL;"), "the gate hooks on the view's WHERE clause"
    gated = view.replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1).replace(
        "WHERE c.deleted_at IS NULL;", "WHERE c.deleted_at IS NULL AND (SELECT kith_test_gate());"
    )
    conn = await asyncpg.connect(asyncpg_dsn(jobs_db))
    try:
        await conn.execute("CREATE SEQUENCE kith_test_entered")
        await conn.execute(GATE_SQL)
        await conn.execute(gated)
    finally:
        await conn.close()
    return Gate(jobs_db)


@pytest.fixture
async def engine(jobs_db: str, engine_on: Callable[[str], AsyncEngine]) -> AsyncEngine:
    return engine_on(jobs_db)


async def add_contacts(url: str, names: list[str], tenant: str = "jobs") -> int:
    """Contacts written straight to the base table (as a batch job would): the view shows them after a refresh."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        tenant_id = await conn.fetchval(
            "INSERT INTO tenants (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id",
            tenant,
        )
        await conn.executemany(
            "INSERT INTO contacts (tenant_id, full_name) VALUES ($1, $2)", [(tenant_id, n) for n in names]
        )
        return tenant_id
    finally:
        await conn.close()


async def view_names(url: str) -> set[str]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return {r["full_name"] for r in await conn.fetch("SELECT full_name FROM contact_cards")}
    finally:
        await conn.close()


async def refresh_record(url: str):
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await conn.fetchrow("SELECT * FROM view_refreshes WHERE view_name = 'contact_cards'")
    finally:
        await conn.close()


# ---------------------------------------------------------------- Redis


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("REDIS_URL is not set (CI sets it): the tests of the Redis job queue need a Redis")
    return url


@pytest.fixture
async def queue_prefix(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """Streams of the test's own on the shared Redis (for this process and the workers it starts)."""
    from redis.asyncio import Redis

    prefix = f"kith-test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("KITH_QUEUE_PREFIX", prefix)
    get_settings.cache_clear()  # settings are read once; this test's prefix is a new reading
    yield prefix
    monkeypatch.delenv("KITH_QUEUE_PREFIX")
    get_settings.cache_clear()
    async with Redis.from_url(redis_url) as redis:
        await redis.delete(f"{prefix}:sync", f"{prefix}:compute")


@pytest.fixture
async def redis_jobs(redis_url: str, queue_prefix: str) -> AsyncIterator:
    """Jobs sent from this process (the API under test included) go to Redis, as with REDIS_URL set."""
    from kith.jobqueue.broker import make_broker, use_broker

    broker = make_broker(redis_url=redis_url)
    previous = use_broker(broker)
    yield broker
    use_broker(previous)
    with contextlib.suppress(RuntimeError):  # connections the app under test opened on its own event loop
        await broker.shutdown()


class Workers:
    """`kith worker` processes, each in its own process group (taskiq runs a manager and a child)."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.procs: list[tuple[subprocess.Popen, Path]] = []

    def start(
        self,
        queue: str,
        database_url: str,
        *,
        concurrency: int | None = None,
        command: tuple[str, ...] = (sys.executable, "-m", "kith"),
        **env: str,
    ) -> subprocess.Popen:
        log = self.tmp_path / f"worker-{queue}-{len(self.procs)}.log"
        args = [*command, "worker", "--queue", queue]
        if concurrency:
            args += ["--concurrency", str(concurrency)]
        proc = subprocess.Popen(
            args,
            env={**self.env, "DATABASE_URL": database_url, **env},
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append((proc, log))
        deadline = time.monotonic() + 30
        while "Listening started" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.05)
        return proc

    def kill(self, proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')}" for _, log in self.procs)

    def stop_all(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for proc, _ in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill(proc)
        # The manager is gone; make sure no child outlives it.
        for proc, _ in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def workers(redis_url: str, queue_prefix: str, tmp_path: Path) -> AsyncIterator[Workers]:
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "KITH_QUEUE_PREFIX": queue_prefix,
        "KITH_DATA_DIR": str(tmp_path / "kith"),
        "PYTHONUNBUFFERED": "1",
    }
    pool = Workers(tmp_path, env)
    yield pool
    pool.stop_all()
