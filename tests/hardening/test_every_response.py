"""Every response carries the security headers and a request id, errors included: a 401 from the
authentication middleware, a 404 of no route, a 405 of a wrong method, a 429 before the token is read."""

from __future__ import annotations

import pytest

SECURITY = ("x-content-type-options", "x-frame-options", "referrer-policy", "cross-origin-resource-policy")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/contacts", 401),  # no token
        ("GET", "/api/v1/no-such-listing", 404),
        ("GET", "/no/such/page", 404),
        ("DELETE", "/health", 405),
        ("PUT", "/api/v1/contacts", 405),
        ("GET", "/health", 200),
    ],
)
async def test_every_answer_carries_the_security_headers_and_a_request_id(client, method, path, status):
    response = await client.request(method, path)
    assert response.status_code == status, response.text
    assert all(name in response.headers for name in SECURITY), response.headers
    assert len(response.headers["x-request-id"]) >= 16
    if path.startswith("/api/"):
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
    echoed = await client.request(method, path, headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    assert [name for name, _ in echoed.headers.multi_items()].count("x-request-id") == 1
