"""Tokens: scopes enforced per route (403), expiry and revocation (401), last use recorded at most once a
minute, and the `kith token create|list|revoke|rotate` commands (one-line errors, machine-readable stdout)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
from tests.limits.conftest import eventually

from kith.auth.known_tokens import token_use
from kith.auth.service import create_token
from kith.db.session import standalone_session

VCARD = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada\r\nEMAIL:ada@example.org\r\nEND:VCARD\r\n"


def kith(args: list[str], url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "kith", *args], env=env, capture_output=True, text=True, timeout=120)


async def token_for(db: str, tenant_name: str, *scopes: str, expires_in_days: float | None = None) -> dict:
    async with standalone_session(db) as session:
        token = await create_token(session, tenant_name, scopes=scopes, expires_in_days=expires_in_days)
    return {"Authorization": f"Bearer {token}"}


async def flush_token_use(client, app) -> None:
    """Record the tokens' last use now, in the app's own event loop (the test client runs it in a thread)."""
    await asyncio.to_thread(client.blocking_portal.call, token_use(app).flush)


@pytest.fixture
async def tenant(make_tenant):
    return await make_tenant("scoped")


async def requests(client, headers) -> dict[str, int]:
    """The status of one request of each kind: read, write (create, change, delete), import."""
    created = await client.post("/api/v1/contacts", json={"full_name": "Ada"}, headers=headers)
    contact_id = created.json()["id"] if created.status_code == 201 else 1
    return {
        "list": (await client.get("/api/v1/contacts", headers=headers)).status_code,
        "runs": (await client.get("/api/v1/sync/runs", headers=headers)).status_code,
        "create": created.status_code,
        "patch": (
            await client.patch(f"/api/v1/contacts/{contact_id}", json={"title": "x"}, headers=headers)
        ).status_code,
        "import": (
            await client.post("/api/v1/sync/vcard", content=VCARD, headers={**headers, "Content-Type": "text/vcard"})
        ).status_code,
        "delete": (await client.delete(f"/api/v1/contacts/{contact_id}", headers=headers)).status_code,
    }


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        (
            ("read", "write", "import"),
            {"list": 200, "runs": 200, "create": 201, "patch": 200, "import": 202, "delete": 204},
        ),
        (("read",), {"list": 200, "runs": 200, "create": 403, "patch": 403, "import": 403, "delete": 403}),
        (("write",), {"list": 403, "runs": 403, "create": 201, "patch": 200, "import": 403, "delete": 204}),
        (("import",), {"list": 403, "runs": 403, "create": 403, "patch": 403, "import": 202, "delete": 403}),
    ],
)
async def test_scopes_are_enforced_per_route(client, db, tenant, scopes, expected):
    headers = await token_for(db, "scoped", *scopes)
    assert await requests(client, headers) == expected


async def test_a_missing_scope_is_a_403_problem(client, db, tenant):
    headers = await token_for(db, "scoped", "read")
    response = await client.post("/api/v1/contacts", json={"full_name": "Ada"}, headers=headers)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["required_scope"] == "write"


async def test_an_expired_token_is_a_401(app, client, conn, db, tenant):
    headers = await token_for(db, "scoped", "read", expires_in_days=1)
    assert (await client.get("/api/v1/contacts", headers=headers)).status_code == 200
    listener = app.state["kith_notify_listener"]
    received = listener.received
    await conn.execute("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE tenant_id = $1", tenant.id)
    await eventually(lambda: listener.received > received)  # re-dating a known token is announced
    response = await client.get("/api/v1/contacts", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_last_use_is_recorded_at_most_once_a_minute(app, client, conn, db, tenant, statements):
    headers = await token_for(db, "scoped", "read")
    last_used = "SELECT last_used_at FROM api_tokens WHERE tenant_id = $1 AND scopes = '{read}'"
    assert await conn.fetchval(last_used, tenant.id) is None
    # The tenant's plan is read once per process, on its first request: make that one with another token.
    await client.get("/api/v1/sync/runs", headers=await token_for(db, "scoped", "write"))
    statements.reset()
    await client.get("/api/v1/sync/runs", headers=headers)
    assert statements.count == 2  # the auth statement (which records the use) and the listing
    first = await conn.fetchval(last_used, tenant.id)
    assert first is not None
    statements.reset()
    await client.get("/api/v1/sync/runs", headers=headers)
    assert statements.count == 1  # a known token: its use is noted in the process, not written
    await flush_token_use(client, app)  # what the process does every 30 s, off the requests' path
    assert await conn.fetchval(last_used, tenant.id) == first  # within the minute: not written again
    await conn.execute(
        "UPDATE api_tokens SET last_used_at = now() - interval '2 minutes' WHERE tenant_id = $1 AND scopes = '{read}'",
        tenant.id,
    )
    await client.get("/api/v1/sync/runs", headers=headers)
    await flush_token_use(client, app)
    assert await conn.fetchval(last_used, tenant.id) > first


async def test_token_commands(client, db, tenant):
    created = kith(
        ["token", "create", "--tenant", "scoped", "--name", "ci", "--scope", "read", "--expires-in", "30"], db
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert created.stdout == token + "\n"
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/contacts", headers=headers)).status_code == 200
    assert (await client.post("/api/v1/contacts", json={"full_name": "A"}, headers=headers)).status_code == 403

    listed = kith(["token", "list", "--tenant", "scoped"], db)
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    ci = next(r for r in rows if r["name"] == "ci")
    assert ci["scopes"] == ["read"] and ci["expires_at"] and ci["revoked_at"] is None and ci["last_used_at"]
    assert token not in listed.stdout

    rotated = kith(["token", "rotate", str(ci["id"])], db)
    assert rotated.returncode == 0, rotated.stderr
    new_headers = {"Authorization": f"Bearer {rotated.stdout.strip()}"}
    assert (await client.get("/api/v1/contacts", headers=headers)).status_code == 401
    assert (await client.get("/api/v1/contacts", headers=new_headers)).status_code == 200
    assert (await client.post("/api/v1/contacts", json={"full_name": "A"}, headers=new_headers)).status_code == 403
    new = [json.loads(line) for line in kith(["token", "list", "--tenant", "scoped"], db).stdout.splitlines()][-1]
    assert new["name"] == "ci" and new["scopes"] == ["read"] and new["expires_at"]

    revoked = kith(["token", "revoke", str(new["id"])], db)
    assert (revoked.returncode, revoked.stdout) == (0, f"{new['id']}\n")
    assert (await client.get("/api/v1/contacts", headers=new_headers)).status_code == 401


@pytest.mark.parametrize(
    "args",
    [
        ["token", "revoke", "999999"],
        ["token", "rotate", "999999"],
        ["token", "list", "--tenant", "nobody"],
        ["token", "create", "--tenant", "scoped", "--scope", "admin"],
        ["token", "create", "--tenant", "scoped", "--expires-in", "0"],
    ],
)
async def test_token_command_errors_are_one_line(db, tenant, args):
    result = kith(args, db)
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("kith: error:"), result.stderr


async def test_created_at_is_the_time_of_the_insert(conn, db, tenant):
    """0001's DEFAULT 'now()' (a string) froze one timestamp; 0004 makes it now()."""
    await token_for(db, "scoped", "read")
    await conn.execute("SELECT pg_sleep(0.01)")
    await token_for(db, "scoped", "read")
    for key in ("a", "b"):
        await conn.execute("SELECT pg_sleep(0.01)")
        await conn.execute(
            "INSERT INTO mentions (tenant_id, source, dedupe_key, title) VALUES ($1, 's', $2, 'T')", tenant.id, key
        )
    for table in ("api_tokens", "mentions"):
        times = await conn.fetch(f"SELECT created_at FROM {table} WHERE tenant_id = $1 ORDER BY id", tenant.id)
        assert len({t["created_at"] for t in times}) == len(times) >= 2, table
        assert max(t["created_at"] for t in times) > await conn.fetchval("SELECT now() - interval '1 minute'")
    defaults = await conn.fetch(
        """SELECT c.relname, pg_get_expr(d.adbin, d.adrelid) AS expr, col_description(c.oid, a.attnum) AS note
           FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid
           JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
           WHERE a.attname = 'created_at' AND c.relname IN ('api_tokens', 'messages', 'mentions')"""
    )
    assert {r["relname"]: r["expr"] for r in defaults} == dict.fromkeys(("api_tokens", "messages", "mentions"), "now()")
    assert all("migration 0001" in r["note"] for r in defaults)
