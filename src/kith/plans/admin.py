"""Plans from the command line (`kith plan …`, `kith tenant set-plan`): plain SQL on one asyncpg connection.

The triggers of migration 0005 announce every change on the notification channel, so each API process
drops its cached plan at once, whoever made the change (this module or an `UPDATE` by hand).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import asyncpg


class PlanError(ValueError):
    """A plan command that cannot be done as asked (one line for the CLI)."""


@dataclass(frozen=True, slots=True)
class PlanLimits:
    """What a plan sets; None on a field means "leave as it is" when changing a plan."""

    requests_per_minute: int | None = None
    max_contacts: int | None = None
    max_upload_bytes: int | None = None
    max_uploads_in_flight: int | None = None
    max_queued_runs: int | None = None
    connectors: tuple[str, ...] | None = None


# A new plan starts from the default plan's values for what it does not set.
_COLUMNS = [f.name for f in fields(PlanLimits)]

_LIST = f"""
    SELECT p.name, p.is_default, {", ".join(f"p.{c}" for c in _COLUMNS)},
           (SELECT count(*) FROM tenants t WHERE t.plan_id = p.id OR (t.plan_id IS NULL AND p.is_default)) AS tenants
    FROM plans p ORDER BY p.is_default DESC, p.name
"""

_CREATE = f"""
    INSERT INTO plans (name, {", ".join(_COLUMNS)})
    SELECT $1, {", ".join(f"coalesce(${i + 2}, d.{c})" for i, c in enumerate(_COLUMNS))}
    FROM plans d WHERE d.is_default
    ON CONFLICT (name) DO NOTHING
    RETURNING id
"""

_SET_TENANT_PLAN = """
    UPDATE tenants SET plan_id = (SELECT id FROM plans WHERE name = $2) WHERE name = $1
    RETURNING plan_id
"""


async def list_plans(conn: asyncpg.Connection) -> list[dict]:
    """Every plan, the default first, with how many tenants are on it."""
    return [dict(row) for row in await conn.fetch(_LIST)]


async def create_plan(conn: asyncpg.Connection, name: str, limits: PlanLimits) -> int:
    """A new plan (unset limits copied from the default plan); its id. An existing name is a PlanError."""
    values = [_column_value(limits, c) for c in _COLUMNS]
    try:
        plan_id = await conn.fetchval(_CREATE, name, *values)
    except asyncpg.CheckViolationError:
        raise PlanError("limits must be positive") from None
    if plan_id is None:
        raise PlanError(f"a plan named {name!r} exists already (change it with: kith plan set {name} …)")
    return plan_id


async def set_plan(conn: asyncpg.Connection, name: str, limits: PlanLimits, *, no_contact_limit: bool = False) -> int:
    """Change the given limits of a plan; its id. `no_contact_limit` lifts max_contacts (NULL)."""
    changes = {c: _column_value(limits, c) for c in _COLUMNS if getattr(limits, c) is not None}
    if no_contact_limit:
        changes["max_contacts"] = None
    if not changes:
        raise PlanError("nothing to change: give at least one limit")
    assignments = ", ".join(f"{column} = ${i + 2}" for i, column in enumerate(changes))
    try:
        plan_id = await conn.fetchval(
            f"UPDATE plans SET {assignments}, updated_at = now() WHERE name = $1 RETURNING id", name, *changes.values()
        )
    except asyncpg.CheckViolationError:
        raise PlanError("limits must be positive") from None
    if plan_id is None:
        raise PlanError(f"no plan named {name!r} (see: kith plan list)")
    return plan_id


async def set_tenant_plan(conn: asyncpg.Connection, tenant: str, plan: str) -> int:
    """Put a tenant on a plan; the plan's id."""
    if await conn.fetchval("SELECT id FROM plans WHERE name = $1", plan) is None:
        raise PlanError(f"no plan named {plan!r} (see: kith plan list)")
    plan_id = await conn.fetchval(_SET_TENANT_PLAN, tenant, plan)
    if plan_id is None:
        raise PlanError(f"no tenant named {tenant!r} (create it with: kith tenant create {tenant})")
    return plan_id


def _column_value(limits: PlanLimits, column: str):
    value = getattr(limits, column)
    return list(value) if isinstance(value, tuple) else value
