"""Connecting (OAuth with PKCE through the API, or from a terminal), the plan's gate, and a sync killed with
SIGKILL that resumes from its checkpoint."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from kith.connectors.cli_connect import connect_in_browser
from kith.connectors.running import execute_connection_run
from kith.connectors.service import queue_run

ME = "me@example.com"


async def test_the_oauth_flow_connects_with_pkce_and_a_sealed_state(client, conn, make_tenant, google):
    google.add_message("Ada <ada@example.com>", ME, sent=dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
    google.add_message("Old <old@example.com>", ME, sent=dt.datetime.now(dt.UTC) - dt.timedelta(days=40))
    tenant = await make_tenant()
    response = await client.get("/api/v1/connections/google/authorize?days_back=30", headers=tenant.headers)
    assert response.status_code == 200, response.text
    url = response.json()["authorization_url"]
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["access_type"] == ["offline"]
    assert query["redirect_uri"][0].endswith("/api/v1/connections/google/callback")
    async with httpx.AsyncClient() as http:
        approved = urlsplit((await http.get(url)).headers["location"])  # the provider sends the browser back
    callback = f"{approved.path}?{approved.query}"

    response = await client.get(callback, follow_redirects=False)  # no bearer token: the browser comes from Google
    assert response.status_code == 303 and response.headers["location"] == "/#connections"
    [connection] = (await client.get("/api/v1/connections", headers=tenant.headers)).json()["items"]
    assert (connection["account"], connection["status"], connection["last_run_status"]) == (ME, "active", "succeeded")
    assert await conn.fetchval("SELECT options ->> 'days_back' FROM connections") == "30"
    assert await conn.fetchval("SELECT count(*) FROM messages WHERE tenant_id = $1", tenant.id) == 1  # days_back

    # A code is good once; a state that was not sealed here, or for another provider, is refused.
    assert (await client.get(callback)).status_code == 400
    state = parse_qs(approved.query)["state"][0]
    assert (await client.get(f"/api/v1/connections/google/callback?code=x&state={state[:-4]}AAAA")).status_code == 400
    assert (
        await client.get(f"/api/v1/connections/google/callback?error=access_denied&state={state}")
    ).status_code == 400
    assert (await client.get("/api/v1/connections/google/callback")).status_code == 400


async def test_the_plan_decides_which_providers_a_tenant_may_connect(client, conn, make_tenant, google):
    tenant = await make_tenant()
    plan_id = await conn.fetchval(
        "INSERT INTO plans (name, is_default, requests_per_minute, max_upload_bytes, max_uploads_in_flight,"
        " max_queued_runs, connectors) VALUES ('files', false, 600, 1000000, 2, 8, ARRAY['vcard']) RETURNING id"
    )
    await conn.execute("UPDATE tenants SET plan_id = $1 WHERE id = $2", plan_id, tenant.id)
    response = await client.get("/api/v1/connections/google/authorize", headers=tenant.headers)
    assert response.status_code == 403 and response.json()["limit"] == "connectors"
    assert (await client.get("/api/v1/connections/gitlab/authorize", headers=tenant.headers)).status_code == 400


async def test_kith_connect_takes_the_callback_on_a_local_port(conn, engine, make_tenant, google):
    google.put_person("people/c1", "Ada", ["ada@example.com"])
    tenant = await make_tenant()
    followed = []

    def open_in_browser(url: str) -> None:
        async def follow() -> None:
            async with httpx.AsyncClient(follow_redirects=True) as http:
                followed.append((await http.get(url)).text)

        asyncio.get_running_loop().create_task(follow())

    connection_id = await connect_in_browser(engine, tenant.id, tenant.user_id, "google", None, 0, open_in_browser)
    assert followed and "close this window" in followed[0]
    row = await conn.fetchrow("SELECT tenant_id, account, last_run_id FROM connections WHERE id = $1", connection_id)
    assert (row["tenant_id"], row["account"]) == (tenant.id, ME) and row["last_run_id"] is not None
    assert await conn.fetchval("SELECT count(*) FROM contacts WHERE tenant_id = $1", tenant.id) == 1


async def test_kith_connect_with_a_refresh_token(db, conn, make_tenant, google):
    tenant_name = "cli-connect"
    tenant = await make_tenant(tenant_name)
    google.add_message("Ada <ada@example.com>", ME)
    command = [
        "kith",
        "connect",
        "google",
        "--tenant",
        tenant_name,
        "--refresh-token",
        google.grant(),
        "--days-back",
        "7",
    ]
    result = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, env={**os.environ, "DATABASE_URL": db}, timeout=120
    )
    assert result.returncode == 0, result.stderr
    connection_id = int(result.stdout.strip())
    assert await conn.fetchval("SELECT tenant_id FROM connections WHERE id = $1", connection_id) == tenant.id
    refused = await asyncio.to_thread(
        subprocess.run,
        [*command[:6], "1//revoked"],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": db},
        timeout=120,
    )
    assert refused.returncode != 0 and "invalid_grant" not in refused.stdout and "refused" in refused.stderr


RUN_ONE = """
import asyncio, sys
from kith.db.session import standalone_engine
from kith.connectors.running import execute_connection_run

async def main():
    async with standalone_engine() as engine:
        await execute_connection_run(engine, int(sys.argv[1]))

asyncio.run(main())
"""


async def test_a_sync_killed_mid_way_resumes_from_its_checkpoint(db, conn, engine, make_tenant, google, connect):
    tenant = await make_tenant()
    connection_id = await connect(tenant)  # an empty mailbox: the first sync stores a history id
    google.page_size = 4
    ids = [google.add_message(f"P{n} <p{n}@example.com>", ME) for n in range(12)]
    google.expire_history()  # so the next sync is a full one, in three pages
    async with AsyncSession(engine) as session, session.begin():
        run = await queue_run(session, tenant.id, tenant.user_id, "google", connection_id)
    google.requests.clear()
    second_page = google.hold("/gmail/v1/users/me/messages", "pageToken=")
    worker = subprocess.Popen([sys.executable, "-c", RUN_ONE, str(run.id)], env={**os.environ, "DATABASE_URL": db})
    try:
        assert await asyncio.to_thread(second_page.reached.wait, 60), "the worker never asked for the second page"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        second_page.release.set()
        if worker.poll() is None:
            worker.kill()
    assert await conn.fetchval("SELECT status FROM sync_runs WHERE id = $1", run.id) == "running"
    assert await conn.fetchval("SELECT count(*) FROM messages WHERE tenant_id = $1", tenant.id) == 4
    assert await conn.fetchval("SELECT checkpoint -> 'gmail' -> 'full' ->> 'page_token' FROM connections") is not None

    await execute_connection_run(engine, run.id)  # delivered again, as the job queue would

    assert await conn.fetchval("SELECT status FROM sync_runs WHERE id = $1", run.id) == "succeeded"
    assert await conn.fetchval("SELECT count(*) FROM messages WHERE tenant_id = $1", tenant.id) == 12
    assert [google.count(f"/messages/{i}") for i in ids] == [1] * 12  # every message fetched once
    lists = [query for path, query in google.requests if path == "/gmail/v1/users/me/messages"]
    # Pages 1 and 2 by the killed worker (2 never answered), then 2 and 3: page 1 was not asked again.
    assert len(lists) == 4 and sum("pageToken" not in q for q in lists) == 1
    assert google.count("/profile") == 1
