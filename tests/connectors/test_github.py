"""GitHub through a connection, against the fake GitHub on a local port: pull requests' reviews and comments
become interactions with the people who wrote them."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from kith.connectors.running import execute_connection_run
from kith.connectors.service import ConnectError, connect_github, queue_run

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
REPO = "octo/engine"


def ago(**delta) -> dt.datetime:
    return NOW - dt.timedelta(**delta)


def arrange(github) -> None:
    github.user("ada", name="Ada Lovelace", email="ada@example.com")
    github.user("grace", name="Grace Hopper")
    github.pull(REPO, 1, "ada", ago(days=5), "Faster engine")
    github.review(REPO, 1, "grace", ago(days=4), body="Looks right")
    github.comment(REPO, 1, "bob", ago(days=3), "Why this way?")
    github.comment(REPO, 1, "grace", ago(days=3, hours=1), "nit: name", inline=True)
    github.comment(REPO, 1, "dependabot[bot]", ago(days=3), "Bump")
    github.pull(REPO, 2, "me", ago(days=2), "My change")
    github.review(REPO, 2, "ada", ago(days=2, hours=1), state="CHANGES_REQUESTED", body="Needs tests")
    github.review(REPO, 2, "grace", ago(days=2), state="PENDING")
    github.pull(REPO, 3, "carol", ago(days=1), "Docs")
    github.comment(REPO, 3, "me", ago(days=1), "Thanks Carol")
    github.pull(REPO, 4, "dan", ago(days=90), "Long ago")
    github.comment(REPO, 4, "erin", ago(days=90), "Old news")
    github.deleted_users.add("bob")  # his account is gone; his comment still names his login


async def interactions(conn, tenant_id: int) -> list[tuple[str, str, str]]:
    rows = await conn.fetch(
        """SELECT c.external_id AS pr, m.direction, k.value AS login FROM messages m
           JOIN conversations c ON c.id = m.conversation_id
           JOIN contact_keys k ON k.tenant_id = m.tenant_id AND k.contact_id = m.contact_id AND k.kind = 'github'
           WHERE m.tenant_id = $1 AND m.channel = 'github' ORDER BY 1, 2, 3""",
        tenant_id,
    )
    return [(r["pr"], r["direction"], r["login"]) for r in rows]


async def sync(client, tenant, connection_id: int) -> dict:
    response = await client.post(f"/api/v1/connections/{connection_id}/sync", headers=tenant.headers)
    assert response.status_code == 202, response.text
    return (await client.get(response.headers["location"], headers=tenant.headers)).json()


async def test_full_then_incremental_then_unchanged_costs_no_rate_limit(client, conn, engine, make_tenant, github):
    arrange(github)
    tenant = await make_tenant()
    # Someone the user knows already, by their GitHub profile among the contact's links.
    response = await client.post(
        "/api/v1/contacts",
        json={"full_name": "Bob B.", "links": ["https://github.com/Bob"]},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    bob_id = response.json()["id"]

    connection_id = await connect_github(engine, tenant.id, tenant.user_id, github.token(), [REPO], 30)

    [connection] = (await client.get("/api/v1/connections", headers=tenant.headers)).json()["items"]
    assert (connection["provider"], connection["account"], connection["repositories"]) == ("github", "me", [REPO])
    run = (await client.get(f"/api/v1/sync/runs/{connection['last_run_id']}", headers=tenant.headers)).json()
    assert run["status"] == "succeeded", run
    assert await interactions(conn, tenant.id) == [
        ("pr/octo/engine#1", "in", "bob"),
        ("pr/octo/engine#1", "in", "grace"),
        ("pr/octo/engine#1", "in", "grace"),
        ("pr/octo/engine#2", "in", "ada"),
        ("pr/octo/engine#3", "out", "carol"),
    ]
    people = {
        r["login"]: (r["full_name"], r["emails"], r["id"])
        for r in await conn.fetch(
            """SELECT k.value AS login, c.full_name, c.emails, c.id FROM contacts c
               JOIN contact_keys k ON k.contact_id = c.id AND k.kind = 'github' WHERE c.tenant_id = $1""",
            tenant.id,
        )
    }
    # Authors, reviewers and commenters (not the account, not a bot, nobody outside the window).
    assert set(people) == {"ada", "grace", "bob", "carol"}
    assert people["ada"][:2] == ("Ada Lovelace", ["ada@example.com"])  # the public email
    assert people["grace"][:2] == ("Grace Hopper", [])
    assert people["bob"][2] == bob_id and people["bob"][0] == "Bob B."  # the user's contact, as they named it
    bob = (await client.get(f"/api/v1/contacts/{bob_id}", headers=tenant.headers)).json()
    assert bob["last_interaction_at"] is not None

    # One new comment: only the pull requests updated since the last pass are read.
    github.comment(REPO, 3, "carol", NOW, "Fixed the typo")
    github.requests.clear()
    pages = github.list_pages
    run = await sync(client, tenant, connection_id)
    assert run["status"] == "succeeded" and run["rows_inserted"] == 1, run
    assert github.list_pages == pages + 1  # page 1 (changed), read down to PR 2, not updated since
    assert github.count("/pulls/1/") == 0 and github.count("/issues/3/comments") == 1
    assert ("pr/octo/engine#3", "in", "carol") in await interactions(conn, tenant.id)

    # Nothing changed: the first page is a 304, which costs no rate limit; nothing else is asked.
    costly = github.costly
    github.requests.clear()
    run = await sync(client, tenant, connection_id)
    assert run["status"] == "succeeded" and run["rows_seen"] == 0
    assert github.costly == costly and [status for *_, status in github.requests] == [304]
    assert run["stages"]["sync"]["rate_limited_requests"] == 0 and run["stages"]["sync"]["not_modified"] == 1


async def test_a_30_day_window_of_a_10000_pr_repository_reads_only_the_pages_it_needs(
    conn, engine, make_tenant, github
):
    # 10,000 pull requests over 1,200 days: 250 were updated in the last 30 days, 2.5 pages of 100.
    github.fill_repository("big/repo", 10_000, dt.timedelta(days=1200))
    tenant = await make_tenant()
    await connect_github(engine, tenant.id, tenant.user_id, github.token(), ["big/repo"], 30)
    assert github.list_pages == 3  # of 100: the third holds the first pull request older than the window
    assert github.count("/reviews") == 250
    counts = await conn.fetchrow(
        """SELECT count(*) AS messages, count(DISTINCT conversation_id) AS prs FROM messages WHERE tenant_id = $1""",
        tenant.id,
    )
    # Even-numbered pull requests have a review, multiples of 3 a comment (tests/fakes/github.py).
    numbers = range(10_000 - 249, 10_001)
    assert counts["messages"] == sum(n % 2 == 0 for n in numbers) + sum(n % 3 == 0 for n in numbers)


async def test_rate_limits_are_honoured_before_they_are_hit_and_secondary_limits_back_off(
    client, conn, engine, make_tenant, github
):
    arrange(github)
    tenant = await make_tenant()
    github.remaining = 4  # spent by the connect's look-ups and the first page; then wait for the reset
    github.reset_at = dt.datetime.now(dt.UTC).timestamp() + 1
    github.secondary_limit(2, retry_after="1", path_part="/pulls")
    connection_id = await connect_github(engine, tenant.id, tenant.user_id, github.token(), [REPO], 30)
    run = (await client.get(f"/api/v1/connections/{connection_id}", headers=tenant.headers)).json()
    run = (await client.get(f"/api/v1/sync/runs/{run['last_run_id']}", headers=tenant.headers)).json()
    assert run["status"] == "succeeded", run
    assert run["stages"]["sync"]["retry_wait_seconds"] >= 2  # Retry-After: 1, twice; and the reset
    refused = [q for path, q, status in github.requests if status == 403]
    assert len(refused) == 2  # the secondary limits only: the primary was never hit
    assert len(await interactions(conn, tenant.id)) == 5


async def test_a_failed_run_resumes_from_its_checkpoint_and_nothing_is_lost_or_doubled(
    client, conn, engine, make_tenant, github
):
    github.fill_repository("big/repo", 250, dt.timedelta(days=50))  # 150 pull requests in 30 days: 2 pages
    tenant = await make_tenant()
    connection_id = await connect_github(engine, tenant.id, tenant.user_id, github.token(), ["big/repo"], 30)
    first = await conn.fetchval("SELECT count(*) FROM messages WHERE tenant_id = $1", tenant.id)
    assert first > 0 and github.list_pages == 2

    # Again from scratch (no ETag, no checkpoint, some interactions lost), failing for good on page 2.
    await conn.execute("UPDATE connections SET checkpoint = '{}' WHERE id = $1", connection_id)
    await conn.execute("DELETE FROM messages WHERE tenant_id = $1 AND sent_at < now() - interval '20 days'", tenant.id)
    github.fail("/repos/big/repo/pulls", "page=2", times=5)  # KITH_CONNECTOR_MAX_RETRIES=4: five attempts
    async with AsyncSession(engine) as session, session.begin():
        run = await queue_run(session, tenant.id, tenant.user_id, "github", connection_id)
    await execute_connection_run(engine, run.id)
    status, error = await conn.fetchrow("SELECT status, error FROM sync_runs WHERE id = $1", run.id)
    assert status == "failed" and "502" in error
    assert "page=2" in await conn.fetchval(
        "SELECT checkpoint -> 'github' -> 'repos' -> 'big/repo' ->> 'next' FROM connections"
    )

    github.requests.clear()
    run = await sync(client, tenant, connection_id)
    assert run["status"] == "succeeded", run
    lists = [query for path, query, _ in github.requests if path == "/repos/big/repo/pulls"]
    assert lists and all("page=2" in q for q in lists)  # page 2 only: page 1 was not read again
    # What the failed run re-landed was not landed twice; what was lost is back.
    assert await conn.fetchval("SELECT count(*) FROM messages WHERE tenant_id = $1", tenant.id) == first


RUN_ONE = """
import asyncio, sys
from kith.db.session import standalone_engine
from kith.connectors.running import execute_connection_run

