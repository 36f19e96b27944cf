from __future__ import annotations

import msgspec


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str
    database: str
    migration: str | None
    expected_migration: str | None
