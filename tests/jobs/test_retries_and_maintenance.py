"""Retries (transient failures only, with backoff), timeouts, and the scheduled jobs' own work."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.jobs.conftest import add_contacts, view_names

from kith.config import get_settings
from kith.db.locks import held_exclusively, job_key
from kith.db.urls import asyncpg_dsn
from kith.jobqueue.broker import jobs, make_broker, use_broker
from kith.jobqueue.engine import bind_engine
from kith.tasks import jobs as kith_jobs
from kith.transient import is_transient

attempts: list[str] = []


@jobs.task(task_name="kith.test.flaky", queue="compute", timeout=5)
async def flaky(kind: str, fail_times: int = 2) -> int:
    attempts.append(kind)
    if len(attempts) <= fail_times:
        if kind == "transient":
            raise ConnectionResetError("connection reset by peer")
        if kind == "invalid":
            raise ValueError("not a valid vCard")
    if kind == "slow":
        await asyncio.sleep(10)
    return len(attempts)


@pytest.fixture
def quick_retries(monkeypatch):
    monkeypatch.setenv("KITH_TASK_RETRY_DELAY", "0.01")
    monkeypatch.setenv("KITH_TASK_MAX_RETRIES", "4")
    get_settings.cache_clear()
    previous = use_broker(make_broker(redis_url=None))
    attempts.clear()
    yield
    use_broker(previous)
    get_settings.cache_clear()


async def test_transient_failures_are_retried_with_the_same_task_id(quick_retries):
    task = await flaky.kiq("transient")
    result = await task.wait_result(timeout=5)
    assert attempts == ["transient"] * 3
    assert not result.is_err and result.return_value == 3


async def test_retries_stop_at_the_maximum(quick_retries):
    task = await flaky.kiq("transient", fail_times=10)
    result = await task.wait_result(timeout=5)
    assert len(attempts) == 4 and result.is_err


async def test_validation_errors_are_not_retried(quick_retries):
    result = await (await flaky.kiq("invalid")).wait_result(timeout=5)
    assert attempts == ["invalid"] and result.is_err and "not a valid vCard" in str(result.error)


async def test_every_task_has_a_timeout_and_a_timeout_is_not_retried(quick_retries, monkeypatch):
    result = await (await flaky.kicker().with_labels(timeout=0.2).kiq("slow", fail_times=0)).wait_result(timeout=5)
    assert attempts == ["slow"] and result.is_err
    assert all("timeout" in task.labels for task in jobs.get_all_tasks().values() if task.task_name.startswith("kith."))


async def test_transient_database_errors_are_recognised(engine: AsyncEngine):
    async with engine.connect() as holder, engine.connect() as waiter:
        await holder.execute(text("CREATE TABLE IF NOT EXISTS kith_test_rows (id int PRIMARY KEY)"))
        await holder.execute(text("INSERT INTO kith_test_rows VALUES (1) ON CONFLICT DO NOTHING"))
        await holder.commit()
        await holder.execute(text("SELECT * FROM kith_test_rows WHERE id = 1 FOR UPDATE"))
        await waiter.execute(text("SET LOCAL lock_timeout = '10ms'"))
        with pytest.raises(Exception) as lock_timeout:
            await waiter.execute(text("UPDATE kith_test_rows SET id = 1 WHERE id = 1"))
        await waiter.rollback()
        await holder.rollback()
        with pytest.raises(Exception) as division:
            await waiter.execute(text("SELECT 1 / 0"))
    assert is_transient(lock_timeout.value)
    assert not is_transient(division.value)

    import asyncpg.exceptions as pg

    for exc in (
        pg.SerializationError("x"),
        pg.DeadlockDetectedError("x"),
        pg.ConnectionDoesNotExistError("x"),
        pg.AdminShutdownError("x"),
        ConnectionRefusedError(),
    ):
        assert is_transient(exc), exc
    for exc in (pg.UniqueViolationError("x"), pg.QueryCanceledError("x"), TimeoutError(), KeyError("x")):
        assert not is_transient(exc), exc
    try:
        try:
            raise pg.SerializationError("x")
        except Exception as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert is_transient(outer)


# ---------------------------------------------------------------- scheduled jobs


async def _run(task, *args, engine: AsyncEngine):
    with bind_engine(engine):
        result = await (await task.kiq(*args)).wait_result(timeout=30)
    assert not result.is_err, result.error
    return result.return_value


async def test_cleanup_deletes_runs_past_the_retention(jobs_db, engine):
    tenant_id = await add_contacts(jobs_db, [])
    conn = await asyncpg.connect(asyncpg_dsn(jobs_db))
    try:
        await conn.execute(
            "INSERT INTO sync_runs (tenant_id, source, status, created_at) VALUES "
            "($1, 'vcard', 'succeeded', now() - interval '200 days'), ($1, 'vcard', 'failed', now() - interval '91 days'), "
            "($1, 'vcard', 'succeeded', now() - interval '89 days'), ($1, 'mbox', 'queued', now())",
            tenant_id,
        )
        await conn.execute(
            "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, status_code, body, media_type, expires_at) "
            "VALUES ($1, 'old', '', 201, '', 'application/json', now() - interval '1 second'), "
            "($1, 'live', '', 201, '', 'application/json', now() + interval '1 hour')",
            tenant_id,
        )
        outcome = await _run(kith_jobs.cleanup, engine=engine)
        assert outcome["sync_runs_deleted"] == 2
        assert await conn.fetchval("SELECT count(*) FROM sync_runs") == 2
        assert outcome["idempotency_keys_deleted"] == 1
        assert await conn.fetchval("SELECT key FROM idempotency_keys") == "live"
    finally:
        await conn.close()


async def test_rescore_and_cleanup_never_run_twice_at_once(jobs_db, engine):
    async with held_exclusively(engine, job_key("rescore")) as got:
        assert got
        assert await _run(kith_jobs.rescore, engine=engine) == {"skipped": True}
    async with held_exclusively(engine, job_key("cleanup")) as got:
        assert await _run(kith_jobs.cleanup, engine=engine) == {"skipped": True}


async def test_rescore_then_refresh(jobs_db, engine):
    await add_contacts(jobs_db, ["Ada Lovelace"])
    outcome = await _run(kith_jobs.rescore, engine=engine)
    assert "contacts_changed" in outcome
    assert "Ada Lovelace" in await view_names(jobs_db)  # the refresh it requested ran


async def test_refresh_and_vacuum_of_every_view(jobs_db, engine):
    await add_contacts(jobs_db, ["Ada Lovelace"])
    from kith.readmodels.models import READ_MODELS

    slices = [s.relation for model in READ_MODELS for s in model.hash_slices()]  # no tenant has its own

    assert await _run(kith_jobs.refresh_views, engine=engine) == slices
    assert "Ada Lovelace" in await view_names(jobs_db)
    assert await _run(kith_jobs.vacuum_views, engine=engine) == dict.fromkeys(slices, True)


def test_the_schedules():
    schedules = {
        t.task_name: t.labels.get("schedule") for t in jobs.get_all_tasks().values() if t.labels.get("schedule")
    }
    assert set(schedules) == {
        "kith.refresh_views",
        "kith.vacuum_views",
        "kith.rescore",
        "kith.cleanup",
        "kith.sync_connections",  # the connections due, every minute
    }
    assert schedules["kith.sync_connections"][0]["cron"] == "* * * * *"
    assert schedules["kith.rescore"][0]["cron"] == "0 3 * * *"  # nightly
