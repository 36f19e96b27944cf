"""Tenants, their owners and tokens for the CLI: plain SQL on one asyncpg connection.

No ORM here on purpose: `kith token create` and `kith tenant create` start in a
fraction of a second because they import neither SQLAlchemy nor the models.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from kith.auth.tokens import generate_token, hash_token
from kith.readmodels.removal import drop_own_slices


class UnknownTenantError(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no tenant named {name!r} (create it with: kith tenant create {name})")


class TenantConflictError(ValueError):
    pass


class UnknownTokenError(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class TenantOwner:
    tenant_id: int
    user_id: int
    time_zone: str
    created: bool = False


_TENANT_OWNER = """
    SELECT n.id AS tenant_id, n.time_zone, u.id AS user_id
    FROM tenants n
    LEFT JOIN LATERAL (SELECT id FROM users WHERE tenant_id = n.id ORDER BY id LIMIT 1) u ON true
    WHERE n.name = $1
"""

_INSERT_TENANT = """
    INSERT INTO tenants (name, time_zone) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING id
"""

# The tenant's first user is its owner; created (as the ORM service names it) when it has none.
_ENSURE_OWNER = """
    WITH inserted AS (
        INSERT INTO users (tenant_id, email, name)
        SELECT $1, 'owner@' || $2 || '.example', $2 || ' owner'
        WHERE NOT EXISTS (SELECT 1 FROM users WHERE tenant_id = $1)
        ON CONFLICT (tenant_id, email) DO NOTHING
        RETURNING id
    )
    SELECT id FROM inserted
    UNION ALL
    (SELECT id FROM users WHERE tenant_id = $1 ORDER BY id LIMIT 1)
    LIMIT 1
"""


async def find_tenant_owner(conn: asyncpg.Connection, name: str) -> TenantOwner:
    """The tenant named `name` and its owner; UnknownTenantError when there is no such tenant."""
    row = await conn.fetchrow(_TENANT_OWNER, name)
    if row is None:
        raise UnknownTenantError(name)
    user_id = row["user_id"] or await conn.fetchval(_ENSURE_OWNER, row["tenant_id"], name)
    return TenantOwner(row["tenant_id"], user_id, row["time_zone"])


async def ensure_tenant(conn: asyncpg.Connection, name: str, time_zone: str = "UTC") -> TenantOwner:
    """The tenant and its owner, created when missing. Idempotent: the same call again returns the same ids.

    A tenant that exists with another time zone is a TenantConflictError (it is not changed silently).
    """
    async with conn.transaction():
        tenant_id = await conn.fetchval(_INSERT_TENANT, name, time_zone)
        if tenant_id is not None:
            user_id = await conn.fetchval(_ENSURE_OWNER, tenant_id, name)
            return TenantOwner(tenant_id, user_id, time_zone, created=True)
        existing = await find_tenant_owner(conn, name)
    if existing.time_zone != time_zone:
        raise TenantConflictError(f"tenant {name!r} exists with time zone {existing.time_zone} (not {time_zone})")
    return existing


async def set_skip_bulk_mail(conn: asyncpg.Connection, name: str, skip: bool) -> int:
    """Whether the tenant's imports skip mail from lists and no-reply senders; its id (UnknownTenantError if none)."""
    tenant_id = await conn.fetchval("UPDATE tenants SET skip_bulk_mail = $2 WHERE name = $1 RETURNING id", name, skip)
    if tenant_id is None:
        raise UnknownTenantError(name)
    return tenant_id


async def create_owner_token(
    conn: asyncpg.Connection,
    tenant_name: str,
    label: str | None = None,
    scopes: Sequence[str] = (),
    expires_in_days: float | None = None,
) -> str:
    """A new bearer token for the tenant's owner (only its hash is stored); UnknownTenantError if none.

    `scopes` default to all of them; `expires_in_days` None: it never expires.
    """
    async with conn.transaction():
        owner = await find_tenant_owner(conn, tenant_name)
        token = generate_token()
        await conn.execute(
            "INSERT INTO api_tokens (tenant_id, user_id, token_hash, name, scopes, expires_at)"
            " VALUES ($1, $2, $3, $4, coalesce($5::text[], '{read,write,import}'),"
            " now() + make_interval(secs => $6::float8 * 86400))",
            owner.tenant_id,
            owner.user_id,
            hash_token(token),
            label,
            list(dict.fromkeys(scopes)) or None,
            expires_in_days,
        )
    return token


