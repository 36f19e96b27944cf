"""A sync worker killed -9 half-way through an import: the run resumes after the last batch that committed,
and ends with exactly the counts of a run never interrupted (nothing counted twice, nothing lost).

Real `kith worker` processes, Redis and PostgreSQL; run when REDIS_URL is set (CI sets it).
"""

from __future__ import annotations

import re
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient
from tests.jobs.conftest import wait_until

from kith.app import create_app
from kith.auth.service import create_token, get_or_create_owner, get_or_create_tenant
from kith.db.session import standalone_session
from kith.db.urls import asyncpg_dsn

BATCH = 10
HELD_AFTER = 3 * BATCH  # the worker dies inside its 4th batch

# The 4th batch of the crashed tenant's run stops inside its transaction (rows written, not committed)
# and waits there until its worker is gone.
HOLD_SQL = """
CREATE TABLE kith_test_hold (tenant_id bigint PRIMARY KEY, after_seen int NOT NULL);
CREATE SEQUENCE kith_test_held;
CREATE FUNCTION kith_test_hold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.rows_seen > OLD.rows_seen
     AND EXISTS (SELECT FROM kith_test_hold WHERE tenant_id = NEW.tenant_id AND OLD.rows_seen >= after_seen) THEN
    PERFORM nextval('kith_test_held');
    LOOP PERFORM pg_sleep(0.05); END LOOP;  -- ended by the server noticing the dead client
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER kith_test_hold BEFORE UPDATE ON sync_runs FOR EACH ROW EXECUTE FUNCTION kith_test_hold();
"""


def _card(i: int, *, name: str | None = None, email: str | None = None, extra: str = "") -> str:
    fn = f"FN:{name}\r\n" if name is not None else ""
    return f"BEGIN:VCARD\r\nVERSION:3.0\r\n{fn}EMAIL:{email or f'p{i}@example.org'}\r\n{extra}END:VCARD\r\n"


def _address_book() -> bytes:
    """Seven batches of ten: new people (some with a photo, which is not imported), a repeat within a
    batch (skipped), records that fail (no name), and, after the crash point,
    people of the first batch again with a title (updated)."""
    cards = []
    for i in range(60):
        if i == 12:
            cards.append(_card(i, name="Person 11 again", email="p11@example.org"))
        elif i in (25, 37):
            cards.append(f"BEGIN:VCARD\r\nVERSION:3.0\r\nTEL:+1 555 00{i}\r\nEND:VCARD\r\n")  # nobody
        else:
            photo = "PHOTO;ENCODING=b;TYPE=JPEG:AAAA\r\n" if i % 7 == 0 else ""
            cards.append(_card(i, name=f"Person {i}", extra=photo))
    cards += [_card(i, name=f"Person {i}", extra="TITLE:Engineer\r\n") for i in range(5)]
    cards += [_card(100 + i, name=f"Late {i}") for i in range(5)]
    return "".join(cards).encode()


async def _token(url: str, tenant_name: str) -> tuple[int, str]:
    async with standalone_session(url) as session:
        tenant = await get_or_create_tenant(session, tenant_name)
        await get_or_create_owner(session, tenant)
        return tenant.id, await create_token(session, tenant.name)


async def _query(url: str, method: str, sql: str, *args) -> Any:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await getattr(conn, method)(sql, *args)
    finally:
        await conn.close()


async def _upload(url: str, token: str, content: bytes) -> int:
    async with AsyncTestClient(app=create_app(url)) as client:
        response = await client.post(
            "/api/v1/sync/vcard",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": ("contacts.vcf", content, "text/vcard")},
        )
    assert response.status_code == 202, response.text
    return response.json()["id"]


async def _finished(url: str, run_id: int) -> bool:
    run = await _query(
        url, "fetchrow", "SELECT status, stages #>> '{refresh,status}' AS refresh FROM sync_runs WHERE id = $1", run_id
    )
    assert run["status"] in ("queued", "running", "succeeded"), run
    return run["status"] == "succeeded" and run["refresh"] == "succeeded"


