"""Idempotency-Key on POST /contacts and POST /sync/{source}: a retry returns the first response (status, body,
Location) and creates nothing; the same key with another request is a 422; keys are per tenant and expire."""

from __future__ import annotations

import asyncio

import pytest

VCARD = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada\r\nEMAIL:ada@example.org\r\nEND:VCARD\r\n"


async def count(conn, table: str, tenant_id: int) -> int:
    return await conn.fetchval(f"SELECT count(*) FROM {table} WHERE tenant_id = $1", tenant_id)


async def test_a_retried_contact_create_returns_the_first_response(client, conn, make_tenant):
    tenant = await make_tenant()
    headers = {**tenant.headers, "Idempotency-Key": "create-ada-1"}
    first = await client.post("/api/v1/contacts", json={"full_name": "Ada"}, headers=headers)
    again = await client.post("/api/v1/contacts", json={"full_name": "Ada"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert await count(conn, "contacts", tenant.id) == 1
    # Without a key, or with another, a POST creates again.
    await client.post("/api/v1/contacts", json={"full_name": "Ada"}, headers=tenant.headers)
    await client.post("/api/v1/contacts", json={"full_name": "Ada"}, headers={**headers, "Idempotency-Key": "k2"})
    assert await count(conn, "contacts", tenant.id) == 3


async def test_the_same_key_with_another_request_is_a_422(client, conn, make_tenant):
    tenant = await make_tenant()
    headers = {**tenant.headers, "Idempotency-Key": "k"}
    await client.post("/api/v1/contacts", json={"full_name": "Ada"}, headers=headers)
    other = await client.post("/api/v1/contacts", json={"full_name": "Grace"}, headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    upload = await client.post("/api/v1/sync/vcard", content=VCARD, headers={**headers, "Content-Type": "text/vcard"})
    assert upload.status_code == 422
    assert await count(conn, "contacts", tenant.id) == 1
    assert await count(conn, "sync_runs", tenant.id) == 0


async def test_keys_are_per_tenant(client, conn, make_tenant):
    one, two = await make_tenant(), await make_tenant()
    for tenant in (one, two):
        response = await client.post(
            "/api/v1/contacts", json={"full_name": "Ada"}, headers={**tenant.headers, "Idempotency-Key": "same"}
        )
        assert response.status_code == 201 and "idempotent-replayed" not in response.headers
    assert await count(conn, "contacts", one.id) == await count(conn, "contacts", two.id) == 1


async def test_a_failed_request_stores_nothing_and_its_retry_runs(client, conn, make_tenant):
    tenant = await make_tenant()
    headers = {**tenant.headers, "Idempotency-Key": "retry-me"}
    bad = await client.post("/api/v1/contacts", json={"full_name": "Ada", "birthday": "--02-30"}, headers=headers)
    assert bad.status_code == 400
    assert await conn.fetchval("SELECT count(*) FROM idempotency_keys WHERE tenant_id = $1", tenant.id) == 0


async def test_a_retried_upload_returns_the_first_run_and_queues_nothing(client, conn, make_tenant):
    tenant = await make_tenant()
    headers = {**tenant.headers, "Idempotency-Key": "upload-1", "Content-Type": "text/vcard"}
    first = await client.post("/api/v1/sync/vcard?days_back=30", content=VCARD, headers=headers)
    again = await client.post("/api/v1/sync/vcard?days_back=30", content=VCARD, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await count(conn, "sync_runs", tenant.id) == 1
    other_query = await client.post("/api/v1/sync/vcard?days_back=31", content=VCARD, headers=headers)
    assert other_query.status_code == 422


async def test_concurrent_retries_create_once(client, conn, make_tenant):
    tenant = await make_tenant()
    headers = {**tenant.headers, "Idempotency-Key": "race"}
    responses = await asyncio.gather(
        *(client.post("/api/v1/contacts", json={"full_name": "Ada"}, headers=headers) for _ in range(5))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count(conn, "contacts", tenant.id) == 1


async def test_an_expired_key_is_a_new_request(client, conn, make_tenant):
    tenant = await make_tenant()
    headers = {**tenant.headers, "Idempotency-Key": "old"}
    await client.post("/api/v1/contacts", json={"full_name": "Ada"}, headers=headers)
    await conn.execute("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'")
    again = await client.post("/api/v1/contacts", json={"full_name": "Grace"}, headers=headers)
    assert again.status_code == 201 and again.json()["full_name"] == "Grace"
    assert await count(conn, "contacts", tenant.id) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve".encode()])
async def test_a_malformed_key_is_a_400(client, make_tenant, key):
    tenant = await make_tenant()
    response = await client.post(
        "/api/v1/contacts", json={"full_name": "Ada"}, headers={**tenant.headers, "Idempotency-Key": key}
    )
    assert response.status_code == 400, response.text
