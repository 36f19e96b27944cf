from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token names one user of one tenant, and what it may do."""

    tenant_id: int
    user_id: int
    time_zone: str
    scopes: frozenset[str] = frozenset({"read", "write", "import"})
    token_id: int | None = None  # the API token (what the audit names)