def _untimed(value: Any) -> Any:
    """A run's stages without their times, slices named by their read model (two tenants' differ)."""
    if isinstance(value, dict):
        return {
            re.sub(r"_(h|t)[0-9]+$", "", k): _untimed(v)
            for k, v in value.items()
            if not k.endswith(("_at", "_ms")) and k != "as_of"
        }
    return value


async def _outcome(url: str, run_id: int, tenant_id: int) -> dict[str, Any]:
    import json

    run = await _query(
        url,
        "fetchrow",
        "SELECT status, rows_seen, rows_inserted, rows_updated, rows_skipped, rows_failed, errors::text, "
        "stages::text FROM sync_runs WHERE id = $1",
        run_id,
    )
    contacts = await _query(
        url,
        "fetch",
        "SELECT full_name, emails, title, score FROM contacts WHERE tenant_id = $1 ORDER BY full_name",
        tenant_id,
    )
    return {
        **{k: run[k] for k in ("status", "rows_seen", "rows_inserted", "rows_updated", "rows_skipped", "rows_failed")},
        "errors": json.loads(run["errors"]),
        "stages": _untimed(json.loads(run["stages"])),
        "contacts": [tuple(c) for c in contacts],
    }


async def test_a_run_whose_worker_is_killed_mid_import_ends_with_the_counts_of_an_uninterrupted_run(
    jobs_db, redis_jobs, workers
):
    await _query(jobs_db, "execute", HOLD_SQL)
    # The server notices a vanished client within this while a statement runs (it rolls the batch back).
    await _query(
        jobs_db,
        "execute",
        "ALTER DATABASE " + jobs_db.rsplit("/", 1)[1] + " SET client_connection_check_interval = '200ms'",
    )
    content = _address_book()
    env = {"KITH_SYNC_BATCH_SIZE": str(BATCH), "KITH_REDELIVER_AFTER": "2"}
    workers.start("compute", jobs_db)
    doomed = workers.start("sync", jobs_db, **env)
    try:
        whole_id, whole_token = await _token(jobs_db, "whole")
        whole_run = await _upload(jobs_db, whole_token, content)
        await wait_until(lambda: _finished(jobs_db, whole_run), 60, "the uninterrupted run")
        whole = await _outcome(jobs_db, whole_run, whole_id)
        # The file exercises every count.
        assert whole["rows_seen"] == 70 and whole["stages"]["sync"]["batches"] == 7, whole
        assert all(whole[k] > 0 for k in ("rows_inserted", "rows_updated", "rows_skipped", "rows_failed")), whole
        assert whole["stages"]["sync"]["dropped"], whole

        crashed_id, crashed_token = await _token(jobs_db, "crashed")
        await _query(jobs_db, "execute", "INSERT INTO kith_test_hold VALUES ($1, $2)", crashed_id, HELD_AFTER)
        crashed_run = await _upload(jobs_db, crashed_token, content)
        await wait_until(
            lambda: _query(jobs_db, "fetchval", "SELECT is_called FROM kith_test_held"), 30, "the 4th batch"
        )
        workers.kill(doomed)  # kill -9, mid-transaction
        await wait_until(
            lambda: _query(
                jobs_db,
                "fetchval",
                "SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = current_database() "
                "AND query LIKE '%sync_runs%' AND state = 'active' AND pid <> pg_backend_pid()",
            ),
            15,
            "the dead worker's batch to be rolled back",
        )
        held = await _query(jobs_db, "fetchrow", "SELECT status, rows_seen FROM sync_runs WHERE id = $1", crashed_run)
        assert (held["status"], held["rows_seen"]) == ("running", HELD_AFTER)  # three batches committed, no more
        await _query(jobs_db, "execute", "DELETE FROM kith_test_hold")

        workers.start("sync", jobs_db, **env)
        await wait_until(lambda: _finished(jobs_db, crashed_run), 60, "the resumed run")
    except BaseException:
        print(workers.logs())
        raise
    assert "took over message" in workers.logs()
    crashed = await _outcome(jobs_db, crashed_run, crashed_id)
    assert crashed == whole
