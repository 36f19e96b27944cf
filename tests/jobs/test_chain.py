"""The chain of an import: POST /sync/{source} → sync → score → refresh → the listing shows it, newer `as_of`.

In-process (no REDIS_URL: the API runs the jobs itself) and on Redis with
`kith worker` processes (when REDIS_URL is set).
"""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

import asyncpg
from tests.jobs.conftest import wait_until

from kith.db.urls import asyncpg_dsn
from kith.jobqueue.engine import bind_engine
from kith.readmodels.models import READ_MODELS
from kith.tasks import jobs

ME = "me@example.com"


def recent_mbox(now: dt.datetime) -> bytes:
    """A thread with Zed from yesterday, both ways: Zed's score comes out well above zero."""

    def message(n: int, sender: str, to: str, when: dt.datetime, subject: str) -> str:
        return (
            f"From {n}@xxx {when.strftime('%a %b %d %H:%M:%S +0000 %Y')}\n"
            f"Date: {format_datetime(when)}\nMessage-ID: <chain-{n}@example.com>\n"
            f'Subject: {subject}\nFrom: {sender}\nTo: {to}\nContent-Type: text/plain; charset="UTF-8"\n\n'
            f"Hello {n}\n\n"
        )

    return (
        message(1, "Zed Quinn <zed@example.com>", f"Me <{ME}>", now - dt.timedelta(days=1, hours=2), "Lunch?")
        + message(2, f"Me <{ME}>", "Zed Quinn <zed@example.com>", now - dt.timedelta(days=1), "Re: Lunch?")
    ).encode()


async def _listing(client, tenant):
    response = await client.get("/api/v1/contacts?limit=200", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json(), response.headers


async def _import(client, tenant) -> int:
    response = await client.post(
        f"/api/v1/sync/mbox?me={ME}",
        headers={**tenant.headers, "Content-Type": "application/mbox"},
        content=recent_mbox(dt.datetime.now(dt.UTC)),
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


async def _run(client, tenant, run_id: int) -> dict:
    response = await client.get(f"/api/v1/sync/runs/{run_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()


def _check_stages(run: dict) -> None:
    stages = run["stages"]
    assert run["status"] == "succeeded", run
    assert stages["sync"]["status"] == "succeeded" and stages["score"]["status"] == "succeeded", stages
    refresh = stages["refresh"]
    assert refresh["status"] == "succeeded", stages
    assert len(refresh["views"]) == len(READ_MODELS)  # the run's tenant's slice of each read model
    assert all(view["status"] == "succeeded" for view in refresh["views"].values())
    for name in ("sync", "score", "refresh"):
        assert stages[name]["finished_at"] and stages[name]["duration_ms"] >= 0, stages[name]


async def _check_listed(client, tenant, before_as_of: str) -> None:
    page, headers = await _listing(client, tenant)
    zed = [c for c in page["items"] if c["full_name"] == "Zed Quinn"]
    assert zed and zed[0]["score"] > 50, page["items"]
    assert zed[0]["last_interaction_at"] is not None
    assert dt.datetime.fromisoformat(page["as_of"]) > dt.datetime.fromisoformat(before_as_of)
    assert headers["x-data-as-of"]


async def test_the_chain_runs_in_process_without_redis(client, make_tenant):
    tenant = await make_tenant()
    before, _ = await _listing(client, tenant)
    run_id = await _import(client, tenant)
    # In-process, the jobs ran once the response was out (the test client waits for that).
    run = await _run(client, tenant, run_id)
    _check_stages(run)
    await _check_listed(client, tenant, before["as_of"])


async def test_end_to_end_on_redis_with_worker_processes(client, db, make_tenant, redis_jobs, workers):
    workers.start("sync", db)
    workers.start("compute", db)
    tenant = await make_tenant()
    before, _ = await _listing(client, tenant)

    run_id = await _import(client, tenant)

    async def done():
        run = await _run(client, tenant, run_id)
        return run if run["stages"].get("refresh", {}).get("status") == "succeeded" else None

    try:
        run = await wait_until(done, 60, "the run's chain to finish", interval=0.2)
    except AssertionError:
        raise AssertionError(workers.logs()) from None
    _check_stages(run)
    await _check_listed(client, tenant, before["as_of"])
    logs = workers.logs()
    assert (
        "Executing task kith.sync" in logs
        and "Executing task kith.score" in logs
        and "Executing task kith.refresh" in logs
    )


async def test_a_failed_import_is_not_scored_and_its_chain_stops(client, db, engine_on, make_tenant):
    tenant = await make_tenant()
    run_id = await _import(client, tenant)
    conn = await asyncpg.connect(asyncpg_dsn(db))
    try:
        await conn.execute("UPDATE sync_runs SET status = 'failed', stages = '{}' WHERE id = $1", run_id)
    finally:
        await conn.close()
    with bind_engine(engine_on(db)):
        result = await (await jobs.score.kiq(run_id)).wait_result(timeout=5)
    assert result.return_value == {"sync_run_id": run_id, "skipped": "failed"}
    assert (await _run(client, tenant, run_id))["stages"] == {}
