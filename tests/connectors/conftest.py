"""Fakes of Google, GitHub and X (tests/fakes/) on local ports, and Kith's settings
pointed at them."""

from __future__ import annotations

import pytest
from tests.fakes.github import FakeGitHub
from tests.fakes.google import FakeGoogle
from tests.fakes.server import serving
from tests.fakes.x import FakeX

from kith.config import get_settings
from kith.connectors.service import connect_with_refresh_token


@pytest.fixture
def google(monkeypatch):
    fake = FakeGoogle()
    with serving(fake.app()) as url:
        for name, value in {
            "KITH_GOOGLE_CLIENT_ID": fake.client_id,
            "KITH_GOOGLE_CLIENT_SECRET": fake.client_secret,
            "KITH_GOOGLE_AUTH_URL": f"{url}/o/oauth2/v2/auth",
            "KITH_GOOGLE_TOKEN_URL": f"{url}/token",
            "KITH_GMAIL_API_URL": url,
            "KITH_PEOPLE_API_URL": url,
            "KITH_CALENDAR_API_URL": url,
            "KITH_CONNECTOR_RETRY_DELAY": "0.01",
            "KITH_CONNECTOR_MAX_RETRIES": "4",
        }.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        fake.url = url
        yield fake
    get_settings.cache_clear()


@pytest.fixture
def connect(engine, google):
    """`await connect(tenant)`: a Google connection made with a refresh token; its first sync has run (in-process)."""

    async def make(tenant, refresh_token: str | None = None, days_back: int | None = None) -> int:
        token = refresh_token or google.grant()
        return await connect_with_refresh_token(engine, tenant.id, tenant.user_id, token, days_back)

    return make


@pytest.fixture
def github(monkeypatch):
    """A fake GitHub on a local port, Kith's KITH_GITHUB_API_URL pointed at it."""
    fake = FakeGitHub()
    with serving(fake.app()) as url:
        fake.url = url
        for name, value in {
            "KITH_GITHUB_API_URL": url,
            "KITH_CONNECTOR_RETRY_DELAY": "0.01",
            "KITH_CONNECTOR_MAX_RETRIES": "4",
        }.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        yield fake
    get_settings.cache_clear()


@pytest.fixture
def x(monkeypatch):
    """A fake X on a local port, Kith's KITH_X_API_URL and X app pointed at it."""
    fake = FakeX()
    with serving(fake.app()) as url:
        for name, value in {
            "KITH_X_API_URL": url,
            "KITH_X_CLIENT_ID": fake.client_id,
            "KITH_X_CLIENT_SECRET": fake.client_secret,
            "KITH_CONNECTOR_RETRY_DELAY": "0.01",
            "KITH_CONNECTOR_MAX_RETRIES": "4",
        }.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        yield fake
    get_settings.cache_clear()
