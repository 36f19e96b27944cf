"""X through a connection, against the fake X on a local port: direct messages become interactions with the
contacts whose links name the X handle."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess

import pytest

from kith.connectors.service import ConnectError, connect_x

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def ago(**delta) -> dt.datetime:
    return NOW - dt.timedelta(**delta)


def arrange(x) -> None:
    x.user("201", "Ada_L", "Ada Lovelace")
    x.user("202", "bob", "Bob")
    x.user("203", "carol", "Carol")
    x.dm("201", "Hi! Coffee?", ago(days=3))
    x.dm("201", "Sure, Tuesday", ago(days=3) + dt.timedelta(minutes=5), sent=True)
    x.dm("202", "Long time no see", ago(days=1))
    x.dm("203", "Sent to carol only", ago(hours=5), sent=True)  # carol has not written in the window
    x.dm("202", "To the group", ago(hours=2), sent=True, group="1600000000000000000")
    x.dm("201", "Too old for the window", ago(days=20))


async def interactions(conn, tenant_id: int) -> list[tuple[str, str, str]]:
    rows = await conn.fetch(
        """SELECT k.value AS handle, m.direction, m.body FROM messages m
           JOIN contact_keys k ON k.tenant_id = m.tenant_id AND k.contact_id = m.contact_id AND k.kind = 'x'
           WHERE m.tenant_id = $1 AND m.channel = 'x' ORDER BY m.sent_at""",
        tenant_id,
    )
    return [(r["handle"], r["direction"], r["body"]) for r in rows]


async def sync(client, tenant, connection_id: int) -> dict:
    response = await client.post(f"/api/v1/connections/{connection_id}/sync", headers=tenant.headers)
    assert response.status_code == 202, response.text
    return (await client.get(response.headers["location"], headers=tenant.headers)).json()


async def test_direct_messages_full_then_incremental_with_rotating_refresh_tokens(client, conn, engine, make_tenant, x):
    arrange(x)
    tenant = await make_tenant()
    response = await client.post(
        "/api/v1/contacts",
        json={"full_name": "Ada (the user's name for her)", "links": ["https://twitter.com/ada_l"]},
        headers=tenant.headers,
    )
    ada_id = response.json()["id"]
    granted = x.grant()
    connection_id = await connect_x(engine, tenant.id, tenant.user_id, granted, 7)
    assert granted not in x.refresh_tokens  # rotated by the connect's refresh: the new one is stored

    [connection] = (await client.get("/api/v1/connections", headers=tenant.headers)).json()["items"]
    assert (connection["provider"], connection["account"]) == ("x", "me_on_x")
    assert connection["last_run_status"] == "succeeded"
    assert await interactions(conn, tenant.id) == [
        ("ada_l", "in", "Hi! Coffee?"),
        ("ada_l", "out", "Sure, Tuesday"),
        ("bob", "in", "Long time no see"),
        ("carol", "out", "Sent to carol only"),
    ]
    ada = await conn.fetchrow("SELECT id, full_name FROM contacts WHERE tenant_id = $1 AND id = $2", tenant.id, ada_id)
    assert ada["full_name"] == "Ada (the user's name for her)"  # found by the handle in her links
    assert (
        await conn.fetchval(
            "SELECT full_name FROM contacts c JOIN contact_keys k ON k.contact_id = c.id AND k.kind = 'x'"
            " WHERE k.value = 'bob' AND c.tenant_id = $1",
            tenant.id,
        )
        == "Bob"
    )
    assert x.count("/2/users", "ids=203") == 1  # carol came in no page's includes: looked up once

    # New messages: read down to the newest one read before; none twice. The access token is still
    # good; expired, it is refreshed and the new refresh token stored.
    x.dm("202", "And another thing", ago(minutes=10))
    x.access_tokens.clear()
    x.requests.clear()
    run = await sync(client, tenant, connection_id)
    assert run["status"] == "succeeded" and run["rows_inserted"] == 1, run
    assert x.count("/2/dm_events") == 2  # a 401, then the page after the refresh
    assert x.count("/2/oauth2/token", status=200) == 1
    assert len(await interactions(conn, tenant.id)) == 5

    # A revoked grant: the connection needs the user again.
    x.refresh_tokens.clear()
    x.access_tokens.clear()
    run = await sync(client, tenant, connection_id)
    assert run["status"] == "failed"
    connection = (await client.get(f"/api/v1/connections/{connection_id}", headers=tenant.headers)).json()
    assert connection["status"] == "needs_reauth"


async def test_paging_stops_at_days_back_and_429_waits_for_the_reset(client, conn, engine, make_tenant, x):
    x.user("201", "ada_l")
    for n in range(250):  # one every 2 hours: 84 in the last 7 days, a page of 100
        x.dm("201", f"message {n}", ago(hours=2 * n + 1))
    tenant = await make_tenant()
    x.remaining = 0  # the window is used up; it resets in a second
    x.reset_at = dt.datetime.now(dt.UTC).timestamp() + 1
    connection_id = await connect_x(engine, tenant.id, tenant.user_id, x.grant(), 7)
    run_id = (await client.get(f"/api/v1/connections/{connection_id}", headers=tenant.headers)).json()["last_run_id"]
    run = (await client.get(f"/api/v1/sync/runs/{run_id}", headers=tenant.headers)).json()
    assert run["status"] == "succeeded", run
    assert x.count("/2/dm_events", status=429) == 1 and run["stages"]["sync"]["retry_wait_seconds"] >= 1
    assert x.dm_pages == 1  # 84 messages in the window, the 85th older: one page of 100, not three
    assert len(await interactions(conn, tenant.id)) == 84

    # Nothing new: one page asked, nothing landed.
    run = await sync(client, tenant, connection_id)
    assert (run["status"], run["rows_inserted"], x.dm_pages) == ("succeeded", 0, 2)


async def test_tenants_are_isolated_and_kith_connect_x_needs_no_browser(db, client, conn, engine, make_tenant, x):
    arrange(x)
    one, two = await make_tenant(), await make_tenant("x-cli")
    await connect_x(engine, one.id, one.user_id, x.grant(), 7)
    assert len(await interactions(conn, one.id)) == 4 and await interactions(conn, two.id) == []

    command = ["kith", "connect", "x", "--tenant", "x-cli", "--refresh-token", x.grant()]
    env = {**os.environ, "DATABASE_URL": db}
    env.pop("REDIS_URL", None)  # the first sync runs in the command's process
    result = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert await conn.fetchval("SELECT tenant_id FROM connections WHERE id = $1", int(result.stdout)) == two.id
    assert len(await interactions(conn, two.id)) == 5  # no window: X's 30 days
    assert len(await interactions(conn, one.id)) == 4
    with pytest.raises(ConnectError, match="refused the refresh token"):
        await connect_x(engine, one.id, one.user_id, "not-a-grant", None)
