from __future__ import annotations

import pytest
from litestar import Litestar

from kith.app import create_app
from kith.config import get_settings


@pytest.fixture
def page_cache_on(monkeypatch) -> None:
    monkeypatch.setenv("KITH_PAGE_CACHE_BYTES", str(16 * 1024 * 1024))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
async def app(db: str, page_cache_on) -> Litestar:
    return create_app(db)
