"""Known tokens: every request of a token a process verified is authenticated without a query, and a
revoked token is refused by every process on its very next request (two real `kith serve` processes)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import httpx
from tests.limits.conftest import eventually

from kith.auth.accounts import revoke_token
from kith.db.session import raw_connection

CONTACTS = "/api/v1/contacts"


def serve(db: str, tmp_path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "DATABASE_URL": db, "KITH_DATA_DIR": str(tmp_path), "KITH_LIMITS_STORE": "memory"}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "kith", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return server, f"http://127.0.0.1:{port}"


def token_hits(metrics: httpx.Response) -> float:
    line = next(
        (
            line
            for line in metrics.text.splitlines()
            if line.startswith("kith_cache_requests_total{") and 'cache="tokens"' in line and 'result="hit"' in line
        ),
        None,
    )
    return float(line.rsplit(" ", 1)[1]) if line else 0.0


async def test_a_known_token_costs_no_statement(client, make_tenant, statements):
    tenant = await make_tenant()
    assert (await client.get("/api/v1/sync/runs", headers=tenant.headers)).status_code == 200
    statements.reset()
    assert (await client.get("/api/v1/sync/runs", headers=tenant.headers)).status_code == 200
    assert not [s for s in statements.statements if "api_tokens" in s]


async def test_a_revoked_token_is_refused_at_once_by_every_process(db, conn, make_tenant, tmp_path):
    tenant = await make_tenant()
    token_id = await conn.fetchval("SELECT id FROM api_tokens WHERE tenant_id = $1", tenant.id)
    servers = [serve(db, tmp_path / str(i)) for i in range(2)]
    try:
        async with httpx.AsyncClient(timeout=30) as client:

            async def known_everywhere() -> bool:
                try:
                    statuses = [
                        (await client.get(base + CONTACTS, headers=tenant.headers)).status_code for _, base in servers
                    ]
                except httpx.TransportError:
                    return False
                return statuses == [200, 200]

            await eventually(known_everywhere, seconds=60)
            for _, base in servers:  # each process now authenticates the token from memory

                async def served_from_memory(base=base) -> bool:
                    await client.get(base + CONTACTS, headers=tenant.headers)
                    return token_hits(await client.get(base + "/metrics")) > 0

                await eventually(served_from_memory)
            async with raw_connection(db) as conn:
                await revoke_token(conn, token_id)
            statuses = [(await client.get(base + CONTACTS, headers=tenant.headers)).status_code for _, base in servers]
    finally:
        for server, _ in servers:
            server.terminate()
            server.wait(timeout=30)
    assert statuses == [401, 401]
