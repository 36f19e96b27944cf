"""Nothing accepted is lost: a run and its job are one commit (the outbox, kith.jobqueue.outbox); a job
that could not be sent (Redis down) is sent by the sweeper once Redis is back, and the run completes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from tests.jobs.conftest import wait_until

from kith.app import create_app
from kith.auth.service import create_token, get_or_create_owner, get_or_create_tenant
from kith.config import get_settings
from kith.db.session import standalone_session
from kith.db.urls import asyncpg_dsn
from kith.jobqueue import names
from kith.jobqueue.broker import jobs, make_broker, use_broker
from kith.jobqueue.sweeper import sweep_unsent_jobs
from kith.tasks import jobs as _  # noqa: F401 - defines the jobs

DATA = Path(__file__).resolve().parent.parent / "data"
DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def quick_resend(monkeypatch) -> AsyncIterator[None]:
    """A job request left unsent is due for the sweeper after a second (60 by default)."""
    monkeypatch.setenv("KITH_JOB_RESEND_AFTER", "1")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("KITH_JOB_RESEND_AFTER")
    get_settings.cache_clear()


async def _token(url: str) -> str:
    async with standalone_session(url) as session:
        tenant = await get_or_create_tenant(session, "outbox")
        await get_or_create_owner(session, tenant)
        return await create_token(session, tenant.name)


async def _upload_while_redis_is_down(url: str) -> int:
    """The API, sending jobs to a Redis that is down: the upload is accepted (202), /ready says degraded."""
    token = await _token(url)
    previous = use_broker(make_broker(redis_url=DEAD_REDIS))
    try:
        async with AsyncTestClient(app=create_app(url)) as client:
            ready = await client.get("/ready")
            assert ready.status_code == 200
            assert ready.json()["status"] == "degraded" and ready.json()["redis"].startswith("unreachable")
            response = await client.post(
                "/api/v1/sync/vcard",
                headers={"Authorization": f"Bearer {token}"},
                files={"file": ("contacts.vcf", (DATA / "contacts.vcf").read_bytes(), "text/vcard")},
            )
            assert response.status_code == 202, response.text
            return response.json()["id"]
    finally:
        use_broker(previous)


async def _fetch(url: str, sql: str, *args):
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await conn.fetchrow(sql, *args)
    finally:
        await conn.close()


async def _run_status(url: str, run_id: int) -> str:
    return (await _fetch(url, "SELECT status FROM sync_runs WHERE id = $1", run_id))["status"]


async def _finished(url: str) -> bool:
    run = await _fetch(url, "SELECT status, stages #>> '{refresh,status}' AS refresh FROM sync_runs")
    return run["status"] == "succeeded" and run["refresh"] == "succeeded"


async def _assert_left_queued_with_its_request(url: str, run_id: int) -> None:
    assert await _run_status(url, run_id) == "queued"
    request = await _fetch(url, "SELECT job_name, kwargs, error FROM job_requests")
    assert request["job_name"] == "kith.sync" and request["kwargs"] == f'{{"sync_run_id": {run_id}}}'
    assert "ConnectionError" in request["error"]


async def test_a_run_accepted_while_redis_is_down_is_swept_in_process(jobs_db, engine, quick_resend):
    """Without a Redis to restore: the scheduler's sweeper, with jobs in-process, sends the request and
    the run completes."""
    run_id = await _upload_while_redis_is_down(jobs_db)
    await _assert_left_queued_with_its_request(jobs_db, run_id)

    previous = use_broker(make_broker(redis_url=None))
    sweeper = asyncio.create_task(sweep_unsent_jobs(engine))
    try:
        await wait_until(lambda: _finished(jobs_db), 30, "the sweeper to send the run's job and the run to complete")
        # The jobs the run requested in turn (score, refreshes) are in-process tasks: each one's request is
        # deleted once its send returns, which may be just after the run is recorded done.
        await wait_until(lambda: _no_requests_left(jobs_db), 10, "every job request to be sent and deleted")
    finally:
        sweeper.cancel()
        use_broker(previous)


async def _no_requests_left(url: str) -> bool:
    return (await _fetch(url, "SELECT count(*) AS n FROM job_requests"))["n"] == 0


async def test_a_run_accepted_while_redis_is_down_completes_once_redis_is_back(
    jobs_db, redis_url, queue_prefix, workers, quick_resend
):
    run_id = await _upload_while_redis_is_down(jobs_db)
    await _assert_left_queued_with_its_request(jobs_db, run_id)

    await asyncio.sleep(1.1)  # past the request's bound
    # Redis is back: a worker starting sends what was left unsent, and the chain runs on the workers.
    workers.start("sync", jobs_db)
    workers.start("compute", jobs_db)

    await wait_until(lambda: _finished(jobs_db), 60, "the run and its chain to complete")
    assert (await _fetch(jobs_db, "SELECT count(*) AS n FROM job_requests"))["n"] == 0
    assert (await _fetch(jobs_db, "SELECT count(*) AS n FROM contacts"))["n"] == 6


def test_every_job_name_is_a_defined_job():
    declared = {value for key, value in vars(names).items() if key.isupper()}
    assert declared and {name for name in declared if jobs.find_task(name) is None} == set()


async def test_a_rejected_upload_requests_no_job(client, conn, make_tenant):
    """The run, its file and its job request are one commit: a file that is not its format leaves none of them."""
    tenant = await make_tenant()
    response = await client.post(
        "/api/v1/sync/vcard",
        headers=tenant.headers,
        files={"file": ("notvcard.vcf", (DATA / "notvcard.vcf").read_bytes(), "text/vcard")},
    )
    assert response.status_code == 422, response.text
    assert await conn.fetchval("SELECT count(*) FROM sync_runs") == 0
    assert await conn.fetchval("SELECT count(*) FROM job_requests") == 0


async def test_a_sent_job_request_is_deleted(client, conn, make_tenant):
    tenant = await make_tenant()
    response = await client.post(
        "/api/v1/sync/vcard",
        headers=tenant.headers,
        files={"file": ("contacts.vcf", (DATA / "contacts.vcf").read_bytes(), "text/vcard")},
    )
    assert response.status_code == 202, response.text
    assert await conn.fetchval("SELECT status FROM sync_runs WHERE id = $1", response.json()["id"]) == "succeeded"
    assert await conn.fetchval("SELECT count(*) FROM job_requests") == 0
