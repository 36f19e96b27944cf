"""Tenants, users and their tokens (used by the CLI and the tests)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kith.auth.accounts import UnknownTenantError
from kith.auth.tokens import generate_token, hash_token
from kith.models import ALL_SCOPES, ApiToken, Tenant, User


class UnknownTokenError(LookupError):
    pass


async def get_or_create_tenant(session: AsyncSession, name: str, time_zone: str = "UTC") -> Tenant:
    tenant = await session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        tenant = Tenant(name=name, time_zone=time_zone)
        session.add(tenant)
        await session.flush()
    return tenant


async def get_or_create_owner(session: AsyncSession, tenant: Tenant) -> User:
    """The tenant's first user (created as `owner@<tenant>` when it has none)."""
    user = await session.scalar(select(User).where(User.tenant_id == tenant.id).order_by(User.id).limit(1))
    if user is None:
        user = User(tenant_id=tenant.id, email=f"owner@{tenant.name}.example", name=f"{tenant.name} owner")
        session.add(user)
        await session.flush()
    return user


async def _tenant(session: AsyncSession, tenant_name: str) -> Tenant:
    tenant = await session.scalar(select(Tenant).where(Tenant.name == tenant_name))
    if tenant is None:
        raise UnknownTenantError(tenant_name)
    return tenant


def _expiry(expires_in_days: float | None) -> dt.datetime | None:
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_in_days) if expires_in_days is not None else None


async def create_token(
    session: AsyncSession,
    tenant_name: str,
    token_name: str | None = None,
    *,
    scopes: Sequence[str] = ALL_SCOPES,
    expires_in_days: float | None = None,
) -> str:
    """A new bearer token for the tenant's owner; only its hash is stored."""
    tenant = await _tenant(session, tenant_name)
    user = await get_or_create_owner(session, tenant)
    token = generate_token()
    session.add(
        ApiToken(
            tenant_id=tenant.id,
            user_id=user.id,
            token_hash=hash_token(token),
            name=token_name,
            scopes=list(dict.fromkeys(scopes)),
            expires_at=_expiry(expires_in_days),
        )
    )
    await session.flush()
    return token


async def list_tokens(session: AsyncSession, tenant_name: str) -> list[dict[str, Any]]:
    """The tenant's tokens (never the tokens themselves), oldest first."""
    tenant = await _tenant(session, tenant_name)
    rows = await session.scalars(select(ApiToken).where(ApiToken.tenant_id == tenant.id).order_by(ApiToken.id))
    return [
        {
            "id": t.id,
            "name": t.name,
            "scopes": t.scopes,
            "created_at": t.created_at,
            "expires_at": t.expires_at,
            "last_used_at": t.last_used_at,
            "revoked_at": t.revoked_at,
        }
        for t in rows
    ]


async def revoke_token(session: AsyncSession, token_id: int) -> None:
    """Revoke a token: its next request is a 401. Revoking it again changes nothing."""
    found = await session.scalar(
        update(ApiToken)
        .where(ApiToken.id == token_id)
        .values(revoked_at=func.coalesce(ApiToken.revoked_at, func.now()))
        .returning(ApiToken.id)
    )
    if found is None:
        raise UnknownTokenError(f"no token with id {token_id}")


async def rotate_token(session: AsyncSession, token_id: int, expires_in_days: float | None = None) -> str:
    """Revoke a live token and return its replacement: same tenant, user, name and scopes; the same
    lifetime unless `expires_in_days` gives another."""
    old = await session.scalar(select(ApiToken).where(ApiToken.id == token_id).with_for_update())
    if old is None or old.revoked_at is not None:
        raise UnknownTokenError(f"no live token with id {token_id}")
    if expires_in_days is None and old.expires_at is not None:
        expires_in_days = (old.expires_at - old.created_at) / dt.timedelta(days=1)
    old.revoked_at = dt.datetime.now(dt.UTC)
    token = generate_token()
    session.add(
        ApiToken(
            tenant_id=old.tenant_id,
            user_id=old.user_id,
            token_hash=hash_token(token),
            name=old.name,
            scopes=old.scopes,
            expires_at=_expiry(expires_in_days),
        )
    )
    await session.flush()
    return token
