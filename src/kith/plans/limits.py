from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PlanLimits:
    plan_id: int
    name: str
    requests_per_minute: int
    max_contacts: int | None  # None: no limit
    max_upload_bytes: int
    max_uploads_in_flight: int
    max_queued_runs: int
    connectors: frozenset[str]