async def main():
    async with standalone_engine() as engine:
        await execute_connection_run(engine, int(sys.argv[1]))

asyncio.run(main())
"""


async def test_a_sync_killed_mid_way_resumes_after_the_last_page_that_landed(db, conn, engine, make_tenant, github):
    tenant = await make_tenant()
    github.repository("big/repo")
    connection_id = await connect_github(engine, tenant.id, tenant.user_id, github.token(), ["big/repo"], 30)
    github.fill_repository("big/repo", 250, dt.timedelta(days=50))  # 150 pull requests in 30 days: 2 pages
    async with AsyncSession(engine) as session, session.begin():
        run = await queue_run(session, tenant.id, tenant.user_id, "github", connection_id)
    second_page = github.hold("/repos/big/repo/pulls", "page=2")
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
    landed = await conn.fetchval("SELECT count(*) FROM messages WHERE tenant_id = $1", tenant.id)
    assert landed > 0  # the first page's
    github.requests.clear()

    await execute_connection_run(engine, run.id)  # delivered again, as the job queue would

    assert await conn.fetchval("SELECT status FROM sync_runs WHERE id = $1", run.id) == "succeeded"
    lists = [query for path, query, _ in github.requests if path == "/repos/big/repo/pulls"]
    assert lists and all("page=2" in q for q in lists)  # the first page was not read again
    numbers = range(250 - 149, 251)
    expected = sum(n % 2 == 0 for n in numbers) + sum(n % 3 == 0 for n in numbers)
    assert await conn.fetchval("SELECT count(*) FROM messages WHERE tenant_id = $1", tenant.id) == expected


async def test_tenants_are_isolated_and_the_plan_decides(db, client, conn, engine, make_tenant, github):
    arrange(github)
    one, two = await make_tenant(), await make_tenant("gh-cli")
    for tenant in (one, two):
        await client.post(
            "/api/v1/contacts", json={"full_name": "Ada", "links": ["github.com/ada"]}, headers=tenant.headers
        )
    await connect_github(engine, one.id, one.user_id, github.token(), [REPO], 30)
    assert len(await interactions(conn, one.id)) == 5
    assert await interactions(conn, two.id) == []  # the other tenant's Ada has none
    assert (await client.get("/api/v1/connections", headers=two.headers)).json()["items"] == []

    # From a terminal: the same repository for the other tenant, and its own rows.
    command = ["kith", "connect", "github", "--tenant", "gh-cli", "--token", github.token(), "--repo", REPO]
    env = {**os.environ, "DATABASE_URL": db}
    env.pop("REDIS_URL", None)  # the first sync runs in the command's process
    result = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert await conn.fetchval("SELECT tenant_id FROM connections WHERE id = $1", int(result.stdout)) == two.id
    assert len(await interactions(conn, two.id)) == 6  # no window: the 90-day-old comment too
    assert len(await interactions(conn, one.id)) == 5
    with pytest.raises(ConnectError, match="Not Found"):
        await connect_github(engine, two.id, two.user_id, github.token(), [REPO, "octo/missing"], None)

    plan_id = await conn.fetchval(
        "INSERT INTO plans (name, is_default, requests_per_minute, max_upload_bytes, max_uploads_in_flight,"
        " max_queued_runs, connectors) VALUES ('google only', false, 600, 1000000, 2, 8, ARRAY['google']) RETURNING id"
    )
    await conn.execute("UPDATE tenants SET plan_id = $1 WHERE id = $2", plan_id, one.id)
    with pytest.raises(ConnectError, match="does not include the github source"):
        await connect_github(engine, one.id, one.user_id, github.token(), [REPO], 30)
    with pytest.raises(ConnectError, match="refused the token"):
        await connect_github(engine, one.id, one.user_id, "ghp_wrong", [REPO], 30)
