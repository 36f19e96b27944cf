from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import httpx
import pytest

from kith.config import get_settings


@pytest.fixture
def settings_env(monkeypatch) -> Callable[..., None]:
    """`settings_env(KITH_X="1")`: environment settings for the app the test creates next."""

    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield apply
    get_settings.cache_clear()


async def put_on_plan(conn: asyncpg.Connection, tenant_id: int, **limits) -> int:
    """A plan of its own for the tenant: the default plan's values, overridden by `limits`."""
    plan_id = await conn.fetchval(
        """INSERT INTO plans (name, requests_per_minute, max_contacts, max_upload_bytes,
                               max_uploads_in_flight, max_queued_runs, connectors)
            SELECT 'plan-' || $1, requests_per_minute, max_contacts, max_upload_bytes,
                   max_uploads_in_flight, max_queued_runs, connectors
            FROM plans WHERE is_default RETURNING id""",
        str(tenant_id),
    )
    if limits:
        assignments = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(limits))
        await conn.execute(f"UPDATE plans SET {assignments} WHERE id = $1", plan_id, *limits.values())
    await conn.execute("UPDATE tenants SET plan_id = $1 WHERE id = $2", plan_id, tenant_id)
    return plan_id


async def eventually(predicate: Callable[[], object], seconds: float = 5) -> None:
    for _ in range(int(seconds / 0.02)):
        if await predicate() if asyncio.iscoroutinefunction(predicate) else predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def until_serving(client: httpx.AsyncClient, url: str = "/health", seconds: float = 60) -> None:
    """Wait until a server just started (`kith serve` in a subprocess) answers `url` with a 200."""

    async def up() -> bool:
        try:
            return (await client.get(url)).status_code == 200
        except httpx.TransportError:
            return False

    await eventually(up, seconds=seconds)
