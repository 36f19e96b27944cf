"""Text PostgreSQL refuses, in a query string or a JSON body, and JSON nested without bound: a 400/422
problem document, never a 500, and nothing written."""

from __future__ import annotations

import pytest

PROBLEM = "application/problem+json"


@pytest.fixture
async def tenant(make_tenant):
    return await make_tenant()


async def contacts_of(conn, tenant_id: int) -> int:
    return await conn.fetchval("SELECT count(*) FROM contacts WHERE tenant_id = $1", tenant_id)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/contacts?q=a%00b",
        "/api/v1/contacts?tag=%00",
        "/api/v1/contacts?company=Acme%00",
        "/api/v1/contacts?cursor=%00",
        "/api/v1/contacts?q=%ED%A0%80",  # a lone surrogate, UTF-8 encoded
        "/api/v1/contacts?q=%FF%FE",  # not UTF-8
        "/api/v1/sync/runs?limit=1%00",
    ],
)
async def test_query_strings_postgresql_refuses_are_400(client, tenant, url):
    response = await client.get(url, headers=tenant.headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)


@pytest.mark.parametrize(
    "body",
    [
        {"full_name": "Nul\u0000Name"},
        {"full_name": "A", "notes": "x\u0000"},
        {"full_name": "A", "company": "\u0000"},
        {"full_name": "A", "tags": ["ok", "t\u0000"]},
        {"full_name": "A", "emails": ["a\u0000@b.c"]},
    ],
)
async def test_json_strings_with_nul_are_400(client, conn, tenant, body):
    created = await client.post("/api/v1/contacts", json=body, headers=tenant.headers)
    assert created.status_code == 400, created.text
    assert created.headers["content-type"].startswith(PROBLEM)
    assert await contacts_of(conn, tenant.id) == 0

    ok = await client.post("/api/v1/contacts", json={"full_name": "Fine"}, headers=tenant.headers)
    patched = await client.patch(f"/api/v1/contacts/{ok.json()['id']}", json=body, headers=tenant.headers)
    assert patched.status_code == 400, patched.text
    assert (await client.get(f"/api/v1/contacts/{ok.json()['id']}", headers=tenant.headers)).json() == ok.json()


async def test_a_lone_surrogate_escape_in_a_json_body_is_4xx(client, conn, tenant):
    body = b'{"full_name": "Bad\\ud800Name"}'
    response = await client.post(
        "/api/v1/contacts", content=body, headers={**tenant.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert await contacts_of(conn, tenant.id) == 0


def nested(depth: int, inner: bytes = b"1") -> bytes:
    return b"[" * depth + inner + b"]" * depth


@pytest.mark.parametrize(
    "body",
    [
        nested(1_000),
        nested(100_000),
        b'{"full_name": "A", "notes": ' + nested(5_000) + b"}",
        b'{"full_name": "A", "unknown": ' + nested(5_000, b'{"a":1}') + b"}",
        b'{"a":' * 3_000 + b"1" + b"}" * 3_000,
    ],
)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_deeply_nested_json_is_4xx(client, conn, tenant, body, method):
    ok = await client.post("/api/v1/contacts", json={"full_name": "Fine"}, headers=tenant.headers)
    url = "/api/v1/contacts" if method == "POST" else f"/api/v1/contacts/{ok.json()['id']}"
    headers = {**tenant.headers, "Content-Type": "application/json"}
    response = await client.request(method, url, content=body, headers=headers)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert await contacts_of(conn, tenant.id) == 1


@pytest.mark.parametrize("body", [nested(1_000), nested(100_000), b"[" + nested(5_000, b'{"first_name":"A"}') + b"]"])
async def test_deeply_nested_linkedin_push_is_4xx(client, conn, tenant, body):
    headers = {**tenant.headers, "Content-Type": "application/json"}
    response = await client.post("/api/v1/sync/linkedin", content=body, headers=headers)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert await conn.fetchval("SELECT count(*) FROM sync_runs WHERE tenant_id = $1", tenant.id) == 0
