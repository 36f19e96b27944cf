"""`kith serve` runs create_served_app: what start-up made is frozen out of the garbage collector's reach
(kith.app); the apps tests make (create_app) freeze nothing, or each test's garbage would stay."""

from __future__ import annotations

import gc

from litestar.testing import AsyncTestClient

from kith.app import create_app, create_served_app


async def test_the_served_app_freezes_what_start_up_made(db: str, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db)
    gc.unfreeze()
    try:
        async with AsyncTestClient(app=create_app(db)) as client:
            assert (await client.get("/health")).status_code == 200
            assert gc.get_freeze_count() == 0
        async with AsyncTestClient(app=create_served_app()) as client:
            assert (await client.get("/health")).status_code == 200
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
