"""Request ids, metrics, compression, security headers, CORS."""

from __future__ import annotations

import re

from litestar.testing import AsyncTestClient
from tests.limits.conftest import settings_env  # noqa: F401 (fixture)

from kith.app import create_app


async def test_a_request_id_is_echoed_or_generated(client):
    assert (await client.get("/health", headers={"X-Request-ID": "abc-123"})).headers["x-request-id"] == "abc-123"
    generated = (await client.get("/health")).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    # An id that could forge log lines is replaced.
    replaced = (await client.get("/health", headers={"X-Request-ID": "x\ny" * 100})).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", replaced)


async def test_metrics_count_requests_and_their_statements(client, make_tenant):
    tenant = await make_tenant()
    for _ in range(2):
        assert (await client.get("/api/v1/contacts", headers=tenant.headers)).status_code == 200
    text = (await client.get("/metrics")).text
    assert re.search(r'kith_requests_total\{[^}]*path="/api/v1/contacts"[^}]*status_code="200"[^}]*\} [1-9]', text)
    assert re.search(r'kith_sql_statements_per_request_count\{path="/api/v1/contacts"\} [1-9]', text)
    assert "kith_request_duration_seconds_bucket{" in text
    assert re.search(r'kith_cache_requests_total\{cache="plans",result="hit"\} [1-9]', text)
    assert 'kith_sync_runs_waiting{status="queued"}' in text


async def test_metrics_count_a_refused_request_under_its_status(client, make_tenant):
    """A 401 (raised by authentication, answered by the exception handlers) counts as a 401, not a 200.
    (The metrics are the process's: other tests' requests may be in them, so the test counts the change.)"""

    async def counts() -> dict[str, float]:
        text = (await client.get("/metrics")).text
        assert not re.search(r'kith_requests_total\{[^}]*path="/metrics"', text)  # the scrape is not counted
        series = re.findall(r'kith_requests_total\{([^}]*path="/api/v1/contacts/birthdays"[^}]*)\} ([0-9.]+)', text)
        return {re.search(r'status_code="(\d+)"', labels).group(1): float(n) for labels, n in series}

    before = await counts()
    assert (await client.get("/api/v1/contacts/birthdays")).status_code == 401
    after = await counts()
    assert after.get("401", 0) == before.get("401", 0) + 1
    assert after.get("200", 0) == before.get("200", 0)


async def test_large_answers_are_compressed(client, make_tenant):
    tenant = await make_tenant()
    for i in range(30):
        await client.post("/api/v1/contacts", json={"full_name": f"Person {i}"}, headers=tenant.headers)
    for encoding in ("br", "gzip"):
        response = await client.get("/api/v1/contacts", headers={**tenant.headers, "Accept-Encoding": encoding})
        assert response.headers["content-encoding"] == encoding
        assert len(response.json()["items"]) == 30
    small = await client.get("/health", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers


async def test_security_headers(client, make_tenant):
    tenant = await make_tenant()
    response = await client.get("/api/v1/contacts", headers=tenant.headers)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    docs = await client.get("/schema/openapi.json")
    assert "content-security-policy" not in docs.headers


async def test_cors_answers_only_the_configured_origins(settings_env, db):  # noqa: F811
    settings_env(KITH_CORS_ORIGINS="https://app.example")
    async with AsyncTestClient(app=create_app(db)) as client:
        preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
        ok = await client.options("/api/v1/contacts", headers={"Origin": "https://app.example", **preflight})
        assert ok.headers["access-control-allow-origin"] == "https://app.example"
        other = await client.options("/api/v1/contacts", headers={"Origin": "https://evil.example", **preflight})
        assert other.headers.get("access-control-allow-origin") != "https://evil.example"
        response = await client.get("/health", headers={"Origin": "https://app.example"})
        assert "X-Request-ID" in response.headers["access-control-expose-headers"]
