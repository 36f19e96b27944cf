"""Alembic environment: async engine on the database Kith is configured for."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from kith.db.engine import database_url
from kith.db.urls import sqlalchemy_url
from kith.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    # Callers (tests, `kith migrate`) may pass the URL explicitly.
    return config.attributes.get("database_url") or database_url()


def run_migrations_offline() -> None:
    context.configure(url=sqlalchemy_url(_url()), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        await connection.run_sync(_run_sync)
        return
    engine = create_async_engine(sqlalchemy_url(_url()))
    async with engine.connect() as conn:
        await conn.run_sync(_run_sync)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
