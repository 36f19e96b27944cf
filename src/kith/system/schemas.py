from __future__ import annotations

import msgspec


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str
    database: str
    migration: str | None
    expected_migration: str | None
    # The job queue's Redis ("ok" or why not); absent when jobs run in-process (no REDIS_URL).
    redis: str | msgspec.UnsetType = msgspec.UNSET
