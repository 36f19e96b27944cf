from __future__ import annotations

import msgspec

from kith.db.replicas import ReplicaState


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str
    database: str
    migration: str | None
    expected_migration: str | None
    # The job queue's Redis ("ok" or why not); absent when jobs run in-process (no REDIS_URL).
    redis: str | msgspec.UnsetType = msgspec.UNSET
    # Each read replica as this process last checked it (KITH_READ_REPLICA_URLS); absent without replicas.
    # A replica out of rotation leaves the API ready: its reads go to the primary.
    replicas: list[ReplicaState] | msgspec.UnsetType = msgspec.UNSET
