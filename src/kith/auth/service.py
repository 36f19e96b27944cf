"""Tenants, users and their tokens (used by the CLI and the tests)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kith.auth.accounts import UnknownTenantError
from kith.auth.tokens import generate_token, hash_token
from kith.models import ALL_SCOPES, ApiToken, Tenant, User


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
