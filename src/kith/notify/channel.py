from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

CHANNEL = "kith_events"

_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


async def publish(conn: AsyncConnection | AsyncSession, kind: str, **fields: Any) -> None:
    """Announce a change; listeners receive it when the caller's transaction commits."""
    payload = msgspec.json.encode({"kind": kind, **fields}).decode()
    await conn.execute(_NOTIFY, {"channel": CHANNEL, "payload": payload})