async def token_is_live(conn: asyncpg.Connection, tenant_name: str, token: str) -> bool:
    """Whether `token` is an unrevoked token of that tenant (the demo reuses the one it printed before)."""
    return bool(
        await conn.fetchval(
            """
            SELECT EXISTS (
                SELECT 1 FROM api_tokens t JOIN tenants n ON n.id = t.tenant_id
                WHERE t.token_hash = $1 AND n.name = $2 AND t.revoked_at IS NULL
                  AND (t.expires_at IS NULL OR t.expires_at > now())
            )
            """,
            hash_token(token),
            tenant_name,
        )
    )


async def list_tenants(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Every tenant, by name: id, name, time zone, plan, bulk-mail setting, created_at."""
    rows = await conn.fetch(
        """
        SELECT t.id, t.name, t.time_zone, p.name AS plan, t.skip_bulk_mail, t.created_at
        FROM tenants t LEFT JOIN plans p ON p.id = t.plan_id
        ORDER BY t.name
        """
    )
    return [dict(row) for row in rows]


async def delete_tenant(conn: asyncpg.Connection, name: str) -> int:
    """Delete the tenant and everything it holds (its rows cascade, its read-model slices of its own are
    dropped), in one transaction; its id (UnknownTenantError if none)."""
    async with conn.transaction():
        tenant_id = await conn.fetchval("SELECT id FROM tenants WHERE name = $1 FOR UPDATE", name)
        if tenant_id is None:
            raise UnknownTenantError(name)
        await drop_own_slices(conn, tenant_id)
        await conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)
    return tenant_id


async def set_time_zone(conn: asyncpg.Connection, name: str, time_zone: str) -> int:
    """The tenant's time zone ("today" for birthdays and follow-ups); its id (UnknownTenantError if none)."""
    tenant_id = await conn.fetchval("UPDATE tenants SET time_zone = $2 WHERE name = $1 RETURNING id", name, time_zone)
    if tenant_id is None:
        raise UnknownTenantError(name)
    return tenant_id


async def list_tokens(conn: asyncpg.Connection, tenant_name: str) -> list[dict[str, Any]]:
    """The tenant's tokens (never the tokens themselves), oldest first."""
    async with conn.transaction():
        await find_tenant_owner(conn, tenant_name)
        rows = await conn.fetch(
            """
            SELECT t.id, t.name, t.scopes, t.created_at, t.expires_at, t.last_used_at, t.revoked_at
            FROM api_tokens t JOIN tenants n ON n.id = t.tenant_id
            WHERE n.name = $1 ORDER BY t.id
            """,
            tenant_name,
        )
    return [dict(row) for row in rows]


async def revoke_token(conn: asyncpg.Connection, token_id: int) -> None:
    """Revoke a token: its next request is a 401. Revoking it again changes nothing."""
    found = await conn.fetchval(
        "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id", token_id
    )
    if found is None:
        raise UnknownTokenError(f"no token with id {token_id}")


async def rotate_token(conn: asyncpg.Connection, token_id: int, expires_in_days: float | None = None) -> str:
    """Revoke a live token and return its replacement: same tenant, user, name and scopes; the same
    lifetime unless `expires_in_days` gives another."""
    async with conn.transaction():
        old = await conn.fetchrow(
            "SELECT tenant_id, user_id, name, scopes, created_at, expires_at, revoked_at"
            " FROM api_tokens WHERE id = $1 FOR UPDATE",
            token_id,
        )
        if old is None or old["revoked_at"] is not None:
            raise UnknownTokenError(f"no live token with id {token_id}")
        if expires_in_days is None and old["expires_at"] is not None:
            expires_in_days = (old["expires_at"] - old["created_at"]) / dt.timedelta(days=1)
        await conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = $1", token_id)
        token = generate_token()
        await conn.execute(
            "INSERT INTO api_tokens (tenant_id, user_id, token_hash, name, scopes, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::float8 * 86400))",
            old["tenant_id"],
            old["user_id"],
            hash_token(token),
            old["name"],
            old["scopes"],
            expires_in_days,
        )
    return token
