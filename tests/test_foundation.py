"""Foundation: migrations, readiness, auth, problem documents, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from kith.app import create_app
from kith.db.migrations import downgrade_async, head_revision, upgrade_async
from kith.db.urls import asyncpg_dsn

EXPECTED_TABLES = {
    "tenants",
    "users",
    "api_tokens",
    "contacts",
    "contact_keys",
    "conversations",
    "messages",
    "mentions",
    "sync_runs",
    "view_refreshes",
}


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows} - {"alembic_version"}
    finally:
        await conn.close()


async def test_migrations_up_down_up(create_database):
    url = await create_database("kith_migrations")
    await upgrade_async(url)
    assert await _tables(url) >= EXPECTED_TABLES
    await downgrade_async(url, "base")
    assert await _tables(url) == set()
    await upgrade_async(url)
    assert await _tables(url) >= EXPECTED_TABLES


async def test_every_index_leads_with_tenant(database_url):
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch(
            """
            SELECT c.relname AS table, i.relname AS index, a.attname AS first_column
            FROM pg_index x
            JOIN pg_class c ON c.oid = x.indrelid
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
            LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = x.indkey[0]
            -- plans are shared by tenants (a catalogue, like tenants itself)
            WHERE NOT x.indisprimary AND c.relname NOT IN ('tenants', 'plans', 'view_refreshes', 'alembic_version')
              AND c.relname IN (SELECT tablename FROM pg_tables WHERE schemaname = 'public')
            """
        )
    finally:
        await conn.close()
    offenders = [(r["table"], r["index"]) for r in rows if r["first_column"] != "tenant_id"]
    assert sorted(offenders) == [
        # The token hash is globally unique: it is how a request finds its tenant.
        ("api_tokens", "uq_api_tokens_token_hash"),
        # A deleted sync run sets its connections' references to NULL (cleanup deletes runs by age, across
        # tenants): PostgreSQL finds them by the run id alone.
        ("connections", "ix_connections_current_run"),
        # The scheduler's look for connections due, across tenants (partial: active ones only).
        ("connections", "ix_connections_due"),
        ("connections", "ix_connections_last_run"),
        # A refresh of a shared slice completes the waiting runs of all its tenants at once (partial: few wait).
        ("sync_runs", "ix_sync_runs_awaiting_refresh"),
    ]


async def test_ready_before_and_after_migration(create_database):
    url = await create_database("kith_ready")
    app = create_app(url)
    async with AsyncTestClient(app=app) as client:
        before = await client.get("/ready")
        assert before.status_code == 503
        assert before.json()["status"] == "migrations pending"
        assert before.json()["migration"] is None
        await upgrade_async(url)
        after = await client.get("/ready")
        assert after.status_code == 200
        assert after.json() == {
            "status": "ready",
            "database": "ok",
            "migration": head_revision(),
            "expected_migration": head_revision(),
        }
        assert (await client.get("/health")).json() == {"status": "ok"}


async def test_ready_when_database_unreachable():
    app = create_app("postgresql://postgres@127.0.0.1:1/nowhere")
    async with AsyncTestClient(app=app) as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


@pytest.mark.parametrize(
    "headers, detail",
    [
        ({}, "Missing bearer token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "Missing bearer token"),
        ({"Authorization": "Bearer "}, "Missing bearer token"),
        ({"Authorization": "Bearer kith_not-a-real-token"}, "Invalid, expired or revoked bearer token"),
    ],
)
async def test_missing_or_bad_token_is_a_401_problem(client, headers, detail):
    response = await client.get("/api/v1/contacts", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json() == {"status": 401, "title": "Unauthorized", "detail": detail}


async def test_tokens_are_stored_hashed(db, make_tenant):
    tenant = await make_tenant()
    conn = await asyncpg.connect(asyncpg_dsn(db))
    try:
        stored = await conn.fetchval("SELECT token_hash FROM api_tokens WHERE tenant_id = $1", tenant.id)
    finally:
        await conn.close()
    assert tenant.token.encode() not in stored
    assert len(stored) == 32


async def test_a_token_sees_only_its_own_tenant(client, make_tenant):
    alice, bob = await make_tenant("alice"), await make_tenant("bob")
    created = await client.post("/api/v1/contacts", json={"full_name": "Alice Friend"}, headers=alice.headers)
    await client.post("/api/v1/contacts", json={"full_name": "Bob Friend"}, headers=bob.headers)
    alice_names = [
        c["full_name"] for c in (await client.get("/api/v1/contacts", headers=alice.headers)).json()["items"]
    ]
    bob_names = [c["full_name"] for c in (await client.get("/api/v1/contacts", headers=bob.headers)).json()["items"]]
    assert alice_names == ["Alice Friend"]
    assert bob_names == ["Bob Friend"]
    # Another tenant's id is a 404, never a 403 that confirms it exists.
    foreign = await client.get(f"/api/v1/contacts/{created.json()['id']}", headers=bob.headers)
    assert foreign.status_code == 404
    assert foreign.headers["content-type"].startswith("application/problem+json")


async def test_unknown_route_is_a_problem_document(client):
    response = await client.get("/api/v1/nope", headers={"Authorization": "Bearer x"})
    assert response.status_code in (401, 404)
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_openapi_schema_is_served(client):
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert "/api/v1/contacts" in response.json()["paths"]


def _kith(args: list[str], url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "kith", *args], env=env, capture_output=True, text=True, timeout=120)


async def test_cli_token_create_prints_only_a_token(db, client, make_tenant):
    await make_tenant("cli-tenant")
    result = _kith(["token", "create", "--tenant", "cli-tenant"], db)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n" and token.startswith("kith_")
    response = await client.get("/api/v1/contacts", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


async def test_cli_fails_with_one_line_on_stderr(db):
    result = _kith(["token", "create", "--tenant", "no-such-tenant"], db)
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("kith: error:")


async def test_cli_on_a_database_not_migrated_says_so_in_one_line(create_database):
    result = _kith(["tenant", "create", "early"], await create_database())
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("kith: error:") and "run `kith migrate` first" in result.stderr


def test_embedded_database_is_reused_and_stopped_on_exit(tmp_path):
    """No DATABASE_URL: each command starts (or joins) the embedded server in KITH_DATA_DIR and stops it when done."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL", "REDIS_URL")}
    env["KITH_DATA_DIR"] = str(tmp_path / "data")

    def kith(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "kith", *args], env=env, capture_output=True, text=True, timeout=120
        )

    def server_running() -> bool:
        import psutil

        return any(
            str(tmp_path) in " ".join(p.info["cmdline"] or [])
            for p in psutil.process_iter(["cmdline", "name"])
            if p.info["name"] == "postgres"
        )

    assert kith("migrate").returncode == 0
    assert not server_running()
    created = kith("tenant", "create", "embedded")
    assert created.returncode == 0, created.stderr
    token = kith("token", "create", "--tenant", "embedded")  # a later process sees the earlier one's data
    assert token.returncode == 0 and token.stdout.startswith("kith_"), token.stderr
    assert not server_running()


def test_processes_starting_together_agree_on_one_secret_key(tmp_path):
    """Without KITH_SECRET_KEY the first process generates one; processes racing it all end up with the same."""
    env = {k: v for k, v in os.environ.items() if k != "KITH_SECRET_KEY"}
    env["KITH_DATA_DIR"] = str(tmp_path)
    code = "from kith.config import get_settings; print(get_settings().secret_key)"
    processes = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True) for _ in range(8)
    ]
    keys = {p.communicate(timeout=60)[0].strip() for p in processes}
    assert all(p.returncode == 0 for p in processes)
    assert len(keys) == 1 and len(keys.pop()) > 40
    assert [f.name for f in tmp_path.iterdir()] == ["secret_key"]
